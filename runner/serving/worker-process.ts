import type { Logger } from 'pino';
import { AsyncQueue } from '../../protocol/index.js';
import { AppLoadError } from '../errors.js';
import { EXIT } from '../exit.js';
import { WORKERS_ENV, WORKER_ENV, beatPeriodMs, type FromWorker, type ToWorker } from '../supervision/ipc.js';
import { WorkerMetrics } from './metrics.js';
import type { RunnerOptions } from '../options.js';
import type { RunnerServer } from './server.js';
import { Watchdog } from './watchdog.js';
import { createWorkerServer } from './worker.js';

/** How long a fast stop waits for the cancelled apps' close() before the process goes. */
const FORCED_STOP_GRACE_MS = 1000;

type Stop = 'drain' | 'quit';

/**
 * A worker process under the master: loads the app (reporting a failure so the master stops
 * instead of respawning forever), listens on the socket the master sends, beats (every
 * beatPeriodMs), asks to be recycled past --max-requests or --reload-on-rss, and stops when told.
 */
export async function runWorkerProcess(options: RunnerOptions, log: Logger): Promise<number> {
  const index = Number(process.env[WORKER_ENV]);
  const count = Number(process.env[WORKERS_ENV]) || options.workers;
  const send = (message: FromWorker) => {
    if (process.connected) process.send!(message);
  };
  const stops = stopRequests();
  const handle = socketHandle();
  // With a deadline, every request start is a beat: if this request blocks the event loop,
  // the master knows it was in flight and names it.
  const metrics: WorkerMetrics = new WorkerMetrics(options.harakiriMs > 0 ? () => beat() : null);
  let rss = process.memoryUsage.rss();
  const beat = () => send({ t: 'beat', counters: metrics.counters(rss), inFlight: metrics.inFlight() });
  let server: RunnerServer;
  try {
    const watchdog = options.harakiriMs > 0 ? new Watchdog(options.harakiriMs) : undefined;
    server = await createWorkerServer(options, log, index, count, metrics, watchdog);
  } catch (err) {
    if (!(err instanceof AppLoadError)) throw err;
    log.fatal({ err: err.cause ?? err }, err.message);
    send({ t: 'boot-failed', message: err.message });
    return EXIT.APP_LOAD;
  }
  await server.adopt(await handle);
  send({ t: 'ready' });
  log.debug('worker ready');

  const recycleAfter = options.maxRequests > 0 ? options.maxRequests + Math.floor(Math.random() * (options.maxRequestsJitter + 1)) : 0;
  let recycleAsked = false;
  setInterval(() => {
    rss = process.memoryUsage.rss();
    beat();
    if (recycleAsked) return;
    const reason = recycleAfter > 0 && metrics.requests >= recycleAfter ? `served ${metrics.requests} requests` : options.reloadOnRssBytes > 0 && rss > options.reloadOnRssBytes ? `rss ${Math.round(rss / 1048576)} MB` : null;
    if (!reason) return;
    recycleAsked = true;
    send({ t: 'recycle', reason });
  }, beatPeriodMs(options));

  // The beat goes on while draining: a worker stuck in a drain is still one harakiri watches.
  const first = await stops.next();
  if (first === 'quit') return quit(server);
  const draining = server.drain(options.gracefulTimeoutMs);
  const outcome = await Promise.race([draining.then((clean) => (clean ? 'clean' : 'timeout')), stops.next().then(() => 'forced' as const)]);
  if (outcome === 'forced') return quit(server, draining);
  return outcome === 'clean' ? EXIT.OK : EXIT.TIMEOUT;
}

async function quit(server: RunnerServer, draining?: Promise<boolean>): Promise<number> {
  const cut = server.activeStreams > 0;
  server.close();
  // Let the cancelled apps' close() run before the process goes.
  await Promise.race([draining ?? server.whenClosed(), new Promise((resolve) => setTimeout(resolve, FORCED_STOP_GRACE_MS).unref())]);
  return cut ? EXIT.TIMEOUT : EXIT.OK;
}

/** The socket handle the master sends once, whenever it arrives. */
function socketHandle(): Promise<object> {
  return new Promise((resolve) => {
    const onMessage = (message: ToWorker, handle: unknown) => {
      if (message?.t !== 'listen' || !handle) return;
      process.off('message', onMessage);
      resolve(handle as object);
    };
    process.on('message', onMessage);
  });
}

/**
 * Stop requests as a queue, like the master's signals: `drain` from the master or SIGTERM
 * (systemd's KillMode=control-group signals every process), `quit` from the master or when
 * the master is lost (the IPC channel closed). SIGINT, SIGQUIT, SIGHUP, SIGTTIN and SIGTTOU
 * are the master's to act on: a terminal sends them to the whole process group.
 */
function stopRequests(): AsyncQueue<Stop> {
  const stops = new AsyncQueue<Stop>();
  process.on('message', (message: ToWorker) => {
    if (message?.t === 'drain' || message?.t === 'quit') stops.push(message.t);
  });
  // The master is gone (killed): stop at once, so the socket is free for the next runner.
  process.on('disconnect', () => stops.push('quit'));
  process.on('SIGTERM', () => stops.push('drain'));
  for (const signal of ['SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGTTIN', 'SIGTTOU'] as const) process.on(signal, () => undefined);
  return stops;
}
