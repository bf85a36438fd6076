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
  if (mode !== undefined) chmodSync(path, mode);
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

function acceptsConnections(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

function bind(server: Server, options: { host: string; port: number } | { path: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(err.code === 'EADDRINUSE' ? new ListenError(`${describe(options)} is already in use`) : err);
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
