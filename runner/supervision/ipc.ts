import type { InFlight, WorkerCounters } from '../serving/metrics.js';

/**
 * Messages between the master and its workers over the IPC channel of child_process.fork.
 * The master sends the bound socket with `listen`; everything else is plain JSON.
 */
export type ToWorker =
  | { t: 'listen' } // with the socket handle
  | { t: 'drain' } // graceful stop: GOAWAY, in-flight requests finish, then exit
  | { t: 'quit' }; // fast stop: cancel what is in flight, exit

export type FromWorker =
  | { t: 'boot-failed'; message: string }
  | { t: 'ready' }
  | { t: 'beat'; counters: WorkerCounters; inFlight: InFlight[] }
  | { t: 'recycle'; reason: string }
  // A Python worker cannot stop a thread stuck in the app: it cancels the requests past the
  // deadline itself (the proxy answers 504) and asks the master to kill it now.
  | { t: 'harakiri'; requests: InFlight[] };

/** The environment variable that makes tsgi-runner a worker, with its index (1-based). */
export const WORKER_ENV = 'TSGI_RUNNER_WORKER';
/** The worker count when it was started (SIGTTIN / SIGTTOU change it), for its HELLO. */
export const WORKERS_ENV = 'TSGI_RUNNER_WORKERS';

/** Heartbeat period with --harakiri: the master kills a worker silent for longer than the deadline and this. */
export const BEAT_MS = 100;
/**
 * Heartbeat period when the beat has nothing to watch: no --harakiri deadline, no recycling
 * (--max-requests, --reload-on-rss, which a worker checks at each beat), only the statistics
 * to refresh, which a second serves. Ten beats a second (each with a read of /proc/self/stat
 * for the RSS) kept an idle runner at 3.7 ms of CPU a second per worker and 5.3 in the
 * master; one a second, 0.7 and 2.3 (PROFILE.md, item 11).
 */
export const IDLE_BEAT_MS = 1000;

/** What decides a worker's heartbeat period (RunnerOptions has them all). */
export interface BeatOptions {
  harakiriMs: number;
  maxRequests: number;
  reloadOnRssBytes: number;
}

/** How often a worker beats: often where a deadline is watched or a recycle is checked. */
export function beatPeriodMs(options: BeatOptions): number {
  return options.harakiriMs > 0 || options.maxRequests > 0 || options.reloadOnRssBytes > 0 ? BEAT_MS : IDLE_BEAT_MS;
}

/**
 * A message a worker (JavaScript or Python) may send, checked kind by kind with the fields that
 * kind carries: anything else on the channel is ignored, never taken for one of these.
 */
export function isFromWorker(message: unknown): message is FromWorker {
  if (!isObject(message)) return false;
  switch (message.t) {
    case 'ready':
      return true;
    case 'boot-failed':
      return typeof message.message === 'string';
    case 'recycle':
      return typeof message.reason === 'string';
    case 'beat':
      return isCounters(message.counters) && isInFlightList(message.inFlight);
    case 'harakiri':
      return isInFlightList(message.requests);
    default:
      return false;
  }
}

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const COUNTERS: readonly (keyof WorkerCounters)[] = ['requests', 'inFlight', 'exceptions', 'harakiri', 'rss', 'avgLatencyMs'];

function isCounters(value: unknown): value is WorkerCounters {
  return isObject(value) && COUNTERS.every((key) => typeof value[key] === 'number');
}

function isInFlightList(value: unknown): value is InFlight[] {
  return Array.isArray(value) && value.every(isInFlight);
}

function isInFlight(value: unknown): value is InFlight {
  return (
    isObject(value) &&
    typeof value.reqId === 'string' &&
    typeof value.method === 'string' &&
    typeof value.path === 'string' &&
    typeof value.startedAt === 'number'
  );
}
