#!/usr/bin/env node
import { createRequire } from 'node:module';
import { AppLoadError } from './app-loader.js';
import { ListenError } from './listen.js';
import { createLogger } from './log.js';
import { USAGE, UsageError, parseRunnerArgs } from './options.js';
import { SignalQueue } from './signals.js';
import { startWorker, type WorkerHandle } from './worker.js';

/** Exit codes an operator (or a supervisor) can act on. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, APP_LOAD: 3, LISTEN: 4, TIMEOUT: 5 } as const;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseRunnerArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`tsgi-runner: ${err.message}\n\n${USAGE}`);
    return EXIT.USAGE;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (parsed.kind === 'version') {
    const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
    process.stdout.write(`tsgi-runner ${pkg.version}\n`);
    return EXIT.OK;
  }
  const signals = new SignalQueue(['SIGTERM', 'SIGINT']);
  const log = createLogger(parsed.options.logLevel, { name: 'tsgi-runner' });
  let worker: WorkerHandle;
  try {
    worker = await startWorker(parsed.options, log);
  } catch (err) {
    if (err instanceof AppLoadError) {
      log.fatal({ err: err.cause ?? err }, err.message);
      return EXIT.APP_LOAD;
    }
    if (err instanceof ListenError) {
      log.fatal(err.message);
      return EXIT.LISTEN;
    }
    throw err;
  }
  const signal = await signals.next();
  log.info({ signal }, 'draining');
  const draining = worker.drain();
  // A second signal while draining means "now".
  const outcome = await Promise.race([draining.then((clean) => (clean ? 'clean' : 'timeout')), signals.next().then(() => 'forced')]);
  if (outcome === 'forced') {
    log.warn('second signal: cancelling the requests still in flight');
    worker.server.close();
    // Let the cancelled apps' close() run before the process goes.
    await Promise.race([draining, sleep(FORCED_STOP_GRACE_MS)]);
  }
  log.info({ outcome }, 'stopped');
  return outcome === 'clean' ? EXIT.OK : EXIT.TIMEOUT;
}

/** How long a forced stop waits for cancelled apps to clean up. */
const FORCED_STOP_GRACE_MS = 1000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

main(process.argv.slice(2)).then(
  (code) => {
    // The app may hold timers or sockets of its own; a stopped runner exits regardless.
    process.exit(code);
  },
  (err) => {
    process.stderr.write(`tsgi-runner: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = EXIT.FAILURE;
  },
);
