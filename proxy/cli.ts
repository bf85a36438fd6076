#!/usr/bin/env node
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { ConfigError } from './config/errors.js';
import { loadConfig } from './config/load.js';
import { createLogger } from './log.js';
import { isProxyWorker, reportReady, runPrimary } from './master.js';
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

Signals: SIGTERM and SIGINT stop gracefully (in-flight requests finish).
`;

const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, CONFIG: 3 } as const;
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
  if (count > 1 && !isProxyWorker()) return runPrimary(count, log, nextSignal);
  const runtime = await ProxyRuntime.start(config, log);
  if (isProxyWorker()) reportReady(runtime.addresses);
  else log.info({ config: file, listen: runtime.addresses }, 'proxy ready');
  const signal = await nextSignal();
  log.info({ signal }, 'stopping');
  await runtime.stop();
  return EXIT.OK;
}

/**
 * Signal handlers only record the signal; main() acts on it. A second one forces the exit.
 * A cluster worker listens to SIGTERM alone: the terminal's Ctrl-C reaches the whole process
 * group, and the primary orchestrates the stop.
 */
function nextSignal(): Promise<NodeJS.Signals> {
  const signals: NodeJS.Signals[] = isProxyWorker() ? ['SIGTERM'] : ['SIGTERM', 'SIGINT'];
  if (isProxyWorker()) process.on('SIGINT', () => undefined);
  return new Promise((resolve) => {
    let seen = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (seen) process.exit(EXIT.FAILURE);
      seen = true;
      resolve(signal);
    };
    for (const signal of signals) process.on(signal, onSignal);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`tsgi-proxy: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(EXIT.FAILURE);
  },
);
