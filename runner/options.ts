import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { AddressError, parseAddress, type Address } from '../protocol/index.js';

export interface RunnerOptions {
  app: string;
  address: Address;
  mode: number;
  maxStreams: number;
  gracefulTimeoutMs: number;
  logLevel: string;
  /** Worker processes under the master (`auto` = os.availableParallelism()). */
  workers: number;
  /** Per-request deadline (0 = none); a worker blocked past it is killed by the master. */
  harakiriMs: number;
  /** Recycle a worker after this many requests (0 = never), plus up to `maxRequestsJitter`. */
  maxRequests: number;
  maxRequestsJitter: number;
  /** Recycle a worker whose resident memory passes this many bytes (0 = never). */
  reloadOnRssBytes: number;
  /** Where the stats server listens (`--stats`), or null. */
  stats: Address | null;
  /** Owner of the Unix socket (`--chown user:group`); null parts are left as they are. */
  chown: { user: string | null; group: string | null } | null;
  /** User and group to switch to after binding (`--uid`, `--gid`). */
  uid: string | null;
  gid: string | null;
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
  -w, --workers N|auto       worker processes sharing the socket       (default 1)
      --harakiri S           per-request deadline in seconds; 0 = none  (default 0)
      --max-requests N       recycle a worker after N requests; 0 = never (default 0)
      --max-requests-jitter N  add 0..N to --max-requests per worker    (default 0)
      --reload-on-rss MB     recycle a worker above MB resident memory  (default 0)
      --stats ADDR           serve JSON statistics on unix:PATH or HOST:PORT
      --chown USER:GROUP     owner of the Unix socket (needs privileges)
      --uid USER             switch to this user after binding
      --gid GROUP            switch to this group after binding
  -h, --help                 show this help
  -v, --version              print the version

Signals (to the master): SIGTERM graceful stop (in-flight requests finish, up to
--graceful-timeout); SIGINT, SIGQUIT fast stop; SIGHUP graceful reload (new workers ready
before the old ones drain); SIGTTIN / SIGTTOU one worker more / less.
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
        workers: { type: 'string', short: 'w', default: '1' },
        harakiri: { type: 'string', default: '0' },
        'max-requests': { type: 'string', default: '0' },
        'max-requests-jitter': { type: 'string', default: '0' },
        'reload-on-rss': { type: 'string', default: '0' },
        stats: { type: 'string' },
        chown: { type: 'string' },
        uid: { type: 'string' },
        gid: { type: 'string' },
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
      address: address(values.socket!, '--socket'),
      mode: octal(values.chmod!),
      maxStreams: integer(values['max-streams']!, '--max-streams', 1, 0xffffffff),
      gracefulTimeoutMs: integer(values['graceful-timeout']!, '--graceful-timeout', 0, 86400) * 1000,
      logLevel: level(values['log-level']!),
      workers: workers(values.workers!),
      harakiriMs: integer(values.harakiri!, '--harakiri', 0, 86400) * 1000,
      maxRequests: integer(values['max-requests']!, '--max-requests', 0, 0x7fffffff),
      maxRequestsJitter: jitter(values['max-requests-jitter']!, values['max-requests']!),
      reloadOnRssBytes: integer(values['reload-on-rss']!, '--reload-on-rss', 0, 1024 * 1024) * 1024 * 1024,
      stats: values.stats === undefined ? null : address(values.stats, '--stats'),
      chown: values.chown === undefined ? null : owner(values.chown),
      uid: values.uid === undefined ? null : principal(values.uid, '--uid', 'a user name or uid'),
      gid: values.gid === undefined ? null : principal(values.gid, '--gid', 'a group name or gid'),
    },
  };
}

function address(text: string, option: string): Address {
  try {
    return parseAddress(text);
  } catch (err) {
    if (err instanceof AddressError) throw new UsageError(`${option}: ${err.message}`);
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

const NAME = /^(?:\d+|[A-Za-z_][A-Za-z0-9_.-]*\$?)$/;

function principal(text: string, option: string, what: string): string {
  if (!NAME.test(text) || text.length > 64) throw new UsageError(`${option}: expected ${what}, got "${text}"`);
  return text;
}

function owner(text: string): { user: string | null; group: string | null } {
  const match = /^([^:]*):([^:]*)$/.exec(text);
  if (!match || (match[1] === '' && match[2] === '')) throw new UsageError(`--chown: expected USER:GROUP (one of them may be empty), got "${text}"`);
  return {
    user: match[1] === '' ? null : principal(match[1]!, '--chown', 'a user name or uid'),
    group: match[2] === '' ? null : principal(match[2]!, '--chown', 'a group name or gid'),
  };
}

/** At most this many workers: a typo like 1000 should not fork-bomb the machine. */
export const MAX_WORKERS = 512;

function workers(text: string): number {
  if (text === 'auto') return availableParallelism();
  return integer(text, '--workers', 1, MAX_WORKERS);
}

function jitter(text: string, maxRequests: string): number {
  const n = integer(text, '--max-requests-jitter', 0, 0x7fffffff);
  if (n > 0 && maxRequests === '0') throw new UsageError('--max-requests-jitter needs --max-requests');
  return n;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function level(text: string): string {
  if (!LEVELS.includes(text)) throw new UsageError(`--log-level: expected one of ${LEVELS.join(', ')}, got "${text}"`);
  return text;
}
