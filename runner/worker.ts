import type { Logger } from 'pino';
import { formatAddress } from '../protocol/index.js';
import { loadApp } from './app-loader.js';
import type { RunnerOptions } from './options.js';
import { RunnerServer } from './server.js';

export interface WorkerHandle {
  server: RunnerServer;
  /** Graceful stop: resolves true when every request finished in time. */
  drain(): Promise<boolean>;
}

/**
 * One worker: loads the app, then listens. The app is loaded *before* the socket exists, so a
 * proxy never connects to a worker that cannot serve. A supervising master (a later step) will
 * start several of these on a shared socket.
 */
export async function startWorker(options: RunnerOptions, log: Logger, index = 0, count = 1): Promise<WorkerHandle> {
  const { app, spec } = await loadApp(options.app);
  const server = new RunnerServer({
    address: options.address,
    mode: options.mode,
    app,
    log,
    maxStreams: options.maxStreams,
    identity: { pid: process.pid, worker: index, workers: count, app: spec },
    environDefaults: {
      'wsgi.version': [1, 0],
      'wsgi.multithread': false,
      'wsgi.multiprocess': count > 1,
      'wsgi.run_once': false,
      'wsgi.input_terminated': true,
    },
  });
  await server.listen();
  log.info({ socket: formatAddress(options.address), app: spec }, 'runner ready');
  return { server, drain: () => server.drain(options.gracefulTimeoutMs) };
}
