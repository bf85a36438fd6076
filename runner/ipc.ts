import type { InFlight, WorkerCounters } from './metrics.js';

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

/** Heartbeat period; the master kills a worker silent for longer than --harakiri. */
export const BEAT_MS = 100;

export function isFromWorker(message: unknown): message is FromWorker {
  return typeof message === 'object' && message !== null && typeof (message as { t?: unknown }).t === 'string';
}
