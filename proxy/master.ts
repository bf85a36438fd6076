import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/** tsgi-proxy's exit code for a listen address that cannot be bound (cli.ts), passed on from a worker. */
export const LISTEN_EXIT = 4;

/**
 * `workers N`: a primary that forks N proxy processes sharing the listening sockets (Node's
 * cluster hands the same listening handle to each), like nginx's worker_processes. The primary
 * serves no request; it reports readiness once every worker listens, replaces a worker that
 * dies, passes SIGHUP on (each worker reloads in place, keeping its listening sockets), and on
 * SIGTERM (graceful) or SIGINT/SIGQUIT (at once) passes the stop on and waits for all of them.
 */
export async function runPrimary(
  count: number,
  log: Logger,
  signals: { next(): Promise<NodeJS.Signals> },
  configIsValid: () => boolean,
): Promise<number> {
  let stopping = false;
  const ready = new Set<number>();
  let announced = false;
  // A worker that dies before it ever listened will die again: stop instead of respawning forever,
  // with its exit code when it said why (4: a listen address that cannot be bound).
  let failedBoot: (() => void) | null = null;
  let bootExit = 1;
  const bootFailure = new Promise<'boot-failure'>((resolve) => (failedBoot = () => resolve('boot-failure')));

  const fork = (index: number): Worker => {
    const worker = cluster.fork({ TSGI_PROXY_WORKER: String(index) });
    worker.on('message', (message: { type?: string; listen?: string[] }) => {
      if (message?.type !== 'ready') return;
      ready.add(index);
      if (!announced && ready.size === count) {
        announced = true;
        log.info({ workers: count, listen: message.listen }, 'proxy ready');
      }
    });
    worker.once('exit', (code, signal) => {
      const wasReady = ready.delete(index);
      if (stopping) return;
      if (!wasReady) {
        log.fatal({ worker: index, workerPid: worker.process.pid, code, signal }, 'proxy worker failed to start; stopping');
        if (code === LISTEN_EXIT) bootExit = LISTEN_EXIT;
        failedBoot?.();
        return;
      }
      log.error({ worker: index, workerPid: worker.process.pid, code, signal }, 'proxy worker died; starting a new one');
      setTimeout(() => workers.set(index, fork(index)), 250).unref();
    });
    return worker;
  };

  const workers = new Map<number, Worker>();
  for (let i = 1; i <= count; i++) workers.set(i, fork(i));

  let outcome: NodeJS.Signals | 'boot-failure';
  for (;;) {
    outcome = await Promise.race([signals.next(), bootFailure]);
    if (outcome !== 'SIGHUP') break;
    // Checked here first, so a broken config is refused once, not by every worker.
    if (!configIsValid()) continue;
    log.info({ workers: workers.size }, 'reloading the workers');
    for (const worker of workers.values()) worker.process.kill('SIGHUP');
  }
  stopping = true;
  if (outcome !== 'boot-failure') log.info({ signal: outcome }, 'stopping');
  await Promise.all(
    [...workers.values()].map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          worker.once('exit', () => resolve());
          // The workers stop the way the primary was told to: drain on SIGTERM, at once otherwise.
          worker.process.kill(outcome === 'SIGTERM' ? 'SIGTERM' : 'SIGQUIT');
        }),
    ),
  );
  return outcome === 'boot-failure' ? bootExit : 0;
}

/** In a cluster worker: tells the primary this worker listens. */
export function reportReady(listen: string[]): void {
  if (cluster.isWorker) process.send?.({ type: 'ready', listen });
}

export function isProxyWorker(): boolean {
  return cluster.isWorker;
}
