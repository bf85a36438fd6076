/**
 * The proxy's catalogue of errors (the configuration's is config/errors.ts): every answer the
 * proxy itself gives a client, with a stable code for logs and tests, and the error classes the
 * request path throws, each with a stable `code` (never match on message text). One place, so
 * status, log reason and body stay in step.
 */
import { getSystemErrorMap } from 'node:util';
import type { ErrorCode } from '../protocol/index.js';
import type { TargetErrorCode } from './uri.js';

export const HttpError = {
  BAD_REQUEST: { status: 400, code: 'TSGI_BAD_REQUEST', text: 'Bad Request' },
  CLIENT_TIMEOUT: { status: 408, code: 'TSGI_CLIENT_TIMEOUT', text: 'Request Timeout' },
  NO_LOCATION: { status: 404, code: 'TSGI_NO_LOCATION', text: 'Not Found' },
  BODY_TOO_LARGE: { status: 413, code: 'TSGI_BODY_TOO_LARGE', text: 'Content Too Large' },
  URI_TOO_LONG: { status: 414, code: 'TSGI_URI_TOO_LONG', text: 'URI Too Long' },
  HEADERS_TOO_LARGE: { status: 431, code: 'TSGI_HEADERS_TOO_LARGE', text: 'Request Header Fields Too Large' },
  UPSTREAM_UNREACHABLE: { status: 502, code: 'TSGI_UPSTREAM_UNREACHABLE', text: 'Bad Gateway' },
  UPSTREAM_LOST: { status: 502, code: 'TSGI_UPSTREAM_LOST', text: 'Bad Gateway' },
  UPSTREAM_PROTOCOL: { status: 502, code: 'TSGI_UPSTREAM_PROTOCOL', text: 'Bad Gateway' },
  UPSTREAM_REFUSED: { status: 502, code: 'TSGI_UPSTREAM_REFUSED', text: 'Bad Gateway' },
  INVALID_RESPONSE: { status: 502, code: 'TSGI_INVALID_RESPONSE', text: 'Bad Gateway' },
  OVERLOADED: { status: 503, code: 'TSGI_OVERLOADED', text: 'Service Unavailable' },
  UPSTREAM_TIMEOUT: { status: 504, code: 'TSGI_UPSTREAM_TIMEOUT', text: 'Gateway Timeout' },
  /** Not an answer (the head is out): a buffered response could not be read back from its temporary file. */
  TEMP_FILE_LOST: { status: 502, code: 'TSGI_TEMP_FILE_LOST', text: 'Bad Gateway' },
  VERSION_NOT_SUPPORTED: { status: 505, code: 'TSGI_VERSION_NOT_SUPPORTED', text: 'HTTP Version Not Supported' },
  /** Not an answer: the client left before the response was complete (nginx logs 499). */
  CLIENT_CLOSED: { status: 499, code: 'TSGI_CLIENT_CLOSED', text: 'Client Closed Request' },
} as const;

export type HttpErrorKind = (typeof HttpError)[keyof typeof HttpError];

/** The small body of an error answer; plain text, like the status line it repeats. */
export function errorBody(kind: HttpErrorKind): string {
  return `${kind.status} ${kind.text}\n`;
}

/**
 * Answers after which nginx closes the connection (keep-alive off): the request could not be
 * read to its end with certainty, so nothing more on this connection can be trusted to start
 * where the client meant it to.
 */
const CLOSING: ReadonlySet<number> = new Set([400, 408, 413, 414, 431, 505]);

export function closesConnection(kind: HttpErrorKind): boolean {
  return CLOSING.has(kind.status);
}

export type EnvironErrorCode =
  | TargetErrorCode // E_BAD_TARGET, E_BAD_PERCENT, E_NUL, E_ABOVE_ROOT
  | 'E_BAD_CONTENT_LENGTH' // non-numeric, disagreeing values, or sent with Transfer-Encoding
  | 'E_BAD_HOST'; // several Host lines, or Host and :authority disagree

/** The request cannot be turned into an environ (environ.ts); the client gets a 400. */
export class EnvironError extends Error {
  override readonly name = 'EnvironError';
  readonly status = HttpError.BAD_REQUEST.status;

  constructor(
    readonly code: EnvironErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A connection to a runner failed or was lost (upstream/connection.ts); every stream on it gets
 * this. `code` is the wire code of the GOAWAY or protocol error when there was one, else how
 * the connection ended: it could not be made, it closed, or the handshake timed out.
 */
export class UpstreamConnectionError extends Error {
  override readonly name = 'UpstreamConnectionError';
  constructor(
    message: string,
    readonly code: ErrorCode | 'CONNECT' | 'CLOSED' | 'TIMEOUT',
  ) {
    super(message);
  }
}

/** Every connection to a runner is at its stream limit (upstream/server.ts): the proxy answers 503. */
export class UpstreamBusyError extends Error {
  override readonly name = 'UpstreamBusyError';
  readonly code = HttpError.OVERLOADED.code;
}

/**
 * A listening address that cannot be bound (in use, a privileged port, an address this host
 * does not have): said as nginx says it, without a stack, and the proxy exits 4 (as tsgi-runner
 * does for its socket) instead of 1.
 */
export class BindError extends Error {
  override readonly name = 'BindError';
  readonly code = 'TSGI_BIND';

  constructor(
    readonly address: string,
    cause: NodeJS.ErrnoException,
  ) {
    super(`bind() to ${address} failed (${cause.code ?? 'error'}: ${systemReason(cause)})`, { cause });
  }
}

/** "address already in use" for EADDRINUSE: the system's words, not Node's "listen EADDRINUSE: … <address>". */
export function systemReason(err: NodeJS.ErrnoException): string {
  const known = typeof err.errno === 'number' ? getSystemErrorMap().get(err.errno) : undefined;
  return known?.[1] ?? err.message;
}
