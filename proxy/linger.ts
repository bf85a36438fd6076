/**
 * What becomes of a request body the proxy answered without reading to its end, as nginx does
 * it: once the answer is written, the rest is read and dropped, within lingering_timeout (the
 * longest pause) and lingering_time (in all from the answer); the connection is cut when the
 * body does not end within them.
 *
 * After an answer that ends the connection (413, a 400 or 408 before the body ended) this is
 * nginx's lingering close. The answer says `Connection: close`; the body is dropped as above;
 * then our side is shut (FIN: the client reads the answer to its end, then EOF), and the
 * connection is closed when the client closes its side, or after lingering_timeout more. Closing
 * while the client is still sending would make the kernel answer its next bytes with a reset,
 * which can destroy our answer in the client's buffers before it was read. No request pipelined
 * after such an answer is started (answeredOn in client-error.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { markAnswered } from './client-error.js';
import type { ClientConfig } from './config/types.js';

export type LingerBounds = Pick<ClientConfig, 'lingeringTimeMs' | 'lingeringTimeoutMs'>;

/**
 * The answer `res` ends the connection; call before its head is written (the head says so).
 * The connection closes as described above.
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse, bounds: LingerBounds): void {
  const { socket } = req;
  markAnswered(socket);
  res.shouldKeepAlive = false;
  // Node ends a `Connection: close` response with socket.destroySoon() as soon as it is
  // written: FIN, then close, while the client may still be sending the body. The close is
  // ours to make (below).
  socket.destroySoon = leaveOpen;
  discardBody(req, res, bounds, (leftMs) => {
    if (socket.destroyed) return;
    socket.end();
    const cut = setTimeout(() => socket.destroy(), Math.min(bounds.lingeringTimeoutMs, leftMs));
    cut.unref();
    // Node closes the socket once the client has closed its side too.
    socket.once('close', () => clearTimeout(cut));
  });
}

function leaveOpen(): void {}

/**
 * Reads the rest of the request body and drops it; once the answer is written, the connection
 * is cut if the body pauses longer than lingering_timeout or lasts past lingering_time.
 * `ended` runs when the body has ended and the answer is written, with what is left of
 * lingering_time.
 */
export function discardBody(req: IncomingMessage, res: ServerResponse, bounds: LingerBounds, ended: (leftMs: number) => void = () => undefined): void {
  // Whoever read the body (the exchange, for a runner) reads no more.
  req.removeAllListeners('data');
  req.resume();
  const linger = () => {
    if (req.readableEnded) return ended(bounds.lingeringTimeMs);
    const { socket } = req;
    const until = performance.now() + bounds.lingeringTimeMs;
    const cut = () => socket.destroy();
    // Not what keeps the process alive: the socket is, while it is open.
    const total = setTimeout(cut, bounds.lingeringTimeMs).unref();
    const pause = setTimeout(cut, bounds.lingeringTimeoutMs).unref();
    // Body bytes count as activity; chunk framing alone does not (closing earlier, never later).
    const onData = () => pause.refresh();
    const stop = () => {
      clearTimeout(total);
      clearTimeout(pause);
      req.removeListener('data', onData);
    };
    req.on('data', onData);
    req.once('end', () => {
      stop();
      ended(Math.max(0, until - performance.now()));
    });
    socket.once('close', stop);
  };
  if (res.writableFinished) linger();
  else res.once('finish', linger);
}
