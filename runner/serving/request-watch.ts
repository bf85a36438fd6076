import type { Logger } from 'pino';
import { ErrorCode } from '../../protocol/index.js';
import type { RunnerStream } from './stream.js';

/**
 * What requests do, for a worker's counters (stats, recycling, harakiri reports). `started`
 * returns what `finished` is given back: the observer's own record of the request, so that it
 * needs no lookup table of its own.
 */
export interface RequestObserver<Started = unknown> {
  started(environ: Record<string, string>): Started;
  finished(started: Started): void;
  /** The deadline passed: the stream was cancelled with TIMEOUT. */
  timedOut(environ: Record<string, string>): void;
  /** The application threw (the client got a 500 or an aborted response). */
  failed(environ: Record<string, string>): void;
}

/** Watches the deadlines while the event loop is blocked (runner/serving/watchdog.ts). */
export interface Watchdog {
  track(fd: number, stream: number): number;
  untrack(slot: number): void;
}

export interface WatchOptions {
  log: Logger;
  /** Per-request deadline (harakiri): past it the stream is cancelled with TIMEOUT (0 = none). */
  deadlineMs?: number;
  observer?: RequestObserver;
  watchdog?: Watchdog;
}

/**
 * What one request carries besides the app's work: the worker's counters, its harakiri
 * deadline and its slot in the watchdog thread. Begun when the stream is accepted, ended exactly
 * once when the stream closes; the connection only holds one of these per open stream.
 */
export class RequestWatch {
  private deadline: NodeJS.Timeout | null = null;
  private readonly slot: number;
  private readonly started: unknown;

  /** Whether a request needs watching at all: neither counters nor a deadline means no object. */
  static needed(options: WatchOptions): boolean {
    return options.observer !== undefined || Boolean(options.deadlineMs);
  }

  /** `fd` is the connection's socket (-1 if unknown), for the watchdog's CANCEL while the loop is blocked. */
  constructor(
    private readonly stream: RunnerStream,
    private readonly environ: Record<string, string>,
    private readonly options: WatchOptions,
    fd: number,
  ) {
    this.started = options.observer?.started(environ);
    const ms = options.deadlineMs;
    if (ms) this.deadline = setTimeout(() => this.expire(ms), ms);
    this.slot = options.watchdog && fd >= 0 ? options.watchdog.track(fd, stream.id) : -1;
  }

  end(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
    this.options.watchdog?.untrack(this.slot);
    this.options.observer?.finished(this.started);
  }

  /** Harakiri for one request: the proxy answers 504, the app is left (its close() runs). */
  private expire(ms: number): void {
    this.deadline = null;
    const { environ } = this;
    const request = { reqId: environ['tsgi.request_id'], method: environ.REQUEST_METHOD, path: environ.PATH_INFO };
    this.options.log.warn({ ...request, deadlineMs: ms }, 'harakiri: request deadline passed, cancelling it');
    this.options.observer?.timedOut(environ);
    this.stream.cancel(ErrorCode.TIMEOUT, `harakiri: no response within ${ms} ms`);
  }
}
