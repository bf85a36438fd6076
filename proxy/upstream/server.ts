import type { Logger } from 'pino';
import { formatAddress, type Address } from '../../protocol/index.js';
import { UpstreamBusyError, UpstreamConnectionError } from '../errors.js';
import { UpstreamConnection, type ConnectionLimits } from './connection.js';

export interface UpstreamServerOptions {
  address: Address;
  limits: ConnectionLimits;
  /** Connections kept open when idle (nginx's `keepalive`); more open only under load. */
  keepalive: number;
  log: Logger;
}

const BACKOFF_MIN_MS = 50;
/** Connections per runner address; each carries up to the runner's max streams. */
const MAX_CONNECTIONS = 16;

const BACKOFF_MAX_MS = 2000;
/** Handshake timeout for the extra connections that reach every worker. */
const SPREAD_TIMEOUT_MS = 5000;
/** Wait before reaching a replaced worker: its replacement may still be starting. */
const SPREAD_DELAY_MS = 50;
/**
 * After a widening connection landed on a worker that has its share (the kernel picks the
 * worker that accepts), wait this long before the next try: no connect per request.
 */
const WIDEN_RETRY_MS = 1000;
/**
 * One runner address and the multiplexed connections to it. Requests go to the least busy
 * worker (see leastBusy for which of its connections); a new connection opens when all are
 * full, or in the background when the runner's writes wait on saturated sockets (`widen`). When the runner goes
 * away, a background reconnect with exponential backoff keeps one connection warm, so the
 * first request after a runner restart does not pay for the handshake.
 */
export class UpstreamServer {
  readonly name: string;
  private readonly connections: UpstreamConnection[] = [];
  private connecting: Promise<UpstreamConnection> | null = null;
  private backoffMs = BACKOFF_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** False from the first failure until a connection succeeds again. */
  private healthy = true;
  /** Worker processes behind the address, as the runners' HELLOs announce (`workers`). */
  private workers = 1;
  private spreading = false;
  private widening = false;
  private widenAgainAt = 0;
  /** Connections opened by widen(): spread() does not count them, and they may stay idle. */
  private readonly widened = new WeakSet<UpstreamConnection>();

  constructor(private readonly options: UpstreamServerOptions) {
    this.name = formatAddress(options.address);
  }

  /** Streams in flight to this server, for balancing and logs. */
  get activeStreams(): number {
    let total = 0;
    for (const connection of this.connections) total += connection.activeStreams;
    return total;
  }

  /** A connection with room for a stream, when one is open: what acquire() resolves to at once. */
  ready(): UpstreamConnection | null {
    return this.leastBusy();
  }

  /**
   * A connection ready for one more stream; rejects when the runner cannot be reached
   * (UpstreamConnectionError) or every allowed connection is full (UpstreamBusyError).
   */
  async acquire(timeoutMs: number): Promise<UpstreamConnection> {
    for (;;) {
      const best = this.leastBusy();
      if (best) return best;
      if (this.closed) throw new UpstreamConnectionError(`upstream ${this.name} is closed`, 'CLOSED');
      if (!this.connecting && this.connections.length >= MAX_CONNECTIONS) {
        throw new UpstreamBusyError(`all ${MAX_CONNECTIONS} connections to ${this.name} are at the runner's max streams`);
      }
      this.connecting ??= this.connect(timeoutMs);
      // A connect started earlier (the warm-up) may have a longer deadline than this request's.
      await withDeadline(this.connecting, timeoutMs, `connect to ${this.name} timed out after ${timeoutMs} ms`);
    }
  }

  /** The health check: a connection (opened if needed) answers a PING within `timeoutMs`. */
  async probe(timeoutMs: number): Promise<boolean> {
    try {
      const connection = await this.acquire(timeoutMs);
      return await connection.ping(timeoutMs);
    } catch {
      return false;
    }
  }

  /** Opens the first connection ahead of traffic; failures only schedule a retry. */
  warm(): void {
    if (this.closed || this.connections.length > 0 || this.connecting) return;
    this.connecting = this.connect(5000);
    this.connecting.catch(() => undefined);
  }

  /** Graceful: no new streams; open ones finish. */
  close(): void {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    for (const connection of [...this.connections]) connection.retire();
  }

  destroy(): void {
    const open = [...this.connections]; // close() retires them, which forgets them
    this.close();
    for (const connection of open) connection.destroy();
  }

  /**
   * The connection to the least busy worker process (streams in flight over all connections
   * to its pid). Among one worker's connections: while any socket is saturated (bulk bodies),
   * the one with the fewest streams, and one more is opened when even that one is saturated;
   * otherwise the oldest, so that small exchanges share one socket's reads and writes.
   */
  private leastBusy(): UpstreamConnection | null {
    // The usual case, one connection per runner worker: no per-pid counts to build.
    if (this.connections.length === 1) {
      const only = this.connections[0]!;
      if (!only.hasCapacity) return null;
      if (only.saturated) this.widen(only);
      return only;
    }
    const now = performance.now();
    let bulk = false;
    const perPid = new Map<number | undefined, number>();
    for (const connection of this.connections) {
      const pid = connection.hello.pid;
      perPid.set(pid, (perPid.get(pid) ?? 0) + connection.activeStreams);
      if (connection.saturatedAt(now)) bulk = true;
    }
    let best: UpstreamConnection | null = null;
    let bestWorkerLoad = Infinity;
    for (const connection of this.connections) {
      if (!connection.hasCapacity) continue;
      const workerLoad = perPid.get(connection.hello.pid)!;
      if (workerLoad < bestWorkerLoad || (bulk && workerLoad === bestWorkerLoad && connection.activeStreams < best!.activeStreams)) {
        best = connection;
        bestWorkerLoad = workerLoad;
      }
    }
    if (bulk && best?.saturatedAt(now)) this.widen(best);
    return best;
  }

  /**
   * Several workers share the runner's socket and each connection lands on one of them: open
   * connections until one reaches every worker the HELLOs announce, within a bounded number
   * of attempts (the kernel, not us, picks the worker that accepts).
   */
  private async spread(): Promise<void> {
    if (this.spreading || this.closed) return;
    this.spreading = true;
    try {
      // Connections widen() opened do not count: a pool widened for bulk bodies must still
      // reach a worker that replaced one of them.
      const limit = Math.min(MAX_CONNECTIONS, this.workers * 3);
      for (let attempt = 0; attempt < this.workers * 3 && !this.closed; attempt++) {
        const pids = new Set(this.connections.filter((c) => c.available).map((c) => c.hello.pid));
        const own = this.connections.filter((c) => !this.widened.has(c)).length;
        if (pids.size >= this.workers || own >= limit || this.connections.length >= MAX_CONNECTIONS) return;
        const connection = await this.open(SPREAD_TIMEOUT_MS);
        // Checked again after the wait: widen() or a request may have filled the pool meanwhile.
        if (this.connections.length >= MAX_CONNECTIONS) {
          connection.retire();
          return;
        }
        if (pids.has(connection.hello.pid) && this.connections.length >= Math.max(this.workers, this.options.keepalive)) {
          connection.retire(); // a worker we already reach, and enough connections: not kept
          continue;
        }
        this.adopt(connection);
      }
    } catch {
      // The runner went away meanwhile: the reconnect logic takes over.
    } finally {
      this.spreading = false;
    }
  }

  /**
   * One more connection, opened in the background for the streams to come: the `saturated`
   * one's runner is waiting on a full socket buffer. At most the `connections` per worker its
   * HELLO allows (none beyond the first without it), and 16 in all; one that lands on a worker
   * which has its share is closed again, and widening pauses a while. Failures are left to the
   * usual connect and reconnect, which the next request takes if the runner went away.
   */
  private widen(saturated: UpstreamConnection): void {
    const perWorker = saturated.hello.connections ?? 1;
    if (this.widening || this.closed || perWorker <= 1) return;
    if (this.connections.length >= Math.min(MAX_CONNECTIONS, this.workers * perWorker)) return;
    if (performance.now() < this.widenAgainAt) return;
    this.widening = true;
    this.open(SPREAD_TIMEOUT_MS)
      .then((connection) => {
        if (this.closed) return connection.destroy();
        const pid = connection.hello.pid;
        const limit = connection.hello.connections ?? 1;
        // The kernel chose the worker; the pool may have filled while we waited.
        if (this.connections.length >= MAX_CONNECTIONS || this.connections.filter((c) => c.hello.pid === pid).length >= limit) {
          this.widenAgainAt = performance.now() + WIDEN_RETRY_MS;
          return connection.retire();
        }
        this.widened.add(connection);
        this.adopt(connection);
      })
      .catch((err: Error) => this.options.log.debug({ upstream: this.name, err: err.message }, 'could not widen the pool'))
      .finally(() => {
        this.widening = false;
      });
  }

  /** A new connection to this address with the pool's limits, not yet in the pool. */
  private open(timeoutMs: number): Promise<UpstreamConnection> {
    return UpstreamConnection.open(this.options.address, this.options.limits, timeoutMs, this.options.log.child({ upstream: this.name }));
  }

  private async connect(timeoutMs: number): Promise<UpstreamConnection> {
    try {
      const connection = await this.open(timeoutMs);
      this.adopt(connection);
      this.backoffMs = BACKOFF_MIN_MS;
      this.healthy = true;
      return connection;
    } catch (err) {
      this.scheduleReconnect(err as Error);
      throw err;
    } finally {
      this.connecting = null;
    }
  }

  private adopt(connection: UpstreamConnection): void {
    // A worker that began to drain (GOAWAY) or went right after the handshake, before we got
    // here: its retirement already happened, so it must not join the pool (nothing would
    // ever remove it).
    if (!connection.available) return;
    const { hello } = connection;
    this.options.log.info({ upstream: this.name, runnerPid: hello.pid, runnerWorker: hello.worker, app: hello.app }, 'connected to runner');
    connection.onRetire = () => this.forget(connection);
    // Connections opened under load close again once idle, down to `keepalive`, but the only
    // connection to a worker stays: it is what spreads requests over the workers. A widened
    // one stays too while its worker has no more than its runner asks for (HELLO
    // `connections`): it serves the next burst.
    connection.onIdle = () => {
      if (this.connections.length <= this.options.keepalive) return;
      const allowed = this.widened.has(connection) ? Math.max(1, hello.connections ?? 1) : 1;
      let ofWorker = 0;
      for (const c of this.connections) if (c.available && c.hello.pid === hello.pid) ofWorker++;
      if (ofWorker > allowed) connection.retire();
    };
    this.connections.push(connection);
    if (this.closed) connection.retire();
    this.workers = Math.min(Math.max(1, hello.workers ?? 1), MAX_CONNECTIONS);
    if (this.workers > 1) void this.spread();
  }

  private forget(connection: UpstreamConnection): void {
    const index = this.connections.indexOf(connection);
    if (index < 0) return;
    this.connections.splice(index, 1);
    if (this.connections.length === 0) this.scheduleReconnect(null);
    // A worker went (reload, recycling, crash): reach its replacement.
    else if (this.workers > 1 && !this.closed) setTimeout(() => void this.spread(), SPREAD_DELAY_MS).unref();
  }

  /** Warn once per outage: on the first failure after the runner was reachable. */
  private reportFailure(err: Error, retryInMs: number): void {
    const level = this.healthy ? 'warn' : 'debug';
    this.healthy = false;
    this.options.log[level]({ upstream: this.name, err: err.message, retryInMs }, 'runner unreachable');
  }

  private scheduleReconnect(err: Error | null): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    if (err) this.reportFailure(err, delay);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.warm();
    }, delay);
    this.reconnectTimer.unref();
  }
}

function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UpstreamConnectionError(message, 'TIMEOUT')), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
