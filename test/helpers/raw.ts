// Raw sockets for the hostile-client tests: bytes exactly as given, no HTTP client in between
// to fix them up.
import { connect, type Socket } from 'node:net';

export interface RawReply {
  /** Everything the proxy sent, latin-1. */
  text: string;
  /** The proxy closed the connection (rather than the wait running out). */
  closed: boolean;
  /** Milliseconds from the first byte written to the close (or the end of the wait). */
  ms: number;
}

/** Writes `bytes` on a new connection and reads until the proxy closes it or `waitMs` passes. */
export function exchangeRaw(port: number, bytes: Buffer, waitMs = 10_000): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const started = performance.now();
    let text = '';
    const timer = setTimeout(() => finish(false), waitMs);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed, ms: performance.now() - started });
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('close', () => finish(true));
    // A reset after the answer still counts as closed; before any byte it is a failure.
    socket.on('error', (err) => (text === '' ? (clearTimeout(timer), reject(err)) : undefined));
    socket.write(bytes);
  });
}

/** As exchangeRaw, with the bytes sent in `pieces`, `gapMs` apart (each its own packet). */
export async function exchangeRawPieces(port: number, pieces: readonly Buffer[], gapMs: number, waitMs = 10_000): Promise<RawReply> {
  const socket = await openRaw(port);
  const started = performance.now();
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined); // a reset after the answer: the close below still comes
  const closed = new Promise<boolean>((resolve) => {
    socket.once('close', () => resolve(true));
    setTimeout(() => resolve(false), waitMs).unref();
  });
  for (const piece of pieces) {
    if (socket.destroyed) break;
    socket.setNoDelay(true);
    socket.write(piece);
    await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  const wasClosed = await closed;
  socket.destroy();
  return { text, closed: wasClosed, ms: performance.now() - started };
}

/**
 * Opens a connection and resolves once it is established. With `allowHalfOpen`, the client goes
 * on sending after the proxy's FIN (as a client still uploading a body does).
 */
export function openRaw(port: number, allowHalfOpen = false): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen }, () => resolve(socket));
    socket.once('error', reject);
  });
}
