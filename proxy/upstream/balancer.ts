import type { BalanceConfig } from '../config/types.js';
import { crc32 } from './crc32.js';
import { Peer, PeerSet, recordFailure, recordSuccess, type PeerConfig } from './peers.js';
import type { Tried } from './tried.js';

/**
 * The choice of a server in an upstream group, with nginx's methods and their exact rules:
 * round robin (smooth, weighted), least_conn, ip_hash, hash KEY [consistent], random [two
 * [least_conn]]. Backups serve only when every primary is unavailable. Pure: the clock and the
 * random source are injected, so tests replay nginx's sequences.
 */
export type BalanceMethod = BalanceConfig;

export interface PickRequest {
  /** The client address, for ip_hash. */
  remoteAddress: string;
  /** The expanded `hash` key. */
  hashKey: string;
  /** Servers this request already tried (a retry never picks one twice). */
  tried: Tried;
}

/** nginx gives up rehashing after 20 tries and falls back to round robin. */
const MAX_TRIES = 20;
/** Points per unit of weight on the consistent-hash ring (nginx, like ketama, uses 160). */
const RING_POINTS = 160;

export class Balancer {
  readonly primary: PeerSet;
  readonly backup: PeerSet | null;
  private readonly ring: Array<{ hash: number; peer: number }>;

  constructor(
    primaries: readonly PeerConfig[],
    backups: readonly PeerConfig[],
    readonly method: BalanceMethod,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    this.primary = new PeerSet(primaries, primaries.length === 1 && backups.length === 0);
    this.backup = backups.length > 0 ? new PeerSet(backups, false) : null;
    this.ring = method.kind === 'hash' && method.consistent ? buildRing(this.primary) : [];
  }

  /** The server for this request, or null when none is available (the caller answers 502). */
  pick(request: PickRequest): Peer | null {
    const now = this.now();
    const peer = this.pickIn(this.primary, request, now);
    if (peer || !this.backup) return peer;
    // nginx: the backups are balanced like the primaries (round robin or least_conn).
    return this.method.kind === 'least_conn' ? this.leastConn(this.backup, request, now) : this.roundRobin(this.backup, request, now);
  }

  /** Which tier a peer belongs to, for failure accounting. */
  private setOf(peer: Peer): PeerSet {
    return this.primary.peers.includes(peer) ? this.primary : this.backup!;
  }

  failure(peer: Peer): 'disabled' | 'counted' | 'ignored' {
    return recordFailure(this.setOf(peer), peer, this.now());
  }

  success(peer: Peer): void {
    recordSuccess(peer);
  }

  private pickIn(set: PeerSet, request: PickRequest, now: number): Peer | null {
    switch (this.method.kind) {
      case 'round_robin':
        return this.roundRobin(set, request, now);
      case 'least_conn':
        return this.leastConn(set, request, now);
      case 'ip_hash':
        return this.hashed(set, request, now, ipHasher(request.remoteAddress));
      case 'hash':
        // nginx: an empty key cannot be hashed; round robin instead.
        if (request.hashKey === '') return this.roundRobin(set, request, now);
        return this.method.consistent ? this.consistent(set, request, now) : this.hashed(set, request, now, keyHasher(request.hashKey));
      case 'random':
        return this.randomPick(set, request, now, this.method.two);
    }
  }

  private roundRobin(set: PeerSet, request: PickRequest, now: number): Peer | null {
    return set.smooth(now, (i) => set.usable(i, now, request.tried));
  }

  /**
   * ngx_http_upstream_get_least_conn_peer: the fewest connections per unit of weight; ties are
   * broken by the smooth weighted round robin among the tied servers.
   */
  private leastConn(set: PeerSet, request: PickRequest, now: number): Peer | null {
    let best: Peer | null = null;
    let tied = false;
    for (let i = 0; i < set.peers.length; i++) {
      if (!set.usable(i, now, request.tried)) continue;
      const peer = set.peers[i]!;
      if (!best || peer.conns * best.weight < best.conns * peer.weight) {
        best = peer;
        tied = false;
      } else if (peer.conns * best.weight === best.conns * peer.weight) {
        tied = true;
      }
    }
    if (!best || !tied) return best && touch(best, now);
    const least = best;
    return set.smooth(now, (i) => {
      const peer = set.peers[i]!;
      return peer.conns * least.weight === least.conns * peer.weight && set.usable(i, now, request.tried);
    });
  }

  /**
   * ip_hash and hash KEY: a hash walks the cumulative weights to a server; an unusable one
   * rehashes (continuing from the previous hash, as nginx), up to 20 times, then round robin.
   */
  private hashed(set: PeerSet, request: PickRequest, now: number, next: () => number): Peer | null {
    if (set.single || set.totalWeight === 0) return this.roundRobin(set, request, now);
    for (let tries = 0; tries < MAX_TRIES; tries++) {
      const index = byWeight(set, next() % set.totalWeight);
      if (!set.usable(index, now, request.tried)) continue;
      return touch(set.peers[index]!, now);
    }
    return this.roundRobin(set, request, now);
  }

  /** Consistent hashing: the first ring point at or after the key's hash, then the next ones. */
  private consistent(set: PeerSet, request: PickRequest, now: number): Peer | null {
    if (set.single || this.ring.length === 0) return this.roundRobin(set, request, now);
    let at = firstAtOrAfter(this.ring, crc32(Buffer.from(request.hashKey, 'latin1')));
    for (let tries = 0; tries < MAX_TRIES; tries++, at++) {
      const index = this.ring[at % this.ring.length]!.peer;
      if (set.usable(index, now, request.tried)) return touch(set.peers[index]!, now);
    }
    return this.roundRobin(set, request, now);
  }

  /** random: a server drawn by weight; `two`: the less loaded of two such draws. */
  private randomPick(set: PeerSet, request: PickRequest, now: number, two: boolean): Peer | null {
    if (set.single || set.totalWeight === 0) return this.roundRobin(set, request, now);
    const draw = (): number | null => {
      for (let tries = 0; tries < MAX_TRIES; tries++) {
        const index = byWeight(set, Math.floor(this.random() * set.totalWeight));
        if (set.usable(index, now, request.tried)) return index;
      }
      return null;
    };
    const first = draw();
    if (first === null) return this.roundRobin(set, request, now);
    let chosen = set.peers[first]!;
    if (two) {
      // Two distinct servers when there are two to draw from (nginx).
      let second = draw();
      for (let tries = 0; second === first && tries < MAX_TRIES; tries++) second = draw();
      const other = second === null ? null : set.peers[second]!;
      if (other && other.conns * chosen.weight < chosen.conns * other.weight) chosen = other;
    }
    return touch(chosen, now);
  }
}

/** The server whose cumulative weight range holds `w` (0 ≤ w < total weight). */
function byWeight(set: PeerSet, w: number): number {
  let index = 0;
  while (w >= set.peers[index]!.weight) {
    w -= set.peers[index]!.weight;
    index++;
  }
  return index;
}

function touch(peer: Peer, now: number): Peer {
  if (now - peer.checked > peer.failTimeoutMs) peer.checked = now;
  return peer;
}

/**
 * nginx's ip_hash: the first three octets of an IPv4 address (a /24 stays on one server), the
 * whole of an IPv6 one; hash = (hash * 113 + byte) % 6271 from 89, continued on each rehash.
 */
function ipHasher(address: string): () => number {
  const bytes = addressBytes(address);
  let hash = 89;
  return () => {
    for (const byte of bytes) hash = (hash * 113 + byte) % 6271;
    return hash;
  };
}

function addressBytes(address: string): number[] {
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.\d+$/i.exec(address);
  if (v4) return [Number(v4[1]), Number(v4[2]), Number(v4[3])];
  if (address.includes(':')) return ipv6Bytes(address);
  return [0, 0, 0]; // Unix-socket clients: nginx hashes them all alike
}

function ipv6Bytes(address: string): number[] {
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16) || 0;
    return [n >> 8, n & 0xff];
  });
}

/**
 * nginx's hash KEY (Cache::Memcached compatible): each round adds ((crc32(REHASH KEY) >> 16) &
 * 0x7fff) to the running hash, REHASH being the number of earlier rounds (absent on the first).
 */
function keyHasher(key: string): () => number {
  let hash = 0;
  let rehash = 0;
  return () => {
    const text = rehash > 0 ? `${rehash}${key}` : key;
    hash += (crc32(Buffer.from(text, 'latin1')) >>> 16) & 0x7fff;
    rehash++;
    return hash;
  };
}

/**
 * The consistent-hash ring: 160 points per unit of weight for each server, each point the crc32
 * of the server's name and the previous point, sorted. Adding or removing a server moves only
 * the keys that fall on its points.
 */
function buildRing(set: PeerSet): Array<{ hash: number; peer: number }> {
  const points: Array<{ hash: number; peer: number }> = [];
  set.peers.forEach((peer, index) => {
    const name = Buffer.from(peer.name, 'latin1');
    let previous = 0;
    for (let j = 0; j < RING_POINTS * peer.weight; j++) {
      const input = Buffer.alloc(name.length + 4);
      name.copy(input);
      input.writeUInt32LE(previous, name.length);
      previous = crc32(input);
      points.push({ hash: previous, peer: index });
    }
  });
  return points.sort((a, b) => a.hash - b.hash || a.peer - b.peer);
}

function firstAtOrAfter(ring: ReadonlyArray<{ hash: number }>, hash: number): number {
  let low = 0;
  let high = ring.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (ring[mid]!.hash < hash) low = mid + 1;
    else high = mid;
  }
  return low; // may equal ring.length: the caller wraps around
}
