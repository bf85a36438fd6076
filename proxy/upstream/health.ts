import type { Logger } from 'pino';
import type { HealthCheckConfig } from '../config/types.js';
import type { Peer } from './peers.js';
import type { UpstreamServer } from './server.js';

/**
 * Active health checks (beyond nginx's open-source edition): every `interval` each server is
 * asked for a PING over the protocol. `fails` missed answers in a row take it out of the
 * rotation — a runner that is stalled, not only one that refuses connections — and `passes`
 * answers in a row bring it back, its weight ramped up over its `slow_start`.
 */
export class HealthChecker {
  private readonly streak = new Map<Peer, { fails: number; passes: number }>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    private readonly upstream: string,
    private readonly members: ReadonlyArray<{ peer: Peer; server: UpstreamServer }>,
    private readonly config: HealthCheckConfig,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.round(), this.config.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One round over every server; a round still running (slow probes) is not overlapped. */
  private async round(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await Promise.all(this.members.map(({ peer, server }) => server.probe(this.config.timeoutMs).then((ok) => this.record(peer, ok))));
    } finally {
      this.running = false;
    }
  }

  private record(peer: Peer, ok: boolean): void {
    const streak = this.streak.get(peer) ?? { fails: 0, passes: 0 };
    this.streak.set(peer, streak);
    if (ok) {
      streak.fails = 0;
      streak.passes++;
      if (peer.unhealthy && streak.passes >= this.config.passes) {
        peer.unhealthy = false;
        peer.recoveredAt = Date.now();
        peer.fails = 0;
        this.log.info({ upstream: this.upstream, server: peer.name, slowStartMs: peer.slowStartMs }, 'health check passed: server back in the rotation');
      }
      return;
    }
    streak.passes = 0;
    streak.fails++;
    if (!peer.unhealthy && streak.fails >= this.config.fails) {
      peer.unhealthy = true;
      this.log.warn({ upstream: this.upstream, server: peer.name, timeoutMs: this.config.timeoutMs }, 'health check failed: server taken out of the rotation');
    }
  }
}
