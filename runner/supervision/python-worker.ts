import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatAddress } from '../../protocol/address.js';
import { WORKERS_ENV, WORKER_ENV, beatPeriodMs } from './ipc.js';
import { InstallError, UsageError } from '../errors.js';
import type { RunnerOptions } from '../options.js';

/** Where the Python worker reads its settings (JSON), beside the index variables. */
export const PYTHON_CONFIG_ENV = 'TSGI_WORKER_CONFIG';

/**
 * The file descriptors a Python worker is born with: 3 is the IPC channel (Node's newline-
 * delimited JSON, NODE_CHANNEL_FD), 4 the socket the master bound, for the worker to listen on.
 */
export const PYTHON_IPC_FD = 3;
export const PYTHON_LISTEN_FD = 4;

/** What the worker needs of the runner's options, as it reads them from PYTHON_CONFIG_ENV. */
export interface PythonWorkerConfig {
  app: string;
  threads: number;
  maxStreams: number;
  harakiriMs: number;
  /** The heartbeat's period (ipc.ts, beatPeriodMs). */
  beatMs: number;
  gracefulTimeoutMs: number;
  maxRequests: number;
  maxRequestsJitter: number;
  reloadOnRssBytes: number;
  logLevel: string;
  socket: string;
}

export function pythonWorkerConfig(options: RunnerOptions): PythonWorkerConfig {
  return {
    app: options.app,
    threads: options.threads,
    maxStreams: options.maxStreams,
    harakiriMs: options.harakiriMs,
    beatMs: beatPeriodMs(options),
    gracefulTimeoutMs: options.gracefulTimeoutMs,
    maxRequests: options.maxRequests,
    maxRequestsJitter: options.maxRequestsJitter,
    reloadOnRssBytes: options.reloadOnRssBytes,
    logLevel: options.logLevel,
    socket: formatAddress(options.address),
  };
}

/**
 * The worker's entry point. From dist/runner/supervision/ (the installed CLI) the Python sources
 * are three levels up, beside the TypeScript ones; from runner/supervision/ (tests running the
 * sources) they are one level up.
 */
let entry: string | undefined;

export function pythonEntry(): string {
  // Looked up once (checkPython at start-up), not again for every worker spawned.
  if (entry !== undefined) return entry;
  const candidates = ['../python/tsgi_worker/__main__.py', '../../../runner/python/tsgi_worker/__main__.py'].map((relative) => fileURLToPath(new URL(relative, import.meta.url)));
  const found = candidates.find((path) => existsSync(path));
  if (!found) throw new InstallError(`the Python worker is missing (looked for ${candidates.join(', ')})`);
  return (entry = found);
}

/** The worker's sources are there and `--chdir` names a directory: checked before anything is bound. */
export function checkPython(options: RunnerOptions): void {
  pythonEntry();
  if (options.chdir === null) return;
  let directory = false;
  try {
    directory = statSync(options.chdir).isDirectory();
  } catch {
    // reported below
  }
  if (!directory) throw new UsageError(`--chdir: ${options.chdir} is not a directory`);
}

/** Starts one Python worker on the bound socket `listenFd`. */
export function spawnPythonWorker(options: RunnerOptions, index: number, count: number, listenFd: number): ChildProcess {
  return spawn(options.pythonExecutable, [pythonEntry()], {
    cwd: resolve(options.chdir ?? '.'),
    env: {
      ...process.env,
      [WORKER_ENV]: String(index),
      [WORKERS_ENV]: String(count),
      [PYTHON_CONFIG_ENV]: JSON.stringify(pythonWorkerConfig(options)),
      // The app's own output and tracebacks should not wait in a buffer.
      PYTHONUNBUFFERED: '1',
    },
    // Positions PYTHON_IPC_FD and PYTHON_LISTEN_FD.
    stdio: ['ignore', 'inherit', 'inherit', 'ipc', listenFd],
  });
}
