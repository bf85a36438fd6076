import { Socket, type OnReadOpts } from 'node:net';

/**
 * An accepted connection that reads into buffers of our choosing (Node's `onread`).
 *
 * Node gives `onread` to the sockets it makes from options (`new net.Socket`, `connect`), not to
 * those a server accepts: those read into a new 64 KiB allocation each time and hand it through
 * the Readable machinery as a 'data' event. For the proxy's connection that meant, on a 64 MiB
 * upload, ~1,300 reads each into fresh memory, with a stream's bookkeeping per read; on hello,
 * an allocation per read that the next scavenge had to sweep (PROFILE.md, item 33).
 *
 * The server accepts with `pauseOnConnect`, so the Socket it made has not begun to read; its
 * libuv handle moves to a Socket made with `onread`, and the first one, left without a handle,
 * is destroyed: that closes nothing and counts the connection off the server, as its close
 * would. `_handle` and the `handle` option are Node's own (net.js, the same internals that
 * cluster uses to pass a connection on); where they are missing the accepted socket is kept
 * and its 'data' events call `onread.callback` with each chunk, which is then never reused.
 */
export function readingInto(accepted: Socket, onread: OnReadOpts): Socket {
  const internal = accepted as unknown as { _handle: object | null };
  const handle = internal._handle;
  if (!handle || accepted.destroyed) return viaDataEvents(accepted, onread);
  internal._handle = null;
  accepted.destroy();
  return new Socket({ handle, readable: true, writable: true, onread } as ConstructorParameters<typeof Socket>[0]);
}

function viaDataEvents(accepted: Socket, onread: OnReadOpts): Socket {
  accepted.on('data', (chunk: Buffer) => void onread.callback(chunk.length, chunk));
  accepted.resume();
  return accepted;
}
