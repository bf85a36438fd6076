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

/** A worker's request counters: fed by the connections, read by the heartbeat. */
export class WorkerMetrics implements RequestObserver {
  requests = 0;
  harakiri = 0;
  exceptions = 0;
  private totalMs = 0;
  private readonly live = new Map<Record<string, string>, InFlight>();

  constructor(private readonly onStart: ((request: InFlight) => void) | null = null) {}

  started(environ: Record<string, string>): void {
    const request = { reqId: environ['tsgi.request_id'] ?? '', method: environ.REQUEST_METHOD ?? '', path: environ.PATH_INFO ?? '', startedAt: Date.now() };
    this.live.set(environ, request);
    this.onStart?.(request);
  }

  finished(environ: Record<string, string>): void {
    const request = this.live.get(environ);
    if (!request) return;
    this.live.delete(environ);
    this.requests++;
    this.totalMs += Date.now() - request.startedAt;
  }

  timedOut(): void {
    this.harakiri++;
  }

  failed(): void {
    this.exceptions++;
  }

  /** The oldest requests in flight (a Map keeps insertion order), and always the newest. */
  inFlight(): InFlight[] {
    const out: InFlight[] = [];
    let newest: InFlight | undefined;
    for (const request of this.live.values()) {
      if (out.length < REPORTED_IN_FLIGHT - 1) out.push(request);
      newest = request;
    }
    if (newest && !out.includes(newest)) out.push(newest);
    return out;
  }

  counters(rss: number): WorkerCounters {
    return {
      requests: this.requests,
      inFlight: this.live.size,
      exceptions: this.exceptions,
      harakiri: this.harakiri,
      rss,
      avgLatencyMs: this.requests === 0 ? 0 : Math.round((this.totalMs / this.requests) * 100) / 100,
    };
  }
}
