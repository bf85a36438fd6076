import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { AddressError, parseAddress, type Address } from '../protocol/address.js';
import { UsageError } from './errors.js';

/** Which calling convention the app follows (`--contract`); `auto` detects it from the export. */
export type Contract = 'auto' | 'wsgi' | 'fetch' | 'node';
export const CONTRACTS: readonly Contract[] = ['auto', 'wsgi', 'fetch', 'node'];

export interface RunnerOptions {
  /** `file.js[:export]`, or `module:callable` with `python`. */
  app: string;
  /** JavaScript apps: the calling convention. */
  contract: Contract;
  /** Host a Python WSGI app (`--python`) in Python worker processes. */
  python: boolean;
  /** The interpreter the Python workers run (`--python-executable`). */
  pythonExecutable: string;
  /** Python workers: the directory to change to and import the app from (`--chdir`), or null. */
  chdir: string | null;
  /** Python workers: threads serving requests concurrently in each worker (`--threads`). */
  threads: number;
  /** Listen on a TCP address other than loopback (`--allow-remote`). */
  allowRemote: boolean;
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
       tsgi-runner --python [options] MODULE:CALLABLE

Hosts an application for tsgi-proxy. APP is path/to/file.js[:exportName] (the default export
when no name is given): a WSGI-style app(environ, startResponse), a fetch-style handler
(export default { fetch } or (request) => Response) or a Node (req, res) listener.
--contract auto picks: an object with fetch, or a function of 1 parameter: fetch; a function
of 3 parameters (Express's app): node; any other function: wsgi. A plain (req, res) listener
has a WSGI app's 2 parameters: pass --contract node.
With --python, a Python WSGI callable such as a Flask app (MODULE:CALLABLE, like gunicorn).

Options:
      --contract KIND        auto|wsgi|fetch|node: how to call a JavaScript app (default auto)
      --python               host a Python WSGI app in Python worker processes
      --python-executable P  the Python interpreter for --python   (default python3, $TSGI_PYTHON)
      --chdir DIR            with --python: import the app from DIR (default the current one)
      --threads N            with --python: threads per worker serving requests (default 1)
      --allow-remote         allow --socket on a non-loopback TCP address
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

export type ParsedArgs = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; options: RunnerOptions };

export function parseRunnerArgs(argv: string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        socket: { type: 'string', short: 's', default: 'unix:tsgi.sock' },
        contract: { type: 'string', default: 'auto' },
        python: { type: 'boolean', default: false },
        'python-executable': { type: 'string' },
        chdir: { type: 'string' },
        threads: { type: 'string', default: '1' },
        'allow-remote': { type: 'boolean', default: false },
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
  const python = values.python!;
  if (positionals.length !== 1) throw new UsageError(python ? 'expected exactly one MODULE:CALLABLE argument' : 'expected exactly one APP argument (path/to/file.js[:export])');
  const app = positionals[0]!;
  if (python && !PYTHON_APP.test(app)) throw new UsageError(`expected MODULE:CALLABLE like "app:app" or "pkg.wsgi:application", got "${app}"`);
  if (!python) pythonOnly(values);
  if (python && values.contract !== 'auto') throw new UsageError('--contract is for JavaScript apps; a Python app is a WSGI callable');
  const allowRemote = values['allow-remote']!;
  return {
    kind: 'run',
    options: {
      app,
      contract: contract(values.contract!),
      python,
      pythonExecutable: values['python-executable'] ?? process.env.TSGI_PYTHON ?? 'python3',
      chdir: values.chdir ?? null,
      threads: integer(values.threads!, '--threads', 1, 1024),
      allowRemote,
      address: local(address(values.socket!, '--socket'), allowRemote, '--socket'),
      mode: octal(values.chmod!),
      maxStreams: integer(values['max-streams']!, '--max-streams', 1, 0xffffffff),
      gracefulTimeoutMs: integer(values['graceful-timeout']!, '--graceful-timeout', 0, 86400) * 1000,
      logLevel: level(values['log-level']!),
      workers: workers(values.workers!),
      harakiriMs: integer(values.harakiri!, '--harakiri', 0, 86400) * 1000,
      maxRequests: integer(values['max-requests']!, '--max-requests', 0, 0x7fffffff),
      maxRequestsJitter: jitter(values['max-requests-jitter']!, values['max-requests']!),
      reloadOnRssBytes: integer(values['reload-on-rss']!, '--reload-on-rss', 0, 1024 * 1024) * 1024 * 1024,
      stats: values.stats === undefined ? null : local(address(values.stats, '--stats'), allowRemote, '--stats'),
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

/** `module.sub:callable` or `module:factory()`, as gunicorn accepts (a call with no arguments). */
const PYTHON_APP = /^[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*(?:\(\))?$/;

function pythonOnly(values: Record<string, unknown>): void {
  for (const name of ['python-executable', 'chdir'] as const) {
    if (values[name] !== undefined) throw new UsageError(`--${name} needs --python`);
  }
  if (values.threads !== '1') throw new UsageError('--threads needs --python (a JavaScript worker is one event loop; use --workers)');
}

function contract(text: string): Contract {
  if (!(CONTRACTS as readonly string[]).includes(text)) throw new UsageError(`--contract: expected one of ${CONTRACTS.join(', ')}, got "${text}"`);
  return text as Contract;
}

/**
 * The protocol has no authentication: anyone who can connect can run requests as the app.
 * A TCP socket therefore stays on loopback unless the operator says otherwise.
 */
function local(where: Address, allowRemote: boolean, option: string): Address {
  if (where.kind === 'tcp' && !allowRemote && !isLoopback(where.host)) {
    throw new UsageError(`${option}: ${where.host} is not a loopback address; the protocol has no authentication, so pass --allow-remote to listen there (on a private network only)`);
  }
  return where;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
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
