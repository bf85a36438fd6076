import type { Logger } from 'pino';
import { loadApp } from '../apps/app-loader.js';
import type { RequestObserver } from './request-watch.js';
import type { RunnerOptions } from '../options.js';
import { RunnerServer } from './server.js';
import type { Watchdog } from './watchdog.js';

/**
 * One worker: loads the app, then serves one listening socket. The app is loaded *before* the
 * worker listens, so a proxy never talks to a worker that cannot serve. The master
 * (runner/supervision/master.ts) starts several of these on the socket it bound.
 */
export async function createWorkerServer(
  options: RunnerOptions,
  log: Logger,
  index: number,
  count: number,
  observer?: RequestObserver,
  watchdog?: Watchdog,
): Promise<RunnerServer> {
  const { app, spec, contract } = await loadApp(options.app, process.cwd(), options.contract);
  log.info({ app: spec, contract }, 'app loaded');
  return new RunnerServer({
    address: options.address,
    mode: options.mode,
    app,
    log,
    maxStreams: options.maxStreams,
    deadlineMs: options.harakiriMs,
    ...(observer ? { observer } : {}),
    ...(watchdog ? { watchdog } : {}),
    identity: { pid: process.pid, worker: index, workers: count, app: spec },
    environDefaults: {
      'wsgi.version': [1, 0],
      'wsgi.multithread': false,
      'wsgi.multiprocess': count > 1,
      'wsgi.run_once': false,
      'wsgi.input_terminated': true,
    },
  });
}
