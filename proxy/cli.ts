#!/usr/bin/env node
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { ConfigError } from './config/errors.js';
import { loadConfig } from './config/load.js';
import { BindError } from './errors.js';
import { createLogger } from './log.js';
import { LISTEN_EXIT, isProxyWorker, reportReady, runPrimary } from './master.js';
import { proxyV8Flags } from './node-options.js';
import { SignalQueue } from './signals.js';
import type { ProxyConfig } from './config/types.js';
import { ProxyRuntime } from './runtime.js';

const USAGE = `Usage: tsgi-proxy [-c FILE] [-t] [options]

The tsgi front proxy: accepts HTTP, routes it with nginx-style server/location
blocks and relays each request to tsgi runners over the tsgi protocol.

Options:
  -c, --config FILE      configuration file                 (default tsgi.conf)
  -t, --test             check the configuration and exit
      --log-level LEVEL  fatal|error|warn|info|debug|trace  (default info)
  -h, --help             show this help
  -v, --version          print the version

Exit codes: 0 stopped, 1 failure, 2 usage, 3 configuration, 4 cannot listen.

Signals: SIGHUP reloads the configuration (a config with errors is refused and
the running one stays); SIGTERM stops gracefully (in-flight requests finish,
a second SIGTERM stops at once); SIGINT and SIGQUIT stop at once.
`;

const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, CONFIG: 3, LISTEN: LISTEN_EXIT } as const;
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c', default: 'tsgi.conf' },
        test: { type: 'boolean', short: 't' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    }));
    if (!LEVELS.includes(values['log-level']!)) throw new Error(`--log-level: expected one of ${LEVELS.join(', ')}`);
  } catch (err) {
    process.stderr.write(`tsgi-proxy: ${(err as Error).message}\n\n${USAGE}`);
    return EXIT.USAGE;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (values.version) {
    const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
    process.stdout.write(`tsgi-proxy ${pkg.version}\n`);
    return EXIT.OK;
  }
  const file = values.config!;
  let config;
  try {
    config = loadConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`tsgi-proxy: [emerg] ${err.message}\ntsgi-proxy: configuration file ${file} test failed\n`);
    return EXIT.CONFIG;
  }
  if (values.test) {
    process.stdout.write(`tsgi-proxy: the configuration file ${file} syntax is ok\ntsgi-proxy: configuration file ${file} test is successful\n`);
    return EXIT.OK;
  }
  const count = config.workers === 'auto' ? availableParallelism() : config.workers;
  const log = createLogger(values['log-level']!, isProxyWorker() ? { worker: Number(process.env.TSGI_PROXY_WORKER) } : {});
  // A cluster worker takes its orders from the primary: the terminal's Ctrl-C reaches the whole
  // process group, so a worker ignores SIGINT and stops on the primary's SIGTERM.
  if (isProxyWorker()) process.on('SIGINT', () => undefined);
  const signals = new SignalQueue(isProxyWorker() ? ['SIGTERM', 'SIGQUIT', 'SIGHUP'] : ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP']);
  if (count > 1 && !isProxyWorker()) return runPrimary(count, log, signals, () => reloadable(file, log) !== null);
  let runtime;
  try {
    runtime = await ProxyRuntime.start(config, log);
  } catch (err) {
    if (!(err instanceof BindError)) throw err;
    log.fatal({ listen: err.address }, err.message);
    return EXIT.LISTEN;
  }
  if (isProxyWorker()) reportReady(runtime.addresses);
  else log.info({ config: file, listen: runtime.addresses }, 'proxy ready');
  let signal = await signals.next();
  while (signal === 'SIGHUP') {
    const fresh = reloadable(file, log);
    if (fresh) {
      try {
        await runtime.reload(fresh);
        log.info({ config: file, listen: runtime.addresses }, 'configuration reloaded');
      } catch (err) {
        if (err instanceof BindError) log.error({ config: file, listen: err.address }, `reload failed: ${err.message}; the running configuration stays`);
        else log.error({ config: file, err }, 'reload failed; the running configuration stays');
      }
    }
    signal = await signals.next();
  }
  log.info({ signal }, 'stopping');
  // SIGINT/SIGQUIT: now (connections cut); SIGTERM: drain, unless a second signal says "now".
  if (signal !== 'SIGTERM') {
    await runtime.stop(0);
    return EXIT.OK;
  }
  const outcome = await Promise.race([runtime.stop().then(() => 'clean' as const), untilStop(signals)]);
  return outcome === 'clean' ? EXIT.OK : EXIT.FAILURE;
}

/** The config file again, for a reload; null (and the error logged) when it does not pass. */
function reloadable(file: string, log: ReturnType<typeof createLogger>): ProxyConfig | null {
  try {
    return loadConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    log.error({ config: file, err: err.message }, 'reload refused: the configuration has errors; the running one stays');
    return null;
  }
}

async function untilStop(signals: SignalQueue): Promise<'forced'> {
  while ((await signals.next()) === 'SIGHUP');
  return 'forced';
}

// Before the first request: V8 reads the flag at each collection. In the primary and in each
// worker, which run this file too.
const v8Flags = proxyV8Flags(process.execArgv);
if (v8Flags) setFlagsFromString(v8Flags);

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`tsgi-proxy: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(EXIT.FAILURE);
  },
);
