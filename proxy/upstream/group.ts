import type { Logger } from 'pino';
import type { HealthCheckConfig, QueueConfig } from '../config/types.js';
import { HealthChecker } from './health.js';
import { Balancer, type BalanceMethod, type PickRequest } from './balancer.js';
import type { Peer, PeerConfig } from './peers.js';
import type { UpstreamServer } from './server.js';
import type { Tried } from './tried.js';

export interface GroupMember {
  server: UpstreamServer;
  peer: PeerConfig;
}

/** The server a request goes to, and the balancer's record of it. */
export interface Choice {
  server: UpstreamServer;
  peer: Peer;
}

/**
 * An `upstream` block: its servers (connections and all) and the balancer that chooses among
 * them. Requests report back how each try went, which is what marks a server unavailable
 * (max_fails within fail_timeout) and brings it back.
 */
export class UpstreamGroup {
  private readonly balancer: Balancer;
  private readonly serverOf = new Map<Peer, UpstreamServer>();

  constructor(
    readonly name: string,
    members: readonly GroupMember[],
    method: BalanceMethod,
    private readonly log: Logger,
    private readonly queue: QueueConfig | null = null,
    healthCheck: HealthCheckConfig | null = null,
  ) {
    const primaries = members.filter((m) => !m.peer.backup);
    const backups = members.filter((m) => m.peer.backup);
    this.balancer = new Balancer(
      primaries.map((m) => m.peer),
      backups.map((m) => m.peer),
      method,
    );
    primaries.forEach((m, i) => this.serverOf.set(this.balancer.primary.peers[i]!, m.server));
    backups.forEach((m, i) => this.serverOf.set(this.balancer.backup!.peers[i]!, m.server));
    if (healthCheck) {
      const checked = [...this.serverOf].map(([peer, server]) => ({ peer, server }));
      this.health = new HealthChecker(name, checked, healthCheck, log);
    }
  }

  private readonly health: HealthChecker | null = null;

  /** Starts the active health checks, if the upstream has them. */
  startHealthChecks(): void {
    this.health?.start();
  }

  /** This group is replaced (reload) or closed: its health checks end. */
  stopHealthChecks(): void {
    this.health?.stop();
  }

  /**
   * After a reload: servers that stay keep their health (failures, the fail_timeout window, the
   * eased-in weight), so a server that was out stays out. (Requests in flight are not carried
   * over: they finish on the old group and report back to it.)
   */
  inheritHealth(previous: UpstreamGroup): void {
    const old = new Map([...previous.serverOf.keys()].map((peer) => [peer.name, peer]));
    for (const peer of this.serverOf.keys()) {
      const before = old.get(peer.name);
      if (!before || before.weight !== peer.weight) continue;
      peer.fails = before.fails;
      peer.accessed = before.accessed;
      peer.checked = before.checked;
      peer.effectiveWeight = before.effectiveWeight;
      peer.unhealthy = before.unhealthy;
      peer.recoveredAt = before.recoveredAt;
    }
  }

  get method(): BalanceMethod {
    return this.balancer.method;
  }

  get servers(): UpstreamServer[] {
    return [...this.serverOf.values()];
  }

  /** null: no server is available ("no live upstreams" in nginx's words). */
  pick(request: PickRequest): Choice | null {
    const peer = this.balancer.pick(request);
    if (!peer) return null;
    request.tried.add(peer);
    peer.conns++;
    return { server: this.serverOf.get(peer)!, peer };
  }

  /**
   * pick(), but when every server this request may use is only busy (at max_conns) and the
   * upstream has a `queue`, wait in it — FIFO, woken as requests finish — up to its timeout.
   * 'busy': the queue is full, or the wait timed out (the caller answers 503). A promise only
   * when the request has to wait: the usual pick costs no microtask turn.
   */
  pickOrWait(request: PickRequest): Choice | 'busy' | null | Promise<Choice | 'busy' | null> {
    const choice = this.pick(request);
    if (choice || !this.queue || !this.onlyBusy(request.tried)) return choice;
    if (this.waiting.length >= this.queue.size) return 'busy';
    return this.waitInQueue(request, this.queue.timeoutMs);
  }

  private async waitInQueue(request: PickRequest, timeoutMs: number): Promise<Choice | 'busy' | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return 'busy';
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(wake), 1);
          resolve();
        }, remaining);
        this.waiting.push(wake);
      });
      const next = this.pick(request);
      if (next || !this.onlyBusy(request.tried)) return next;
    }
  }

  private readonly waiting: Array<() => void> = [];

  /** Some server this request may still use is up, only at its max_conns. */
  private onlyBusy(tried: Tried): boolean {
    const now = Date.now();
    for (const peer of this.serverOf.keys()) {
      if (tried.has(peer) || peer.down || peer.unhealthy || peer.failedRecently(now)) continue;
      if (peer.maxConns > 0 && peer.conns >= peer.maxConns) return true;
    }
    return false;
  }

  /** Is there a server this request has not tried yet (for deciding to retry at all)? */
  hasUntried(tried: Tried): boolean {
    return this.serverOf.size > tried.size;
  }

  /** The try on `choice` ended; `failed` when it counts against the server (nginx's rules). */
  done(choice: Choice, failed: boolean): void {
    choice.peer.conns--;
    this.waiting.shift()?.(); // a slot is free: the longest waiter tries again
    if (!failed) return this.balancer.success(choice.peer);
    if (this.balancer.failure(choice.peer) === 'disabled') {
      this.log.warn({ upstream: this.name, server: choice.peer.name, failTimeoutMs: choice.peer.failTimeoutMs }, 'upstream server temporarily disabled');
    }
  }

  warm(): void {
    for (const server of this.serverOf.values()) server.warm();
  }

  close(): void {
    this.stopHealthChecks();
    for (const server of this.serverOf.values()) server.close();
  }

  destroy(): void {
    for (const server of this.serverOf.values()) server.destroy();
  }
}
