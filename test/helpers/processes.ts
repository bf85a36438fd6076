/**
 * Real processes for end-to-end tests: tsgi-runner and tsgi-proxy started from the build
 * (npm test builds first), their JSON log lines captured, and every one of them stopped by PID
 * when the test ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, ROOT } from './root.js';
import { until } from './until.js';

export { FIXTURES, ROOT, until };

export interface Teardown {
  teardown(fn: () => unknown): void;
  /** tap's: false once an assertion of this test (or a subtest) failed. */
  passing?(): boolean;
}

export type LogLine = Record<string, unknown> & { msg?: string };

export class Proc {
  readonly logs: LogLine[] = [];
  /** Log lines that name a key twice in one object (spawnCli's teardown fails the test on any). */
  readonly duplicates: string[] = [];
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
    // 'exit' can come before the last lines on stdout are read: a test that checks the log
    // after `exited` must see every line the process wrote. Workers that inherited the pipe
    // may hold it open past their master's exit, so the wait for its end is bounded.
    const drained = new Promise<void>((resolve) =>
      child.stdout!.once('close', () => {
        if (partial) this.onLine(partial); // a last line without its newline
        partial = '';
        resolve();
      }),
    );
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        const status = code ?? (signal ? -1 : null);
        const bound = setTimeout(() => resolve(status), 5_000);
        void drained.then(() => (clearTimeout(bound), resolve(status)));
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first log line (past or future) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    const seen = this.logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line in ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      this.waiters.push({ match, resolve: (line) => (clearTimeout(timer), resolve(line)) });
      // `exited` resolves once stdout is read to its end: no line can come after it.
      void this.exited.then(() => (clearTimeout(timer), reject(new Error(`process exited without that log line; stderr: ${this.stderr}`))));
    });
  }

  /** The last `n` log lines as they were written, and stderr's end. */
  tail(n: number): string {
    const lines = this.logs.slice(-n).map((l) => JSON.stringify(l));
    return [...lines, ...(this.stderr ? [`stderr: ${this.stderr.slice(-2000)}`] : [])].join('\n');
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }

  private onLine(raw: string): void {
    let line: LogLine;
    try {
      line = JSON.parse(raw) as LogLine;
      // JSON.parse keeps the last of two equal keys: a log reader (jq, Loki) may keep either.
      const twice = duplicateKeys(raw);
      if (twice.length > 0) this.duplicates.push(`${twice.join(', ')} twice in ${raw}`);
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
 * The environment for child processes, without tap's variables. Note: tap's process-info
 * plugin hooks every spawn of a test process and adds its loader to NODE_OPTIONS again, so
 * the children are still instrumented (and their coverage counts); removing the variables
 * here only keeps the children from inheriting the rest of tap's settings.
 */
export function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key === 'NODE_OPTIONS' || key.startsWith('_TAPJS_') || key === 'NODE_V8_COVERAGE') delete env[key];
  return env;
}

/**
 * Every child we start, so none outlives the test process: teardown stops them one by one,
 * and this catches the rest if the test dies (tap's timeout sends SIGTERM). Each child leads
 * its own process group, so one signal to the group also reaches what it started (a runner's
 * workers), even when the child itself is already gone.
 */
const started = new Set<ChildProcess>();
function killAll(): void {
  for (const child of started) killGroup(child);
}
process.once('exit', killAll);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(1);
  });
}

/** SIGKILL to the child's process group (a no-op once the whole group is gone). */
export function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // ESRCH: nobody left in the group.
  }
}

/**
 * A watchdog for the case no handler here survives: tap kills a test file that runs past its
 * timeout with SIGKILL. The watchdog is a detached process that reads the process group of
 * every child from a pipe; the pipe ends when this process ends, however it ends, and then
 * the watchdog kills every group it was told of, so no runner outlives its test.
 */
const WATCHDOG = `
const groups = new Set();
let rest = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (text) => {
  const lines = (rest + text).split('\\n');
  rest = lines.pop();
  // "PID" adds a group, "-PID" forgets one that was stopped (its number may be reused).
  for (const line of lines) if (line.startsWith('-')) groups.delete(Number(line.slice(1))); else if (line) groups.add(Number(line));
});
process.stdin.on('close', () => {
  for (const group of groups) try { process.kill(-group, 'SIGKILL'); } catch {}
  process.exit(0);
});
`;
let watchdog: ChildProcess | null = null;
function watch(child: ChildProcess): void {
  if (!watchdog) {
    watchdog = spawn(process.execPath, ['-e', WATCHDOG], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    watchdog.unref();
    (watchdog.stdin as unknown as { unref(): void }).unref?.();
  }
  watchdog.stdin!.write(`${child.pid}\n`);
}

/** The group of `child` is gone: the watchdog must not kill that number later (pids are reused). */
function unwatch(child: ChildProcess): void {
  started.delete(child);
  if (watchdog?.stdin?.writable) watchdog.stdin.write(`-${child.pid}\n`);
}

export function track(child: ChildProcess): ChildProcess {
  started.add(child);
  watch(child);
  return child;
}

/** `node file args…` from the repository root, in its own process group, tracked. */
export function spawnNode(file: string, args: string[], env: NodeJS.ProcessEnv = childEnv()): ChildProcess {
  return track(spawn(process.execPath, [file, ...args], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }));
}

export function spawnCli(t: Teardown, cli: 'runner' | 'proxy', args: string[]): Proc {
  const proc = new Proc(spawnNode(join(ROOT, `dist/${cli}/cli.js`), args));
  t.teardown(async () => {
    killGroup(proc.child);
    await proc.exited;
    unwatch(proc.child);
    // A failure is diagnosed from what the processes said: their last lines go with it.
    if (t.passing?.() === false) console.error(`last log lines of tsgi-${cli} ${proc.pid}:\n${proc.tail(40)}`);
    if (proc.duplicates.length > 0) throw new Error(`${cli} log lines with a duplicate key: ${proc.duplicates.slice(0, 3).join('; ')}`);
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

/**
 * `clients` concurrent loops of `request` until `stop` settles: a load that runs exactly as
 * long as what the test does meanwhile (reloads, kills). `stop`'s own failure is rethrown, so a
 * fault that never completed fails the test.
 */
export async function loadUntil(clients: number, stop: Promise<unknown>, request: () => Promise<void>): Promise<void> {
  let running = true;
  const halt = () => (running = false);
  stop.then(halt, halt);
  await Promise.all(
    Array.from({ length: clients }, async () => {
      try {
        while (running) await request();
      } catch (err) {
        halt(); // the other loops stop too, not only the test
        throw err;
      }
    }),
  );
  await stop;
}

/**
 * A deliberate gap in the traffic a test makes: a slow client's rhythm, a random interval
 * between faults of a soak. Pacing only; never a way to wait for something to happen (that
 * is `until`).
 */
export function pace(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * PIDs of a process's children (a runner master's workers), from the kernel's list of each of
 * its threads' children. `pgrep -P` through execFileSync took ~18 ms a call on an idle machine
 * and far more under the suite, with this process's event loop stopped meanwhile: a test that
 * sampled workers every 25 ms starved its own load (220 requests in 51 s). The kernel walks
 * that list one entry at a time, so a sibling exiting during the read can hide the next one:
 * two reads, united, so that a sample counts a worker too few only if that happens twice. The
 * lists need CONFIG_PROC_CHILDREN, which Debian's and most distributions' kernels have.
 */
export function children(pid: number): number[] {
  const found = new Set<number>();
  for (let pass = 0; pass < 2; pass++) {
    let threads: string[];
    try {
      threads = readdirSync(`/proc/${pid}/task`);
    } catch {
      return []; // the process is gone
    }
    for (const tid of threads) {
      let list = '';
      try {
        list = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
      } catch (err) {
        // Without the lists every count would read 0: say why rather than fail somewhere else.
        if (tid === String(pid) && existsSync(`/proc/${pid}/task`)) throw new Error(`children(): cannot read /proc/${pid}/task/${pid}/children (a kernel without CONFIG_PROC_CHILDREN?): ${(err as Error).message}`);
        continue; // a thread that ended meanwhile
      }
      for (const child of list.split(' ')) if (child) found.add(Number(child));
    }
  }
  return [...found].sort((a, b) => a - b); // in PID order, as pgrep gave them
}

/** Waits until the children of `pid` satisfy `ok` (a worker replaced, one more, one less); returns them. */
export async function childrenWhen(pid: number, ok: (pids: number[]) => boolean): Promise<number[]> {
  await until(`the workers of ${pid} to change as expected`, () => ok(children(pid))).catch(() => undefined);
  return children(pid);
}

/** The keys that occur twice in one object of a JSON text (a scan; the text is valid JSON). */
export function duplicateKeys(json: string): string[] {
  const found: string[] = [];
  const objects: Array<Set<string> | null> = []; // null for an array
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
      const keys = objects[objects.length - 1];
      if (expectKey && keys) {
        const key = json.slice(i + 1, end);
        if (keys.has(key)) found.push(key);
        keys.add(key);
      }
      expectKey = false;
      i = end;
    } else if (c === '{') {
      objects.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      objects.push(null);
    } else if (c === '}' || c === ']') {
      objects.pop();
    } else if (c === ',') {
      expectKey = objects[objects.length - 1] !== null;
    }
  }
  return found;
}
