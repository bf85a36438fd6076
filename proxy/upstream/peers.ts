import type { ServerParameters } from '../config/types.js';
import type { Tried } from './tried.js';

/**
 * The servers of one upstream group as nginx's round-robin module keeps them: weights, the
 * smooth weighted round robin, failure accounting (max_fails within fail_timeout), max_conns,
 * `down` and `backup`. Pure state and arithmetic — no sockets, no timers — so the exact pick
 * sequences nginx produces can be tested as tables.
 */

/** An upstream server as the balancer sees it: its name and nginx's parameters. */
export interface PeerConfig extends ServerParameters {
  name: string;
}

export class Peer {
  readonly name: string;
  readonly weight: number;
  readonly maxFails: number;
  readonly failTimeoutMs: number;
  readonly maxConns: number;
  readonly down: boolean;
  /** The running score of the smooth weighted round robin. */
  currentWeight = 0;
  /** Weight lowered by failures and raised back by one per pick: a failing server eases back in. */
  effectiveWeight: number;
  fails = 0;
  /** When a request last failed on this server. */
  accessed = 0;
  /** When the server was last tried (or failed): the start of its fail_timeout window. */
  checked = 0;
  conns = 0;
  /** Taken out by the active health check until it passes again. */
  unhealthy = false;
  /** When the health check brought it back (for slow_start). */
  recoveredAt = -Infinity;
  readonly slowStartMs: number;

  constructor(config: PeerConfig) {
    this.slowStartMs = config.slowStartMs;
    this.name = config.name;
    this.weight = config.weight;
    this.maxFails = config.maxFails;
    this.failTimeoutMs = config.failTimeoutMs;
    this.maxConns = config.maxConns;
    this.down = config.down;
    this.effectiveWeight = config.weight;
  }

  /** The effective weight, scaled down while slow_start ramps a recovered server back up. */
  rampedWeight(now: number): number {
    const since = now - this.recoveredAt;
    if (this.slowStartMs === 0 || since >= this.slowStartMs) return this.effectiveWeight;
    return Math.max(1, Math.floor((this.effectiveWeight * since) / this.slowStartMs));
  }

  /** nginx: down, over max_conns, or max_fails failures within fail_timeout of the last check. */
  available(now: number): boolean {
    if (this.down || this.unhealthy || this.failedRecently(now)) return false;
    return !(this.maxConns > 0 && this.conns >= this.maxConns);
  }

  /** max_fails failures within fail_timeout of the last check: out until the window passes. */
  failedRecently(now: number): boolean {
    return this.maxFails > 0 && this.fails >= this.maxFails && now - this.checked <= this.failTimeoutMs;
  }
}

/**
 * One tier of peers (the primaries, or the backups). `single` mirrors nginx: a lone server is
 * never marked unavailable by failures — there would be nothing to fall back to.
 */
export class PeerSet {
  readonly peers: Peer[];
  readonly single: boolean;
  readonly totalWeight: number;

  constructor(configs: readonly PeerConfig[], single: boolean) {
    this.peers = configs.map((c) => new Peer(c));
    this.single = single;
    this.totalWeight = this.peers.reduce((sum, p) => sum + p.weight, 0);
  }

  usable(index: number, now: number, tried: Tried): boolean {
    const peer = this.peers[index]!;
    if (tried.has(peer)) return false;
    if (this.single) return !peer.down && !peer.unhealthy && !(peer.maxConns > 0 && peer.conns >= peer.maxConns);
    return peer.available(now);
  }

  /**
   * The smooth weighted round robin of ngx_http_upstream_get_peer, over the peers that
   * `candidate` admits: every usable peer gains its effective weight, the highest score wins and
   * pays back the total. With weights 5, 1, 1 it yields a a b a c a a.
   */
  smooth(now: number, candidate: (index: number) => boolean): Peer | null {
    let best: Peer | null = null;
    let total = 0;
    for (let i = 0; i < this.peers.length; i++) {
      if (!candidate(i)) continue;
      const peer = this.peers[i]!;
      const weight = peer.rampedWeight(now);
      peer.currentWeight += weight;
      total += weight;
      if (peer.effectiveWeight < peer.weight) peer.effectiveWeight++;
      if (!best || peer.currentWeight > best.currentWeight) best = peer;
    }
    if (!best) return null;
    best.currentWeight -= total;
    if (now - best.checked > best.failTimeoutMs) best.checked = now;
    return best;
  }
}

/** A request on a peer failed (connect error, timeout, bad answer): nginx's accounting. */
export function recordFailure(set: PeerSet, peer: Peer, now: number): 'disabled' | 'counted' | 'ignored' {
  if (set.single) return 'ignored';
  peer.fails++;
  peer.accessed = now;
  peer.checked = now;
  if (peer.maxFails > 0) {
    peer.effectiveWeight -= Math.floor(peer.weight / peer.maxFails);
    if (peer.effectiveWeight < 0) peer.effectiveWeight = 0;
    if (peer.fails >= peer.maxFails) return 'disabled';
  }
  return 'counted';
}

/** A request on a peer succeeded: a success after the last failure's window clears the count. */
export function recordSuccess(peer: Peer): void {
  if (peer.accessed < peer.checked) peer.fails = 0;
}
