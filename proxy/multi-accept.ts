/**
 * Several accept()s per event-loop turn for a listening socket (`multi_accept on`, the default).
 *
 * libuv accepts one connection per turn of the loop since 1.45 (Node 20 has 1.46) and relies on
 * the socket staying readable to be called again on the next turn. Under load a turn of the
 * proxy's loop handles every ready client and runner socket, a millisecond or more, so a burst
 * of new connections waited in the kernel's accept queue for as many turns as there were
 * connections: 256 connections opened at once against a proxy serving 30,000 requests a second
 * took 100–600 ms to be accepted, and the requests they carried had that much latency (wrk's
 * p99 at 256 connections, bench target 6). nginx's loop has the same rule with `multi_accept
 * off`, but its turns are short.
 *
 * Each descriptor registered with the loop is accepted from once a turn, so more descriptors
 * of the same socket accept more per turn: the socket's handle is passed to a short-lived
 * helper process (child_process's handle passing, over its IPC channel) and back `COPIES`
 * times; every copy is a descriptor of its own in this process, on the same socket and its one
 * accept queue. The helper never listens (a raw handle is passed, not a server), so it never
 * takes a connection. A connection accepted on a copy goes through the listener's own
 * 'connection' event, as one accepted on the original. (Node 22.12 adds `reusePort`, which
 * would give several sockets instead; the copies need nothing past Node 20.) Without the
 * helper (it could not start, or did not answer in time), the socket accepts as libuv does.
 * A proxy worker of `workers N` has none: its server's connections are accepted by the
 * cluster's primary and handed to it.
 */
import { fork } from 'node:child_process';
import cluster from 'node:cluster';
import { Server, type Socket } from 'node:net';

/** Accepts per turn, the original's included: 256 connections in 16 turns instead of 256. */
export const COPIES = 15;

/** How long the helper may take to send the copies back before the listener goes without them. */
const HELPER_TIMEOUT_MS = 5000;

const HELPER = new URL('./multi-accept-helper.js', import.meta.url);

/** What the copies of a listening socket need of its listener. */
export interface CopiedListener {
  /** The listening server: what a copy accepts is emitted as its 'connection'. */
  server: Server;
  /** accept() failures of a copy, as the original's ('error' of a bound server). */
  onError: (err: NodeJS.ErrnoException) => void;
}

/**
 * `count` more servers on descriptors of `listener.server`'s socket, each passing its
 * connections to the original; [] when the helper fails (`failed` says why).
 */
export async function copyListeningSocket(
  listener: CopiedListener,
  failed: (reason: string) => void,
  count = COPIES,
): Promise<Server[]> {
  // Each copy is wired as it is made: a copy's listen() reports an error on a later tick.
  const adopt = (copy: Server) => {
    copy.on('connection', (socket: Socket) => listener.server.emit('connection', socket));
    copy.on('error', listener.onError);
  };
  try {
    return await fetchCopies(listener.server, count, adopt);
  } catch (err) {
    failed((err as Error).message);
    return [];
  }
}

/** Closes the copies: none accepts again; resolves once the connections each accepted are gone. */
export function closeCopies(copies: readonly Server[]): Promise<void> {
  return Promise.all(copies.map((copy) => new Promise<void>((resolve) => copy.close(() => resolve())))).then(() => undefined);
}

/** The listening handle of a server (Node's own TCP or Pipe wrap), which child_process passes as is. */
type ListeningHandle = object;

function fetchCopies(server: Server, count: number, adopt: (copy: Server) => void): Promise<Server[]> {
  const handle = (server as Server & { _handle?: ListeningHandle | null })._handle;
  if (cluster.isWorker || !handle) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    // Nothing of the proxy's own start-up (flags, NODE_OPTIONS loaders) is needed to echo a handle.
    const helper = fork(HELPER, [String(count)], { execArgv: [], env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const copies: Server[] = [];
    const done = (err: Error | null) => {
      clearTimeout(timer);
      helper.removeAllListeners();
      helper.on('error', () => undefined);
      if (helper.connected) helper.disconnect();
      if (!err) return resolve(copies);
      for (const copy of copies) copy.close();
      helper.kill();
      reject(err);
    };
    const timer = setTimeout(() => done(new Error(`no copies within ${HELPER_TIMEOUT_MS} ms`)), HELPER_TIMEOUT_MS);
    helper.on('message', (_message: unknown, copied: unknown) => {
      if (typeof copied !== 'object' || copied === null) return;
      // Listening already (the same socket): listen() only starts accepting on this descriptor.
      const copy = new Server();
      acceptLike(copy, server);
      adopt(copy);
      copies.push(copy.listen(copied));
      if (copies.length === count) done(null);
    });
    helper.on('error', (err) => done(err));
    helper.on('exit', (code, signal) => done(new Error(`helper ended (${signal ?? code}) after ${copies.length} of ${count} copies`)));
    try {
      helper.send('copy', handle as Parameters<typeof helper.send>[1]);
    } catch (err) {
      // A handle child_process cannot pass (a Node that changed it): no helper left behind.
      done(err as Error);
    }
  });
}

/**
 * The settings a server gives the sockets it accepts, which net.Server reads from its own fields
 * at each accept: a copy accepts as the original does. An HTTP server's are not net.Server's
 * defaults: half-open sockets allowed and TCP_NODELAY (without it, a response written in two
 * pieces waited for the client's delayed ACK: json-100k's p99 went from 10 to 46 ms).
 */
const ACCEPT_SETTINGS = ['allowHalfOpen', 'pauseOnConnect', 'noDelay', 'keepAlive', 'keepAliveInitialDelay', 'highWaterMark'] as const;

function acceptLike(copy: Server, original: Server): void {
  const from = original as unknown as Record<string, unknown>;
  const to = copy as unknown as Record<string, unknown>;
  for (const setting of ACCEPT_SETTINGS) to[setting] = from[setting];
}
