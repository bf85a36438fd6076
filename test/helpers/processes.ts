/**
 * Real processes for end-to-end tests: tsgi-runner and tsgi-proxy started from the build
 * (npm test builds first), their JSON log lines captured, and every one of them stopped by PID
 * when the test ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const FIXTURES = join(ROOT, 'test/fixtures');

export interface Teardown {
  teardown(fn: () => unknown): void;
}

export type LogLine = Record<string, unknown> & { msg?: string };

export class Proc {
  readonly logs: LogLine[] = [];
  stderr = '';
  private waiters: Array<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = [];
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop()!;
      for (const raw of lines) this.onLine(raw);
    });
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (this.stderr += text));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first log line (past or future) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    const seen = this.logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line in ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      this.waiters.push({ match, resolve: (line) => (clearTimeout(timer), resolve(line)) });
      void this.exited.then(() => setTimeout(() => reject(new Error(`process exited: ${this.stderr}`)), 50));
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }

  private onLine(raw: string): void {
    let line: LogLine;
    try {
      line = JSON.parse(raw) as LogLine;
    } catch {
      line = { msg: raw, unparsed: true };
    }
    this.logs.push(line);
    this.waiters = this.waiters.filter((w) => (w.match(line) ? (w.resolve(line), false) : true));
  }
}

export function tempDir(t: Teardown, prefix = 'tsgi-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The environment for child processes, without tap's per-process instrumentation (it costs
 * over a second per spawn; the children run the built JavaScript, measured by the e2e tests'
 * assertions rather than by line coverage).
 */
export function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key === 'NODE_OPTIONS' || key.startsWith('_TAPJS_') || key === 'NODE_V8_COVERAGE') delete env[key];
  return env;
}

/**
 * Every child we start, so none outlives the test process: teardown stops them one by one,
 * and this catches the rest if the test dies (tap's timeout sends SIGTERM).
 */
const children = new Set<ChildProcess>();
function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
process.once('exit', killAll);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(1);
  });
}

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function spawnCli(t: Teardown, cli: 'runner' | 'proxy', args: string[]): Proc {
  const child = track(spawn(process.execPath, [join(ROOT, `dist/${cli}/cli.js`), ...args], { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] }));
  const proc = new Proc(child);
  t.teardown(async () => {
    if (proc.running) {
      child.kill('SIGKILL');
      await proc.exited;
    }
  });
  return proc;
}

export interface RunnerHandle {
  proc: Proc;
  socket: string;
}

export async function startRunner(t: Teardown, options: { app: string; socket: string; args?: string[] }): Promise<RunnerHandle> {
  const proc = spawnCli(t, 'runner', ['--socket', `unix:${options.socket}`, ...(options.args ?? []), options.app]);
  await proc.waitForLog((l) => l.msg === 'runner ready');
  return { proc, socket: options.socket };
}

export interface ProxyHandle {
  proc: Proc;
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  configFile: string;
}

/** Starts a proxy with `config` (use `listen 127.0.0.1:0;` to get a free port). */
export async function startProxy(t: Teardown, dir: string, config: string, args: string[] = []): Promise<ProxyHandle> {
  const configFile = join(dir, `proxy-${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(configFile, config);
  const proc = spawnCli(t, 'proxy', ['-c', configFile, ...args]);
  const ready = await proc.waitForLog((l) => l.msg === 'proxy ready');
  const listen = (ready.listen as string[])[0]!;
  const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
  return { proc, url: `http://127.0.0.1:${port}`, port, configFile };
}

/** A one-upstream, one-location config in front of `socket`. */
export function simpleConfig(socket: string, extra: { server?: string; location?: string } = {}): string {
  return `
upstream app {
    server unix:${socket};
}
server {
    listen 127.0.0.1:0;
    ${extra.server ?? ''}
    location / {
        tsgi_pass app;
        ${extra.location ?? ''}
    }
}
`;
}

/** Peak resident memory (VmHWM) of a process, in bytes. */
export function peakRss(pid: number): number {
  return statusField(pid, 'VmHWM');
}

export function rss(pid: number): number {
  return statusField(pid, 'VmRSS');
}

function statusField(pid: number, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match) throw new Error(`no ${field} for ${pid}`);
  return Number(match[1]) * 1024;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

