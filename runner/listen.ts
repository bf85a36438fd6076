import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import type { Address } from '../protocol/index.js';

/** Listening failed for a reason the operator must fix (a live runner on the socket, a file in the way). */
export class ListenError extends Error {
  override readonly name = 'ListenError';
}

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
  if (isSocketFile(path)) {
    if (await acceptsConnections(path)) throw new ListenError(`${path} is in use by another live process; not replacing it`);
    unlinkSync(path);
  }
  // Create the socket with no permissions for others, then open it up to exactly `mode`.
  const previous = process.umask(0o177);
  try {
    await bind(server, { path });
  } finally {
    process.umask(previous);
  }
  if (mode === undefined) return;
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
