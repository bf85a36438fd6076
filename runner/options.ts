import { parseArgs } from 'node:util';
import { AddressError, parseAddress, type Address } from '../protocol/index.js';

export interface RunnerOptions {
  app: string;
  address: Address;
  mode: number;
  maxStreams: number;
  gracefulTimeoutMs: number;
  logLevel: string;
}

export const USAGE = `Usage: tsgi-runner [options] APP

Hosts a JavaScript application for tsgi-proxy. APP is path/to/file.js[:exportName]
(the default export when no name is given).

Options:
  -s, --socket ADDR          where to listen: unix:PATH or HOST:PORT   (default unix:tsgi.sock)
      --chmod MODE           octal permissions of a Unix socket         (default 660)
      --max-streams N        concurrent requests per proxy connection   (default 1024)
      --graceful-timeout S   seconds SIGTERM waits for requests         (default 30)
      --log-level LEVEL      fatal|error|warn|info|debug|trace          (default info)
  -h, --help                 show this help
  -v, --version              print the version

Signals: SIGTERM and SIGINT drain (no new requests, in-flight ones finish, socket removed).
`;

/** A bad command line; the CLI prints the message and exits with status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type ParsedArgs = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; options: RunnerOptions };

export function parseRunnerArgs(argv: string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        socket: { type: 'string', short: 's', default: 'unix:tsgi.sock' },
        chmod: { type: 'string', default: '660' },
        'max-streams': { type: 'string', default: '1024' },
        'graceful-timeout': { type: 'string', default: '30' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  if (positionals.length !== 1) throw new UsageError('expected exactly one APP argument (path/to/file.js[:export])');
  return {
    kind: 'run',
    options: {
      app: positionals[0]!,
      address: address(values.socket!),
      mode: octal(values.chmod!),
      maxStreams: integer(values['max-streams']!, '--max-streams', 1, 0xffffffff),
      gracefulTimeoutMs: integer(values['graceful-timeout']!, '--graceful-timeout', 0, 86400) * 1000,
      logLevel: level(values['log-level']!),
    },
  };
}

function address(text: string): Address {
  try {
    return parseAddress(text);
  } catch (err) {
    if (err instanceof AddressError) throw new UsageError(`--socket: ${err.message}`);
    throw err;
  }
}

function octal(text: string): number {
  if (!/^0?[0-7]{3}$/.test(text)) throw new UsageError(`--chmod: expected an octal mode like 660, got "${text}"`);
  return parseInt(text, 8);
}

function integer(text: string, name: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new UsageError(`${name}: expected an integer in ${min}..${max}, got "${text}"`);
  return n;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function level(text: string): string {
  if (!LEVELS.includes(text)) throw new UsageError(`--log-level: expected one of ${LEVELS.join(', ')}, got "${text}"`);
  return text;
}
