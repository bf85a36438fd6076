import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import * as net from 'node:net';
import { connect, type Server } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Address } from '../../protocol/index.js';
import { ListenError } from '../errors.js';

/**
 * Binds `server` to `address`. For a Unix socket: a socket file left by a crashed process is
 * replaced, but one that a live process still accepts on is never stolen, and a path that is
 * not a socket is never deleted. `mode` is applied before the socket is usable by anyone else.
 */
export async function listenOn(server: Server, address: Address, mode?: number): Promise<void> {
  if (address.kind === 'tcp') {
    await bind(server, { host: address.host, port: address.port });
    return;
  }
  const { path } = address;
  await clearStaleSocket(path);
  await privately(() => bind(server, { path }));
  if (mode !== undefined) applyMode(path, mode);
}

/**
 * A bound socket that is not listening yet: the master binds it once and hands it to every
 * worker, which listens and accepts on it (gunicorn's model). The master never accepts, and the
 * socket outlives any single worker, so connections queue in the backlog while one respawns.
 * Same rules as `listenOn` for a Unix path: stale replaced, live never stolen, mode applied.
 */
export interface SharedSocket {
  /** The libuv handle (a Pipe or TCP object) to send to workers over IPC. */
  readonly handle: object;
  /** Its file descriptor, for workers that are not Node processes (they inherit it). */
  readonly fd: number;
  /** Closes the master's handle (which also unlinks a Unix socket the master bound). */
  close(): void;
}

type CreateServerHandle = (address: string | null, port: number, addressType: number, fd?: number) => (object & { close(): void }) | number;

export async function bindShared(address: Address, mode?: number): Promise<SharedSocket> {
  // node:net's own binder for cluster (bind without listen); not in @types/node.
  const create = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;
  let handle: ReturnType<CreateServerHandle>;
  if (address.kind === 'tcp') {
    handle = create(address.host, address.port, address.host.includes(':') ? 6 : 4);
  } else {
    const { path } = address;
    await clearStaleSocket(path);
    handle = await privately(() => create(path, -1, -1));
  }
  const where = address.kind === 'tcp' ? `${address.host}:${address.port}` : address.path;
  if (typeof handle === 'number') {
    const code = getSystemErrorName(handle);
    throw new ListenError(`${where} ${code === 'EADDRINUSE' ? 'is already in use' : `cannot be bound (${code})`}`);
  }
  const bound = handle;
  if (address.kind === 'unix' && mode !== undefined) {
    try {
      applyMode(address.path, mode);
    } catch (err) {
      bound.close();
      throw err;
    }
  }
  return { handle: bound, fd: (bound as { fd?: number }).fd ?? -1, close: () => bound.close() };
}

/**
 * Before binding a Unix path: a socket file left by a crashed process is removed, but one that a
 * live process still accepts on is never stolen, and a path that is not a socket never deleted.
 */
async function clearStaleSocket(path: string): Promise<void> {
  if (!isSocketFile(path)) return;
  if (await acceptsConnections(path)) throw new ListenError(`${path} is in use by another live process; not replacing it`);
  unlinkSync(path);
}

/** Creates a Unix socket with no permissions for others; applyMode opens it up to exactly `mode`. */
async function privately<T>(create: () => T | Promise<T>): Promise<T> {
  const previous = process.umask(0o177);
  try {
    return await create();
  } finally {
    process.umask(previous);
  }
}

function applyMode(path: string, mode: number): void {
  try {
    chmodSync(path, mode);
  } catch (err) {
    throw new ListenError(`cannot set mode ${mode.toString(8)} on ${path} (${(err as NodeJS.ErrnoException).code})`);
  }
}

function isSocketFile(path: string): boolean {
  let stats;
  try {
    stats = lstatSync(path);
  } catch {
    return false;
  }
  if (!stats.isSocket()) throw new ListenError(`${path} exists and is not a socket; not replacing it`);
  return true;
}

/** How long the liveness probe of an existing socket may take before we call it live. */
const PROBE_TIMEOUT_MS = 1000;

/**
 * Is a process accepting on `path`? Only "refused" (nobody listens) and "gone" count as dead:
 * a busy live runner may answer EAGAIN or be slow, and its socket must never be taken.
 */
function acceptsConnections(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect({ path });
    const done = (live: boolean) => {
      clearTimeout(timer);
      probe.destroy();
      resolve(live);
    };
    const timer = setTimeout(() => done(true), PROBE_TIMEOUT_MS);
    probe.once('connect', () => done(true));
    probe.once('error', (err: NodeJS.ErrnoException) => done(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT'));
  });
}

function bind(server: Server, options: { host: string; port: number } | { path: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const why = err.code === 'EADDRINUSE' ? 'is already in use' : `cannot be bound (${err.code ?? err.message})`;
      reject(new ListenError(`${describe(options)} ${why}`));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ ...options, backlog: 1024 });
  });
}

function describe(options: { host: string; port: number } | { path: string }): string {
  return 'path' in options ? options.path : `${options.host}:${options.port}`;
}

/** Removes our socket file on exit, but only if it is still ours (a socket, not replaced by a file). */
export function removeSocket(address: Address): void {
  if (address.kind !== 'unix') return;
  try {
    if (lstatSync(address.path).isSocket()) unlinkSync(address.path);
  } catch {
    // already gone
  }
}
