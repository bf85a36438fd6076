/**
 * The systems compared, each started as real processes on the server CPU and ready when a
 * plain GET gets the hello answer. Started processes are recorded in `ctx.started` as they
 * are spawned, so the caller stops them even when starting fails halfway. The nginx-fronted
 * systems are in nginx.ts; catalogue.ts lists them all.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LogKind } from './logs.js';
import { freePort, get, helloMismatch, unixSocketBound, waitFor } from './probe.js';
import type { Processes } from './processes.js';
import { HELLO_WSGI_APP } from './scenarios.js';
import { PROXY_GLIBC_TUNABLES, PROXY_NODE_OPTIONS, withTunables } from '../../proxy/node-options.js';

export interface StartedProcess {
  name: string;
  child: ChildProcess;
  log: string;
  /** How to read its log for findings. */
  logKind: LogKind;
}

export interface SystemContext {
  /** Repository root, with a trailing slash. */
  root: string;
  /** This bench run's temporary directory (sockets, config, logs). */
  dir: string;
  /** Unique per measurement: names this measurement's sockets, configs and logs. */
  tag: string;
  round: number;
  processes: Processes;
  /** The server CPU; null when not pinned. */
  cpu: number | null;
  /** The load generator's CPU; null when not pinned. */
  loadCpu: number | null;
  logLevel: string;
  signal: AbortSignal;
  /** Filled in spawn order; stopped in reverse. */
  started: StartedProcess[];
  /** Extra node flags per process name (profile.ts: --cpu-prof); none by default. */
  nodeFlags?: (name: string) => string[];
  /** MODULE:CALLABLE in test/bench that Python systems host (default wsgi_app:application). */
  wsgiApp?: string;
}

export interface System {
  name: string;
  describe: string;
  /** Why this system cannot run on this machine (a program not installed), or null. */
  missing(): string | null;
  /** Starts the processes and waits until they answer; resolves to the base URL (with a slash). */
  start(ctx: SystemContext): Promise<string>;
  /** Hosts the Python WSGI app `ctx.wsgiApp`, so it can run the framework scenarios. */
  hostsPython?: boolean;
  /** Answers "Hello World!" to everything: runs the hello scenarios only (a reference, not a server). */
  helloOnly?: boolean;
  /** Runs these scenarios only (a variant shown beside its system where it differs). */
  only?: readonly string[];
  /** Runs on both CPUs, the load generator's too: there is no server CPU of its own to watch. */
  bothCpus?: boolean;
}

export const READY_TIMEOUT_MS = 10_000;

export interface SpawnAs {
  cpu?: number | string | null;
  logKind?: LogKind;
  /** node flags before the script (spawnNode), after the profiler's. */
  nodeFlags?: string[];
  /** The environment (default: the bench's own). */
  env?: NodeJS.ProcessEnv;
}

export function spawnLogged(ctx: SystemContext, name: string, command: string, args: string[], as: SpawnAs = {}): ChildProcess {
  const log = join(ctx.dir, `${ctx.tag}-${name}.log`);
  const cpu = as.cpu === undefined ? ctx.cpu : as.cpu;
  const child = ctx.processes.spawn(name, command, args, { cwd: ctx.root, cpu, output: log, env: as.env });
  ctx.started.push({ name, child, log, logKind: as.logKind ?? 'pino' });
  return child;
}

export function spawnNode(ctx: SystemContext, name: string, script: string, args: string[], as: SpawnAs = {}): ChildProcess {
  return spawnLogged(ctx, name, process.execPath, [...(ctx.nodeFlags?.(name) ?? []), ...(as.nodeFlags ?? []), `${ctx.root}${script}`, ...args], as);
}

async function answers(url: string): Promise<void> {
  const why = helloMismatch(await get(url));
  if (why) throw new Error(why);
}

export function ready(ctx: SystemContext, what: string, url: string): Promise<void> {
  const children = ctx.started.map((s) => s.child);
  return waitFor(what, () => answers(url), { timeoutMs: READY_TIMEOUT_MS, children, signal: ctx.signal });
}

export function socketReady(ctx: SystemContext, what: string, socket: string): Promise<void> {
  const children = ctx.started.map((s) => s.child);
  return waitFor(what, () => unixSocketBound(socket), { timeoutMs: READY_TIMEOUT_MS, children, signal: ctx.signal });
}

const always = () => null;

function direct(name: string, script: string, describe: string): System {
  return {
    name,
    describe,
    missing: always,
    async start(ctx) {
      const port = await freePort();
      spawnNode(ctx, 'server', script, [String(port)], { logKind: 'plain' });
      const url = `http://127.0.0.1:${port}/`;
      await ready(ctx, name, url);
      return url;
    },
  };
}

export const nodeHttp = direct('node:http', 'dist/test/bench/node-server.js', 'node:http server answering directly (the ceiling)');
export const fastify = direct('fastify', 'dist/test/bench/fastify-server.js', 'fastify answering directly');

interface TsgiShape {
  name: string;
  describe: string;
  /** The runner's app arguments: the JavaScript bench app, or the Python one with --python. */
  app?: (ctx: SystemContext) => string[];
  hostsPython?: boolean;
  missing?: () => string | null;
  /** The proxy's `workers` directive. */
  proxyWorkers: string;
  runnerWorkers: number;
  /** Both CPUs instead of the server CPU alone. */
  bothCpus: boolean;
  /** Which locations buffer (ProxyBuffering); 'as-nginx' unless said. */
  buffering?: ProxyBuffering;
  /** The proxy's --log-level; the bench's (warn: no access log) unless said. */
  proxyLogLevel?: string;
  /** Variables added to the proxy's environment. */
  proxyEnv?: NodeJS.ProcessEnv;
  helloOnly?: boolean;
  /** Starts something else than tsgi-runner on `socket` (python floor); what waits for it is named `what`. */
  runner?: { what: string; spawn: (ctx: SystemContext, socket: string) => void };
}

function tsgiSystem(shape: TsgiShape): System {
  return {
    name: shape.name,
    describe: shape.describe,
    missing: shape.missing ?? always,
    hostsPython: shape.hostsPython ?? false,
    helloOnly: shape.helloOnly ?? false,
    bothCpus: shape.bothCpus,
    async start(ctx) {
      const cpu = shape.bothCpus && ctx.cpu !== null && ctx.loadCpu !== null ? `${ctx.cpu},${ctx.loadCpu}` : ctx.cpu;
      const socket = join(ctx.dir, `${ctx.tag}-runner.sock`);
      const level = ['--log-level', ctx.logLevel];
      if (shape.runner) {
        shape.runner.spawn(ctx, socket);
      } else {
        const app = shape.app?.(ctx) ?? [`${ctx.root}dist/test/bench/tsgi-app.js`];
        const runnerArgs = ['--socket', `unix:${socket}`, '--workers', String(shape.runnerWorkers), ...level, ...app];
        spawnNode(ctx, 'runner', 'dist/runner/cli.js', runnerArgs, { cpu });
      }
      await socketReady(ctx, shape.runner?.what ?? 'tsgi-runner', socket);
      const port = await freePort();
      const config = join(ctx.dir, `${ctx.tag}-tsgi.conf`);
      writeFileSync(config, proxyConfig(socket, port, shape.proxyWorkers, shape.buffering ?? 'as-nginx'));
      // As deployed: the node flags and allocator settings of deploy/systemd/tsgi-proxy.service
      // (proxy/node-options.ts).
      const proxyLevel = shape.proxyLogLevel ? ['--log-level', shape.proxyLogLevel] : level;
      const env = withTunables({ ...process.env, ...shape.proxyEnv }, PROXY_GLIBC_TUNABLES);
      spawnNode(ctx, 'proxy', 'dist/proxy/cli.js', ['-c', config, ...proxyLevel], { cpu, nodeFlags: PROXY_NODE_OPTIONS.split(' '), env });
      const url = `http://127.0.0.1:${port}/`;
      await ready(ctx, 'tsgi-proxy', url);
      return url;
    },
  };
}

/**
 * 'as-nginx': the locations the nginx configs have (nginx.ts), buffered and streamed alike, so
 * the two are compared like for like; 'on': tsgi's defaults everywhere (tsgi_buffering and
 * tsgi_request_buffering on, what a user gets); 'off': both off everywhere.
 */
export type ProxyBuffering = 'as-nginx' | 'on' | 'off';

export function proxyConfig(socket: string, port: number, workers: string, buffering: ProxyBuffering = 'as-nginx'): string {
  const all = buffering === 'as-nginx' ? 'on' : buffering;
  const only = (what: string) => (buffering === 'as-nginx' ? ` ${what} off;` : '');
  return `# Generated by test/bench/systems.ts: one runner on a Unix socket, the proxy on a free local port.

workers ${workers};

upstream bench {
    server unix:${socket};
}

server {
    listen 127.0.0.1:${port};
    # As in the nginx configurations (nginx.ts): a busy connection is never closed for its
    # request count. At the default, 1,000, each of hello-c50's connections reconnected every
    # two seconds and paid a handshake nginx did not.
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    # The upload scenario sends up to 256 MiB (and more with --upload-mib).
    client_max_body_size 0;
    tsgi_buffering ${all};
    tsgi_request_buffering ${all};

    location / {
        tsgi_pass bench;
    }
    location /download/ {
        tsgi_pass bench;${only('tsgi_buffering')}
    }
    location = /upload {
        tsgi_pass bench;${only('tsgi_request_buffering')}
    }
}
`;
}

export const tsgi = tsgiSystem({
  name: 'tsgi',
  describe: 'tsgi-proxy (workers 1) -> tsgi-runner (--workers 1) over a Unix socket, all on the server CPU; buffering per location as the nginx configs',
  proxyWorkers: '1',
  runnerWorkers: 1,
  bothCpus: false,
});

/** The proxy at its default log level: one access line per request, on stdout to a file (issue #12, target 8). */
export const tsgiLogged = tsgiSystem({
  name: 'tsgi access log',
  describe: 'tsgi with the proxy at its default --log-level info: an access line per request (JSON, pino) on stdout, written to a file; hello scenarios only',
  proxyWorkers: '1',
  runnerWorkers: 1,
  bothCpus: false,
  proxyLogLevel: 'info',
  helloOnly: true,
});

/** The proxy without its lane: every client connection read and answered by node:http's server. */
export const tsgiNodeHttp = tsgiSystem({
  name: 'tsgi node:http',
  describe: "tsgi with TSGI_LANE=off: node:http's server reads and answers every request (proxy/lane/ off), for the lane's before/after",
  proxyWorkers: '1',
  runnerWorkers: 1,
  bothCpus: false,
  proxyEnv: { TSGI_LANE: 'off' },
});

/** tsgi's defaults everywhere: the download and the upload buffered too. */
export const tsgiBuffered = tsgiSystem({
  name: 'tsgi buffered',
  describe: 'tsgi with tsgi_buffering and tsgi_request_buffering on everywhere (the defaults): bodies pass through memory and temporary files',
  proxyWorkers: '1',
  runnerWorkers: 1,
  bothCpus: false,
  buffering: 'on',
});

/** Both bodies streamed everywhere, with flow control. */
export const tsgiStreamed = tsgiSystem({
  name: 'tsgi streamed',
  describe: 'tsgi with tsgi_buffering and tsgi_request_buffering off everywhere: bodies streamed as they come, with flow control',
  proxyWorkers: '1',
  runnerWorkers: 1,
  bothCpus: false,
  buffering: 'off',
});

/** Debian's interpreter: the one that sees python3-msgpack (and the one uWSGI's plugin and gunicorn run). */
export const PYTHON = '/usr/bin/python3';

export function wsgiAppOf(ctx: SystemContext): string {
  return ctx.wsgiApp ?? HELLO_WSGI_APP;
}

/** tsgi in front of the same Python app nginx + uWSGI runs: the gateway compared, app held equal. */
export const tsgiPython = tsgiSystem({
  name: 'tsgi+python',
  describe: 'tsgi-proxy (workers 1) -> tsgi-runner --python (--workers 1, the Python WSGI app) over a Unix socket, all on the server CPU',
  proxyWorkers: '1',
  runnerWorkers: 1,
  bothCpus: false,
  hostsPython: true,
  app: (ctx) => ['--python', '--python-executable', PYTHON, '--chdir', `${ctx.root}test/bench`, wsgiAppOf(ctx)],
  missing: () => (spawnSync(PYTHON, ['-c', 'import msgpack'], { stdio: 'ignore' }).status === 0 ? null : `${PYTHON} cannot import msgpack (apt-get install python3-msgpack)`),
});

/** The same with `--threads 4`, against nginx+uwsgi threads (uWSGI `--threads 4`). */
export const tsgiPythonThreads = tsgiSystem({
  name: 'tsgi+python threads',
  describe: 'tsgi-proxy (workers 1) -> tsgi-runner --python --threads 4 (--workers 1, the Python WSGI app) over a Unix socket, all on the server CPU',
  proxyWorkers: '1',
  runnerWorkers: 1,
  bothCpus: false,
  hostsPython: true,
  app: (ctx) => ['--python', '--threads', '4', '--python-executable', PYTHON, '--chdir', `${ctx.root}test/bench`, wsgiAppOf(ctx)],
  missing: tsgiPython.missing,
});

/**
 * The floor of a Python worker behind the same proxy: test/bench/python_floor.py answers every
 * REQUEST from bytes encoded once, reading and writing as the worker does, without WSGI. What
 * tsgi+python's worker spends above it is its own Python (issue #15, PROFILE.md).
 */
export const pythonFloor = tsgiSystem({
  name: 'python floor',
  describe: 'tsgi-proxy (workers 1) -> python_floor.py (the protocol and the system calls of a Python worker, no WSGI) over a Unix socket, all on the server CPU; hello scenarios only',
  proxyWorkers: '1',
  runnerWorkers: 1,
  bothCpus: false,
  helloOnly: true,
  missing: tsgiPython.missing,
  runner: {
    what: 'python_floor.py',
    spawn: (ctx, socket) => void spawnLogged(ctx, 'runner', PYTHON, [`${ctx.root}test/bench/python_floor.py`, socket], { logKind: 'plain' }),
  },
});

export const tsgiTwoCores = tsgiSystem({
  name: 'tsgi 2 cores',
  describe: 'tsgi-proxy (workers auto) -> tsgi-runner (--workers 2) on both CPUs, one of them shared with the load generator',
  proxyWorkers: 'auto',
  runnerWorkers: 2,
  bothCpus: true,
});

export const fastifyProxy: System = {
  name: 'fastify-proxy',
  describe: 'fastify + @fastify/http-proxy (undici pool) -> node:http on a Unix socket, both on the server CPU',
  missing: always,
  async start(ctx) {
    const socket = join(ctx.dir, `${ctx.tag}-backend.sock`);
    spawnNode(ctx, 'backend', 'dist/test/bench/node-server.js', [`unix:${socket}`], { logKind: 'plain' });
    await socketReady(ctx, 'node:http backend', socket);
    const port = await freePort();
    spawnNode(ctx, 'proxy', 'dist/test/bench/fastify-proxy.js', [String(port), socket], { logKind: 'plain' });
    const url = `http://127.0.0.1:${port}/`;
    await ready(ctx, 'fastify-proxy', url);
    return url;
  },
};
