import type { RequestObserver } from './request-watch.js';

/** A request in flight, as the master's harakiri report names it. */
export interface InFlight {
  reqId: string;
  method: string;
  path: string;
  /** Epoch milliseconds. */
  startedAt: number;
}

/** What a worker tells the master in each heartbeat (and the stats server shows). */
export interface WorkerCounters {
  requests: number;
  inFlight: number;
  exceptions: number;
  harakiri: number;
  rss: number;
  avgLatencyMs: number;
}

/** Longest list of in-flight requests a heartbeat carries. */
const REPORTED_IN_FLIGHT = 32;

/** A request in flight, linked into the worker's list of them, oldest first. */
export interface LiveRequest extends InFlight {
  older: LiveRequest | null;
  newer: LiveRequest | null;
}

/** A worker's request counters: fed by the connections, read by the heartbeat. */
export class WorkerMetrics implements RequestObserver {
  requests = 0;
  harakiri = 0;
  exceptions = 0;
  private totalMs = 0;
  /**
   * The requests in flight, a list linked through themselves rather than a Map: a Map that
   * fills and empties with every socket read of a busy worker reallocates its table each
   * time, in the old generation once the Map is there (~200 bytes a request that only a full
   * collection frees: PROFILE.md, "Session of 2026-12-06, late morning").
   */
  private oldest: LiveRequest | null = null;
  private newest: LiveRequest | null = null;
  private live = 0;

  constructor(private readonly onStart: (() => void) | null = null) {}

  started(environ: Record<string, string>): LiveRequest {
    const request: LiveRequest = {
      reqId: environ['tsgi.request_id'] ?? '',
      method: environ.REQUEST_METHOD ?? '',
      path: environ.PATH_INFO ?? '',
      startedAt: Date.now(),
      older: this.newest,
      newer: null,
    };
    if (this.newest) this.newest.newer = request;
    else this.oldest = request;
    this.newest = request;
    this.live++;
    this.onStart?.();
    return request;
  }

  finished(request: LiveRequest): void {
    const { older, newer } = request;
    if (older) older.newer = newer;
    else if (this.oldest === request) this.oldest = newer;
    else return; // finished already
    if (newer) newer.older = older;
    else this.newest = older;
    request.older = request.newer = null;
    this.live--;
    this.requests++;
    this.totalMs += Date.now() - request.startedAt;
  }

  timedOut(): void {
    this.harakiri++;
  }

  failed(): void {
    this.exceptions++;
  }

  /** The oldest requests in flight, and always the newest: plain records, for the IPC channel. */
  inFlight(): InFlight[] {
    const out: InFlight[] = [];
    let request = this.oldest;
    for (; request && out.length < REPORTED_IN_FLIGHT - 1; request = request.newer) out.push(record(request));
    // Stopped short of the end: the newest is among those left out.
    if (request) out.push(record(this.newest!));
    return out;
  }

  counters(rss: number): WorkerCounters {
    return {
      requests: this.requests,
      inFlight: this.live,
      exceptions: this.exceptions,
      harakiri: this.harakiri,
      rss,
      avgLatencyMs: this.requests === 0 ? 0 : Math.round((this.totalMs / this.requests) * 100) / 100,
    };
  }
}

function record({ reqId, method, path, startedAt }: InFlight): InFlight {
  return { reqId, method, path, startedAt };
}
