import { createRequire } from 'node:module';
import { EXIT } from './exit.js';
import { WORKER_ENV } from './supervision/ipc.js';
import { InstallError, ListenError, PrivilegeError, UsageError } from './errors.js';
import { bindShared, removeSocket } from './serving/listen.js';
import { createLogger } from './log.js';
import { MASTER_SIGNALS, Master } from './supervision/master.js';
import { USAGE, parseRunnerArgs } from './options.js';
import { checkPython } from './supervision/python-worker.js';
import { chownSocket, dropPrivileges } from './supervision/privileges.js';
import { SignalQueue } from './supervision/signals.js';
import { StatsServer } from './supervision/stats.js';

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseRunnerArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`tsgi-runner: ${err.message}\n\n${USAGE}`);
    return err.exit;
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
  const { options } = parsed;
  if (options.python) {
    try {
      checkPython(options);
    } catch (err) {
      if (!(err instanceof UsageError || err instanceof InstallError)) throw err;
      process.stderr.write(`tsgi-runner: ${err.message}\n`);
      return err.exit;
    }
  }
  const worker = process.env[WORKER_ENV];
  if (worker !== undefined) {
    // Loaded by workers alone: the master never runs an app, and the serving code (the codec,
    // the app contracts) would add ~10 MiB to it.
    const { runWorkerProcess } = await import('./serving/worker-process.js');
    return runWorkerProcess(options, createLogger(options.logLevel, { name: 'tsgi-runner', worker: Number(worker) }));
  }
  const signals = new SignalQueue(MASTER_SIGNALS);
  const log = createLogger(options.logLevel, { name: 'tsgi-runner', role: 'master' });
  let socket;
  try {
    socket = await bindShared(options.address, options.mode);
  } catch (err) {
    if (!(err instanceof ListenError)) throw err;
    log.fatal(err.message);
    return err.exit;
  }
  const master = new Master(options, socket, log, argv);
  const stats = options.stats ? new StatsServer(options.stats, () => master.stats(), log) : null;
  try {
    if (options.chown) chownSocket(options.address, options.chown);
    await stats?.listen();
    // Bound: now the master and the workers it forks give up what they no longer need.
    dropPrivileges(options.uid, options.gid);
  } catch (err) {
    stats?.close();
    socket.close();
    if (!(err instanceof ListenError || err instanceof PrivilegeError)) throw err;
    log.fatal(err.message);
    return err.exit;
  }
  try {
    const code = await master.run(signals);
    log.info({ code }, 'stopped');
    return code;
  } finally {
    stats?.close();
    socket.close();
    removeSocket(options.address);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // The app may hold timers or sockets of its own; a stopped runner exits regardless.
    process.exit(code);
  },
  (err) => {
    process.stderr.write(`tsgi-runner: ${(err as Error).stack ?? String(err)}\n`);
    // Workers, the socket or the app's timers would keep a failed runner alive.
    process.exit(EXIT.FAILURE);
  },
);
