import type { Logger } from 'pino';
import { DEFAULTS, formatAddress } from '../protocol/index.js';
import type { ProxyConfig } from './config/types.js';
import { Listener } from './listener.js';
import { listenGroups } from './router.js';
import { UpstreamGroup } from './upstream/group.js';
import { UpstreamServer } from './upstream/server.js';

/** Windows and frame size the proxy announces to runners (SPEC.md §3). */
const LIMITS = { maxFrameSize: DEFAULTS.maxFrameSize, initialWindow: DEFAULTS.initialWindow };

/** How long a graceful stop waits for requests in flight before cutting them. */
const STOP_GRACE_MS = 30_000;

/** A running proxy: its upstream groups and listening sockets, built from one config. */
export class ProxyRuntime {
  private constructor(
    private readonly groups: Map<string, UpstreamGroup>,
    private readonly listeners: Listener[],
    private readonly log: Logger,
  ) {}

  static async start(config: ProxyConfig, log: Logger): Promise<ProxyRuntime> {
    const groups = buildGroups(config, log);
    const listeners: Listener[] = [];
    const runtime = new ProxyRuntime(groups, listeners, log);
    try {
      for (const { address, hosts } of listenGroups(config)) {
        listeners.push(await Listener.start({ address, hosts, groups, log }));
      }
    } catch (err) {
      await runtime.stop();
      throw err;
    }
    for (const group of groups.values()) group.warm();
    return runtime;
  }

  /** The addresses actually bound (resolves port 0), for logs and tests. */
  get addresses(): string[] {
    return this.listeners.flatMap((l) =>
      l.addresses().map((a) => (typeof a === 'string' ? `unix:${a}` : formatAddress({ kind: 'tcp', host: a.address, port: a.port }))),
    );
  }

  /** Graceful: stop accepting, let in-flight requests finish, then close runner connections. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    await Promise.all(this.listeners.map((l) => l.stop(graceMs)));
    for (const group of this.groups.values()) group.close();
    this.log.debug('proxy stopped');
  }
}

function buildGroups(config: ProxyConfig, log: Logger): Map<string, UpstreamGroup> {
  const groups = new Map<string, UpstreamGroup>();
  for (const [name, upstream] of config.upstreams) {
    const members = upstream.servers.map((server) => ({
      server: new UpstreamServer({ address: server.address, limits: LIMITS, keepalive: upstream.keepalive, log }),
      peer: { ...PEER_DEFAULTS, name: server.text },
    }));
    groups.set(name, new UpstreamGroup(name, members, { kind: 'round_robin' }, log));
  }
  return groups;
}

/** nginx's defaults for a `server` in an upstream: weight=1 max_fails=1 fail_timeout=10s. */
const PEER_DEFAULTS = { weight: 1, maxFails: 1, failTimeoutMs: 10_000, maxConns: 0, backup: false, down: false };
