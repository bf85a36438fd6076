import type { Logger } from 'pino';
import { Balancer, type BalanceMethod, type PickRequest } from './balancer.js';
import type { Peer, PeerConfig } from './peers.js';
import type { UpstreamServer } from './server.js';

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

  /** Is there a server this request has not tried yet (for deciding to retry at all)? */
  hasUntried(tried: ReadonlySet<Peer>): boolean {
    return this.serverOf.size > tried.size;
  }

  /** The try on `choice` ended; `failed` when it counts against the server (nginx's rules). */
  done(choice: Choice, failed: boolean): void {
    choice.peer.conns--;
    if (!failed) return this.balancer.success(choice.peer);
    if (this.balancer.failure(choice.peer) === 'disabled') {
      this.log.warn({ upstream: this.name, server: choice.peer.name, failTimeoutMs: choice.peer.failTimeoutMs }, 'upstream server temporarily disabled');
    }
  }

  warm(): void {
    for (const server of this.serverOf.values()) server.warm();
  }

  close(): void {
    for (const server of this.serverOf.values()) server.close();
  }

  destroy(): void {
    for (const server of this.serverOf.values()) server.destroy();
  }
}
