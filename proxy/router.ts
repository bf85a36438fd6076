import { addressKey } from './config/address.js';
import type { Address, LocationConfig, ProxyConfig, ServerConfig } from './config/types.js';

/**
 * The virtual hosts sharing one listening address, and nginx's choice among them: the server
 * whose `server_name` equals the Host, else the `default_server`, else the first one listed.
 * (Wildcard and regex names come with the routing issue.)
 */
export class VirtualHosts {
  private readonly byName = new Map<string, ServerConfig>();

  constructor(
    readonly servers: readonly ServerConfig[],
    private readonly fallback: ServerConfig,
  ) {
    for (const server of servers) {
      for (const name of server.serverNames) if (!this.byName.has(name)) this.byName.set(name, server);
    }
  }

  match(host: string | undefined): ServerConfig {
    if (this.byName.size === 0) return this.fallback;
    return this.byName.get(hostName(host)) ?? this.fallback;
  }
}

/** Host header → name as nginx compares it: lower case, no port, no trailing dot. */
export function hostName(host: string | undefined): string {
  if (!host) return '';
  let name = host.toLowerCase();
  if (name.startsWith('[')) {
    const end = name.indexOf(']');
    return end > 0 ? name.slice(0, end + 1) : name;
  }
  const colon = name.indexOf(':');
  if (colon >= 0) name = name.slice(0, colon);
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

export interface ListenGroup {
  address: Address;
  hosts: VirtualHosts;
}

/** Groups the servers of a config by listening address (`8080` and `0.0.0.0:8080` are one). */
export function listenGroups(config: ProxyConfig): ListenGroup[] {
  const grouped = new Map<string, { address: Address; servers: ServerConfig[]; fallback: ServerConfig | null }>();
  for (const server of config.servers) {
    for (const listen of server.listen) {
      const key = addressKey(listen.address);
      let entry = grouped.get(key);
      if (!entry) grouped.set(key, (entry = { address: listen.address, servers: [], fallback: null }));
      entry.servers.push(server);
      if (listen.defaultServer) entry.fallback = server;
    }
  }
  return [...grouped.values()].map(({ address, servers, fallback }) => ({
    address,
    hosts: new VirtualHosts(servers, fallback ?? servers[0]!),
  }));
}

/**
 * nginx's location choice, for the kinds supported so far: an `=` location equal to the path
 * wins at once; otherwise the longest matching prefix.
 */
export function matchLocation(server: ServerConfig, path: string): LocationConfig | null {
  let best: LocationConfig | null = null;
  for (const location of server.locations) {
    if (location.modifier === '=') {
      if (location.uri === path) return location;
      continue;
    }
    if (path.startsWith(location.uri) && (!best || location.uri.length > best.uri.length)) best = location;
  }
  return best;
}
