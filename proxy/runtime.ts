import type { Logger } from 'pino';
import { DEFAULTS, formatAddress } from '../protocol/index.js';
import type { Address, ProxyConfig } from './config/types.js';
import { addressKey } from './config/address.js';
import { Listener, boundLabel } from './listener.js';
import { bindings } from './router.js';
import { UpstreamGroup } from './upstream/group.js';
import { UpstreamServer } from './upstream/server.js';

/**
 * Windows and frame size the proxy announces to runners (SPEC.md §3): the protocol's default
 * window (a response window then grows while its client keeps up, see stream.ts), and frames
 * of 256 KiB so that a large body takes few frames and reads.
 */
const LIMITS = { maxFrameSize: 256 * 1024, initialWindow: DEFAULTS.initialWindow };

/** How long a graceful stop waits for requests in flight before cutting them. */
const STOP_GRACE_MS = 30_000;

/**
 * A running proxy: its listening sockets and upstream groups, built from one config and rebuilt
 * by `reload` without closing a listening socket that the new config still uses.
 */
export class ProxyRuntime {
  private servers = new Map<string, UpstreamServer>();
  private groups = new Map<string, UpstreamGroup>();
  private readonly listeners = new Map<string, Listener>();

  private constructor(private readonly log: Logger) {}

  static async start(config: ProxyConfig, log: Logger): Promise<ProxyRuntime> {
    const runtime = new ProxyRuntime(log);
    try {
      await runtime.apply(config);
    } catch (err) {
      await runtime.stop();
      throw err;
    }
    return runtime;
  }

  /**
   * SIGHUP: the new routes take the requests that arrive from now on; requests in flight finish
   * on the old ones (their runner connections close once idle); listening sockets the new config
   * keeps stay open, so no connection is refused during the switch.
   */
  async reload(config: ProxyConfig): Promise<void> {
    await this.apply(config);
  }

  /**
   * Makes `config` the running one. New listening sockets are bound first: if one cannot be,
   * they are closed again and the error thrown, with the running routes untouched.
   */
  private async apply(config: ProxyConfig): Promise<void> {
    const { groups, servers, created } = buildGroups(config, this.log, this.servers);
    for (const [name, group] of groups) {
      const previous = this.groups.get(name);
      if (previous) group.inheritHealth(previous);
    }
    const wanted = bindings(config).map((binding) => ({ key: addressKey(binding.address), routes: { binding, groups, log: this.log } }));
    const started = new Map<string, Listener>();
    try {
      for (const entry of wanted) {
        if (this.listeners.has(entry.key)) continue;
        const listener = await Listener.start(entry.routes, { multiAccept: config.multiAccept });
        // Known by the port actually bound, so a reloaded config naming that port finds it.
        entry.key = listener.boundKey(entry.key);
        started.set(entry.key, listener);
      }
    } catch (err) {
      await Promise.all([...started.values()].map((l) => l.stop(0)));
      for (const server of created) server.destroy();
      throw err;
    }
    for (const { key, routes } of wanted) this.listeners.get(key)?.reroute(routes);
    for (const [key, listener] of started) this.listeners.set(key, listener);
    for (const group of groups.values()) group.warm();
    for (const group of this.groups.values()) group.stopHealthChecks();
    for (const group of groups.values()) group.startHealthChecks();
    const keep = new Set(wanted.map((w) => w.key));
    for (const [key, listener] of this.listeners) {
      if (keep.has(key)) continue;
      this.listeners.delete(key);
      void listener.stop(STOP_GRACE_MS);
    }
    // Runners the new config still names keep their connections (and in-flight requests on the
    // old routes can still retry on them); the others close once their streams are done.
    for (const [key, server] of this.servers) if (servers.get(key) !== server) server.close();
    this.servers = servers;
    this.groups = groups;
  }

  /** The addresses actually bound (resolves port 0), for logs and tests. */
  get addresses(): string[] {
    return [...this.listeners.values()].flatMap((l) => l.addresses().map(boundLabel));
  }

  /** Graceful: stop accepting, let in-flight requests finish, then close runner connections. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    await Promise.all([...this.listeners.values()].map((l) => l.stop(graceMs)));
    for (const group of this.groups.values()) group.stopHealthChecks();
    for (const server of this.servers.values()) server.close();
    this.log.debug('proxy stopped');
  }
}

/**
 * The upstream groups of a config. A runner address already connected (same address and
 * keepalive) is reused from `existing`, so a reload does not reconnect to runners it keeps.
 */
function buildGroups(config: ProxyConfig, log: Logger, existing: ReadonlyMap<string, UpstreamServer>) {
  const groups = new Map<string, UpstreamGroup>();
  const servers = new Map<string, UpstreamServer>();
  const created: UpstreamServer[] = [];
  const serverFor = (address: Address, keepalive: number): UpstreamServer => {
    const key = `${formatAddress(address)} keepalive=${keepalive}`;
    let server = servers.get(key) ?? existing.get(key);
    if (!server) {
      server = new UpstreamServer({ address, limits: LIMITS, keepalive, log });
      created.push(server);
    }
    servers.set(key, server);
    return server;
  };
  for (const [name, upstream] of config.upstreams) {
    const members = upstream.servers.map(({ address, text, ...parameters }) => ({
      server: serverFor(address, upstream.keepalive),
      peer: { name: text, ...parameters },
    }));
    groups.set(name, new UpstreamGroup(name, members, upstream.method, log, upstream.queue, upstream.healthCheck));
  }
  return { groups, servers, created };
}
