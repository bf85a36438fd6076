/**
 * What the proxy answers when Node's HTTP parser gives up on a connection (a request it
 * cannot read, a head over the limits, client_header_timeout): one status line, the connection
 * closed, one log line with the parser's reason. Nothing of such a request reaches a runner:
 * the parser stops before a request event for a bad head, and a request already dispatched
 * (an error in its chunked body) is cancelled when its connection closes.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ClientConfig } from './config/types.js';
import { HttpError, errorBody, type HttpErrorKind } from './errors.js';

/** Node's parse errors carry llhttp's code and the bytes it was reading. */
interface ParserError extends Error {
  code?: string;
  reason?: string;
  rawPacket?: Buffer;
}

/**
 * Connections already answered: while one lingers the parser may fail again (the client's
 * EOF in the middle of the request it was refused for); that is the same error, not a new one.
 */
const answered = new WeakSet<Socket>();

/**
 * The proxy answered on this connection and closes it: later parser errors are not new, and
 * requests pipelined after the answer are not started.
 */
export function markAnswered(socket: Socket): void {
  answered.add(socket);
}

export function answeredOn(socket: Socket): boolean {
  return answered.has(socket);
}

export function answerClientError(log: Logger, client: ClientConfig, err: ParserError, socket: Socket): void {
  // A reset or a socket already gone: nobody to answer, and nothing the client did wrong.
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || socket.destroyed || answered.has(socket)) {
    socket.destroy();
    return;
  }
  answered.add(socket);
  const kind = statusOf(err, client);
  const reason = err.reason ?? err.message;
  log.warn({ code: kind.code, status: kind.status, parser: err.code, reason, remoteAddress: socket.remoteAddress ?? 'unix:' }, 'client error');
  const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (!socket.writable) return void socket.destroy();
  if (response && !response.writableFinished && response.req.complete) {
    // The bad bytes came after a whole request (pipelined) whose answer is still on its way:
    // that answer goes first, then the 400, so the client cannot take one for the other.
    response.once('finish', () => answerOnSocket(socket, kind, client));
    response.once('close', () => (response.writableFinished ? undefined : socket.destroy()));
    return;
  }
  // The error is in the body of the request being answered. Once its head went out, a status
  // line would corrupt the response: the close is the signal.
  if (response?.headersSent) return void socket.destroy();
  answerOnSocket(socket, kind, client);
}

/**
 * CONNECT asks for a tunnel, which a gateway to applications does not open: 400 (what nginx
 * answered before it had a 405 for it) rather than Node's silent close, and a log line.
 */
export function refuseConnect(log: Logger, client: ClientConfig, socket: Socket): void {
  if (answered.has(socket)) return void socket.destroy();
  answered.add(socket);
  const kind = HttpError.BAD_REQUEST;
  log.warn({ code: kind.code, status: kind.status, reason: 'CONNECT method (tsgi opens no tunnels)', remoteAddress: socket.remoteAddress ?? 'unix:' }, 'client error');
  answerOnSocket(socket, kind, client);
}

/** The status line and a small body straight on the socket, then a lingering close. */
function answerOnSocket(socket: Socket, kind: HttpErrorKind, client: ClientConfig): void {
  const body = errorBody(kind);
  socket.end(`HTTP/1.1 ${kind.status} ${kind.text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  // The client may still be sending: keep reading (and dropping) so the close does not reset
  // the answer away, for lingering_timeout. A reset meanwhile only ends the connection: the
  // socket may be one no HTTP server watches (the lane's, after a 408), where an 'error'
  // without a listener would end the process.
  socket.on('error', destroyOnError);
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), client.lingeringTimeoutMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

function statusOf(err: ParserError, client: ClientConfig): HttpErrorKind {
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return HttpError.CLIENT_TIMEOUT;
    case 'HPE_HEADER_OVERFLOW':
      return overflowedRequestLine(err.rawPacket, client.headerBuffers.size) ? HttpError.URI_TOO_LONG : HttpError.HEADERS_TOO_LARGE;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return HttpError.BODY_TOO_LARGE;
    default:
      return HttpError.BAD_REQUEST;
  }
}

/**
 * Node reports one overflow for the whole head; nginx answers 414 when it is the request
 * line that does not fit. The parser's last packet tells: one that starts like a request line
 * ('GET /...') and has no line end within a buffer's size is a request line too long. (A head
 * trickled in small packets is judged by its last packet, so may get 431 instead.)
 */
function overflowedRequestLine(packet: Buffer | undefined, size: number): boolean {
  if (!packet || !/^[A-Z]+ /.test(packet.subarray(0, 32).toString('latin1'))) return false;
  const lf = packet.indexOf(0x0a);
  return lf < 0 || lf > size;
}

function destroyOnError(this: Socket): void {
  this.destroy();
}
