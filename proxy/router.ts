/**
 * Routing a request, as nginx does: the listening address picks a group of servers, the Host
 * picks a server among them (server-names.ts), the path picks a location (locations.ts).
 */
import { isIP } from 'node:net';
import { addressKey } from './config/address.js';
import type { Address, LocationConfig, ProxyConfig, ServerConfig } from './config/types.js';
import { LocationTree } from './locations.js';
import { ServerNameTable, normalizeHost, parseServerName } from './server-names.js';

/**
 * The virtual hosts sharing one listening address, and nginx's choice among them: exact name,
 * longest leading wildcard, longest trailing wildcard, first matching regex (config order), else
 * the `default_server` of the address (the fallback), else the first server listed.
 */
export class VirtualHosts {
  private readonly names = new ServerNameTable<ServerConfig>();

  constructor(
    readonly servers: readonly ServerConfig[],
    /** The default server of the address: also the one whose connection limits apply. */
    readonly fallback: ServerConfig,
  ) {
    for (const server of servers) {
      // The config was validated when loaded: every name parses.
      for (const name of server.serverNames) this.names.add(parseServerName(name), server);
    }
  }

  match(host: string | undefined): ServerConfig {
    if (this.names.size === 0) return this.fallback;
    return this.names.match(hostName(host)) ?? this.fallback;
  }
}

/** Host header → name as nginx compares it: lower case, no port, no trailing dot. */
export function hostName(host: string | undefined): string {
  return normalizeHost(host);
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

/** A socket to bind, and the virtual hosts for a connection by the local address it came to. */
export interface Binding {
  address: Address;
  /** The servers listening on the bound address itself: their default server's limits are the socket's. */
  own: VirtualHosts;
  hosts(localAddress: string | undefined): VirtualHosts;
}

/**
 * What to bind so that nginx configs that listen on a wildcard and on a specific address of the
 * same port work (`listen 80;` in one server, `listen 127.0.0.1:80;` in another): like nginx,
 * only the wildcard (0.0.0.0 or ::) is bound, and a connection whose local address is one of the
 * specific ones is served by the servers listening there, the others by the wildcard's servers.
 * (Binding both fails on Linux with EADDRINUSE.) Only IP literals are folded in; a host name
 * (`localhost:80`) keeps its own socket. For `[::]:80` beside `80`, bind `::` with ipv6Only, as
 * nginx does (ipv6only=on), or the two sockets collide. Port 0 is a port like another: `0.0.0.0:0`
 * and `127.0.0.1:0` are one socket on the port the OS chooses.
 */
export function bindings(config: ProxyConfig): Binding[] {
  const groups = listenGroups(config);
  const wildcards = new Map<string, Map<string, VirtualHosts>>();
  for (const { address } of groups) {
    if (address.kind === 'tcp' && isWildcard(address.host)) wildcards.set(familyPort(address.host, address.port), new Map());
  }
  const bound: Array<{ address: Address; own: VirtualHosts; specific?: Map<string, VirtualHosts> }> = [];
  for (const { address, hosts } of groups) {
    const family = address.kind === 'tcp' && !isWildcard(address.host) && isIP(address.host) ? familyPort(address.host, address.port) : '';
    const specific = wildcards.get(family);
    if (specific && address.kind === 'tcp') specific.set(canonicalIp(address.host), hosts);
    else bound.push({ address, own: hosts, specific: address.kind === 'tcp' ? wildcards.get(familyPort(address.host, address.port)) : undefined });
  }
  return bound.map(({ address, own, specific }) => ({
    address,
    own,
    hosts: specific?.size ? (local) => (local === undefined ? undefined : specific.get(canonicalIp(local))) ?? own : () => own,
  }));
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || (isIP(host) === 6 && canonicalIp(host) === '::');
}

function familyPort(host: string, port: number): string {
  return `${isIP(host)}:${port}`;
}

/** IPv6 in its canonical text (as Node reports local addresses); IPv4 as it is. */
function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

const trees = new WeakMap<ServerConfig, LocationTree>();

/**
 * nginx's location choice for `path` (the percent-decoded request path) among the server's
 * locations and their nested ones (see locations.ts); null when none matches. A location
 * with `return` (including nginx's trailing-slash 301, see LocationConfig.slashRedirect) must
 * be answered with returnResponse (return.ts) instead of being passed to its upstream. The
 * server's own `return` is not looked at here: it applies before any location.
 */
export function matchLocation(server: ServerConfig, path: string): LocationConfig | null {
  let tree = trees.get(server);
  if (!tree) trees.set(server, (tree = new LocationTree(server.locations)));
  return tree.match(path);
}
