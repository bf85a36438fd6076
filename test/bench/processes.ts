/**
 * The processes one benchmark run starts, tracked by PID so every one of them is stopped —
 * after each measurement, on failure, on Ctrl-C and, as a last resort, when we exit.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { descendants } from './memory.js';

/** CPU pinning: servers on one core, the load generator on the other (null: not pinned). */
export interface Pinning {
  servers: number | null;
  load: number | null;
  /** Why pinning is off, for the report. */
  note: string;
}

/** Pins this process (all its threads: it runs autocannon) to the load CPU when we can. */
export function setUpPinning(): Pinning {
  if (availableParallelism() < 2) return { servers: null, load: null, note: `not pinned: only ${availableParallelism()} CPU` };
  if (spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status !== 0) return { servers: null, load: null, note: 'not pinned: taskset not found' };
  const self = spawnSync('taskset', ['-a', '-cp', '1', String(process.pid)], { encoding: 'utf8' });
  if (self.status !== 0) return { servers: null, load: null, note: `not pinned: taskset failed (${self.stderr.trim()})` };
  return { servers: 0, load: 1, note: 'servers on CPU 0, load generator on CPU 1 (taskset)' };
}

export interface SpawnOptions {
  cwd: string;
  /** CPU (or taskset CPU list such as "0,1") to pin to; null runs unpinned. */
  cpu: number | string | null;
  /** A file for stdout and stderr, or 'pipe' to read stdout (stderr is inherited). */
  output: string | 'pipe';
  /** 'pipe' to write to the child's stdin (default: none). */
  input?: 'pipe';
  /** The child's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

/** The soft and hard limits on open files of this process (Linux /proc), null when unknown. */
export function fileLimits(): { soft: number; hard: number } | null {
  try {
    const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!match) return null;
    const value = (text: string) => (text === 'unlimited' ? Infinity : Number(text));
    return { soft: value(match[1]!), hard: value(match[2]!) };
  } catch {
    return null;
  }
}

export interface StopOutcome {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** SIGTERM was not enough within the grace period. */
  killed: boolean;
}

/** The children of one benchmark, stopped by PID only. */
export class Processes {
  private readonly live = new Map<ChildProcess, string>();

  /** `openFiles`: every child's soft and hard limits on open files (prlimit); null leaves them. */
  constructor(private readonly openFiles: { soft: number; hard: number } | null = null) {}

  spawn(name: string, command: string, args: string[], options: SpawnOptions): ChildProcess {
    let [file, argv] = [command, args];
    if (this.openFiles !== null) [file, argv] = ['prlimit', [`--nofile=${this.openFiles.soft}:${this.openFiles.hard}`, '--', file, ...argv]];
    if (options.cpu !== null) [file, argv] = ['taskset', ['-c', String(options.cpu), file, ...argv]];
    const fd = options.output === 'pipe' ? null : openSync(options.output, 'a');
    try {
      // Own process group: a terminal Ctrl-C reaches only us, and we stop the children in order.
      const child = spawn(file, argv, { cwd: options.cwd, env: options.env ?? process.env, detached: true, stdio: [options.input ?? 'ignore', fd ?? 'pipe', fd ?? 'inherit'] });
      this.live.set(child, name);
      child.once('exit', () => this.live.delete(child));
      child.once('error', () => this.live.delete(child));
      return child;
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }

  /** SIGTERM, then SIGKILL when it has not exited within `graceMs`. */
  async stop(child: ChildProcess, graceMs: number): Promise<StopOutcome> {
    const name = this.live.get(child) ?? 'process';
    let killed = false;
    if (isRunning(child)) {
      child.kill('SIGTERM');
      if (!(await exitedWithin(child, graceMs))) {
        killed = true;
        child.kill('SIGKILL');
        await exitedWithin(child, graceMs);
      }
    }
    return { name, code: child.exitCode, signal: child.signalCode, killed };
  }

  /**
   * Synchronous last resort (process 'exit', second Ctrl-C): SIGKILL whatever is left, with
   * its descendants (nginx and uWSGI workers do not die with their master), by PID.
   */
  killAllNow(): void {
    for (const child of this.live.keys()) {
      if (!isRunning(child)) continue;
      const tree = descendants(child.pid!);
      child.kill('SIGKILL');
      for (const pid of tree) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
  }
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null && child.pid !== undefined;
}

export function exitedWithin(child: ChildProcess, ms: number): Promise<boolean> {
  if (!isRunning(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** The last lines of a log file, to explain a process that died. */
export function tail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
