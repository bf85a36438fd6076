/**
 * Wire error codes, carried by CANCEL (one stream) and GOAWAY (the connection).
 * The numbers are part of the protocol: never renumber, only append.
 */
export enum ErrorCode {
  /** Graceful: GOAWAY for a drain, CANCEL when a stream is simply no longer wanted by design. */
  NO_ERROR = 0,
  /** The peer broke a rule of SPEC.md (bad order, bad payload shape, bad stream id). */
  PROTOCOL_ERROR = 1,
  /** The sender failed on its own (a bug, an exhausted resource). */
  INTERNAL_ERROR = 2,
  /** The peer sent more DATA than its window allowed, or overflowed a window. */
  FLOW_CONTROL_ERROR = 3,
  /** A frame longer than the receiver's max frame size, or a fixed-size payload of the wrong size. */
  FRAME_SIZE_ERROR = 4,
  /** A frame for a stream that the sender had already ended. */
  STREAM_CLOSED = 5,
  /** The runner did not start the request (draining, over max streams). Always safe to retry. */
  REFUSED_STREAM = 6,
  /** The proxy no longer wants the response (the client went away). */
  CANCEL = 7,
  /** The application failed after the response head was sent. */
  APP_ERROR = 8,
  /** A deadline passed (proxy read timeout, runner harakiri). */
  TIMEOUT = 9,
  /** A limit was exceeded (environ size or key count, header count). */
  LIMIT_EXCEEDED = 10,
  /** The peer speaks a protocol version this side does not. */
  UNSUPPORTED_VERSION = 11,
  /** The application's response head was invalid; the proxy refused to forward it. */
  INVALID_RESPONSE = 12,
}

export function errorCodeName(code: number): string {
  return ErrorCode[code] ?? `UNKNOWN(${code})`;
}

/**
 * A violation detected while decoding or checking frames. `code` is what goes on the wire
 * in the GOAWAY (connection errors) or CANCEL (stream errors) that reports it.
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Non-zero when only this stream is affected; 0 means the connection must close. */
    readonly stream = 0,
  ) {
    super(message);
  }
}
