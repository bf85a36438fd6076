import {
  ErrorCode,
  Flags,
  FrameType,
  ProtocolError,
  ReceiveWindow,
  SendWindow,
  sendWithinCredit,
  type ResponseHead,
} from '../../protocol/index.js';
import { copyCounted } from '../young-gc.js';

/** How a stream ended without a complete response. */
export type StreamFailure =
  | { kind: 'cancel'; code: ErrorCode; reason: string }
  | { kind: 'connection'; error: Error }
  | { kind: 'protocol'; error: ProtocolError };

/** What the relay hears from a stream. */
export interface StreamEvents {
  onResponse(head: ResponseHead, end: boolean): void;
  /**
   * Response body bytes; call `consumed(n)` once they are written on or held in the response's
   * buffers, to grant more. `rest`:
   * bytes of the same DATA frame still to come (a frame arrives in pieces as the socket reads
   * it), so a limit can be checked against the whole frame before any of it is passed on.
   */
  onData(chunk: Uint8Array, end: boolean, rest: number): void;
  /**
   * The socket read that brought this stream's DATA is handled: write what was gathered from
   * it. `chunk`s are views of the connection's read buffer, which the next read overwrites
   * unless this returns true — a write the client socket did not take whole still refers to them.
   */
  onReadEnd(): boolean;
  /**
   * After onReadEnd returned true: calls `done(true)` once the client's socket has written what
   * it held then (so no view of that read is left), or `done(false)` if the socket failed
   * first, and returns true; false when that cannot be known (the buffer is then left to the
   * collector).
   */
  whenWritten(done: (written: boolean) => void): boolean;
  /** The request body may flow again (credit arrived). */
  onWritable(): void;
  /** The runner no longer wants the request body (it answered without reading it all). */
  onBodyRefused(): void;
  onFailure(failure: StreamFailure): void;
}

/** What a stream needs from its connection. */
export interface StreamHost {
  readonly peerMaxFrameSize: number;
  /** The runner marks each stream it starts with ACCEPT (HELLO's `accepts`). */
  readonly acceptsStreams: boolean;
  /** The socket holds more unsent bytes than it should: hold the body back even with credit. */
  readonly congested: boolean;
  /** A lent payload of `size` bytes can be copied for sending now (else it is copied on its own). */
  roomForLent(size: number): boolean;
  /** The socket will say 'drain' (onDrain) once it has written what it holds. */
  readonly drainAhead: boolean;
  /** `lent`: the payload is the caller's only until this returns (the frame is copied). */
  sendFrame(type: FrameType, flags: number, stream: number, payload: Uint8Array, lent?: boolean): void;
  sendCredit(stream: number, increment: number): void;
  sendCancel(stream: number, code: ErrorCode, reason: string): void;
  streamClosed(stream: UpstreamStream): void;
  /** This stream got DATA from the current read: call readEnd() when the read is handled. */
  readInto(stream: UpstreamStream): void;
}

const EMPTY = new Uint8Array(0);
/**
 * A response window grows to this many times the announced one while its client keeps up: on
 * a 256 MiB download, 256 KiB -> 1 MiB took a third of the CPU per byte off and doubled the
 * rate (fewer CREDIT round trips, each a switch between proxy and runner). A client that
 * reads slowly never grows it, so it can make the proxy hold at most the announced window;
 * one that slows down later, at most four times that. Besides, the client that falls behind
 * keeps the read buffer its last views came from (upstream/connection.ts): 256 KiB shared
 * with other streams, or, for a response that streamed alone, a bulk read's 272 KiB (others'
 * bytes in it are copied out, but the whole buffer stays).
 */
const RESPONSE_WINDOW_GROWTH = 4;

/** One request on a runner connection, seen from the proxy. */
export class UpstreamStream {
  private readonly sendWindow: SendWindow;
  private readonly receiveWindow: ReceiveWindow;
  private pending: Uint8Array | null = null;
  private pendingEnd = false;
  /** The caller was told to pause and waits for onWritable. */
  private blocked = false;
  private requestEnded: boolean;
  private headReceived = false;
  /** The runner sent ACCEPT: the app may have run this request. */
  accepted = false;
  private responseEnded = false;
  private closed = false;
  /** Given DATA by the read being handled (see StreamHost.readInto). */
  private inRead = false;

  constructor(
    readonly id: number,
    private readonly host: StreamHost,
    private readonly events: StreamEvents,
    sendCredit: number,
    receiveCredit: number,
    hasBody: boolean,
  ) {
    this.sendWindow = new SendWindow(sendCredit);
    this.receiveWindow = new ReceiveWindow(receiveCredit, receiveCredit >>> 1, receiveCredit * RESPONSE_WINDOW_GROWTH);
    this.requestEnded = !hasBody;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The runner's response is complete: no more DATA will come (the request may still be sending). */
  get responseDone(): boolean {
    return this.closed || this.responseEnded;
  }

  /**
   * The app may have begun this request: the runner accepted it, or it never says. Only a stream
   * a marking runner did not accept is known never to have run (safe to retry whatever the method).
   */
  get mayHaveRun(): boolean {
    return this.accepted || !this.host.acceptsStreams;
  }

  // ---- request body, proxy → runner ----

  /**
   * Sends body bytes within credit; false means "pause the client until onWritable". `lent`
   * bytes are the caller's only until this returns: what is sent or kept of them is copied.
   */
  writeBody(chunk: Uint8Array, lent = false): boolean {
    if (this.closed || this.requestEnded) return false;
    if (this.host.congested) {
      // Not even within credit: a hundred streams each sending one window at once would pile
      // their windows up unsent. The connection's drain brings this chunk out.
      this.keep(chunk, lent);
      this.blocked = true;
      return false;
    }
    let copied = false;
    if (lent && !this.host.roomForLent(chunk.length)) {
      // The socket still holds the copies of earlier reads: this one goes as a copy of its own
      // (the socket keeps it until written), and the client waits for the drain it announces.
      chunk = copyCounted(chunk);
      lent = false;
      copied = true;
    }
    const rest = this.sendNow(chunk, lent);
    if (rest.length === 0 && this.sendWindow.credit > 0 && !this.host.congested && !(copied && this.host.drainAhead)) return true;
    // The caller pauses its source now, so at most this one chunk waits here.
    if (rest.length > 0) this.keep(rest, lent);
    this.blocked = true;
    return false;
  }

  /** Bytes that wait for credit or for the socket to drain. */
  private keep(chunk: Uint8Array, lent: boolean): void {
    if (this.pending) this.pending = concat(this.pending, chunk);
    else this.pending = lent ? copyCounted(chunk) : chunk;
  }

  endBody(): void {
    if (this.closed || this.requestEnded) return;
    if (this.pending) {
      this.pendingEnd = true;
      return;
    }
    this.requestEnded = true;
    this.host.sendFrame(FrameType.DATA, Flags.END_STREAM, this.id, EMPTY);
    this.closeIfDone();
  }

  // ---- response body, runner → proxy ----

  /**
   * `n` response bytes were handed to the client socket; `keepingUp` when it took them at
   * once (no wait for 'drain'), which lets the window grow.
   */
  consumed(n: number, keepingUp = false): void {
    if (this.closed || this.responseEnded) return;
    const increment = this.receiveWindow.consume(n, keepingUp);
    if (increment > 0) this.host.sendCredit(this.id, increment);
  }

  /** The proxy abandons the stream (client left, timeout, invalid head). */
  cancel(code: ErrorCode, reason: string): void {
    if (this.closed) return;
    this.host.sendCancel(this.id, code, reason);
    this.close();
  }

  // ---- frames from the runner ----

  onAccept(): void {
    if (this.accepted || this.headReceived) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `ACCEPT out of order on stream ${this.id}`);
    this.accepted = true;
  }

  onResponse(head: ResponseHead, end: boolean): void {
    if (this.headReceived) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `second RESPONSE on stream ${this.id}`);
    this.headReceived = true;
    if (end) this.responseEnded = true;
    this.events.onResponse(head, end);
    if (end) this.closeIfDone();
  }

  /**
   * One DATA frame, or one piece of it: `rest` bytes of the frame follow; `continued` when an
   * earlier piece was the frame's first, which alone is checked (against the whole frame).
   */
  onData(payload: Uint8Array, end: boolean, rest = 0, continued = false): void {
    if (!continued) {
      if (!this.headReceived) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `DATA before RESPONSE on stream ${this.id}`);
      if (this.responseEnded) throw new ProtocolError(ErrorCode.STREAM_CLOSED, `DATA after the response ended on stream ${this.id}`);
      this.receiveWindow.receive(payload.length + rest);
    }
    if (end) this.responseEnded = true;
    // Registered first: the relay corks its client for this read, and must be uncorked even
    // if passing the bytes on throws.
    if (!this.inRead) {
      this.inRead = true;
      this.host.readInto(this);
    }
    this.events.onData(payload, end, rest);
    if (end) this.closeIfDone();
  }

  /** The read is handled: true when the relay still refers to its bytes. */
  readEnd(): boolean {
    this.inRead = false;
    return this.events.onReadEnd();
  }

  /** After readEnd() returned true: `done` once the relay no longer refers to them (StreamEvents). */
  whenWritten(done: (written: boolean) => void): boolean {
    return this.events.whenWritten(done);
  }

  onCredit(increment: number): void {
    this.sendWindow.grant(increment, this.id);
    if (this.pending) return this.sendPending();
    this.resume();
  }

  /** The connection's socket drained: a body held back by congestion may go on. */
  onDrain(): void {
    if (this.closed) return;
    if (this.pending && this.sendWindow.credit > 0) return this.sendPending();
    this.resume();
  }

  /** The one chunk that waited for credit goes first; only then may the caller resume. */
  private sendPending(): void {
    if (this.host.congested) return; // the connection's next drain comes back here
    const rest = this.sendNow(this.pending!);
    this.pending = rest.length > 0 ? rest : null;
    if (this.pending) return;
    if (this.pendingEnd) return this.endBody();
    this.resume();
  }

  private resume(): void {
    if (!this.blocked || this.sendWindow.credit === 0 || this.host.congested) return;
    this.blocked = false;
    this.events.onWritable();
  }

  onCancel(code: ErrorCode, reason: string): void {
    if (this.closed) return;
    if (code === ErrorCode.NO_ERROR && this.responseEnded) {
      // The runner answered in full without the rest of the body: stop sending it.
      this.requestEnded = true;
      this.pending = null;
      this.events.onBodyRefused();
      this.close();
      return;
    }
    this.close();
    this.events.onFailure({ kind: 'cancel', code, reason });
  }

  /** A stream-level protocol violation by the runner: cancel it and fail the request. */
  protocolFailure(error: ProtocolError): void {
    if (this.closed) return;
    this.cancel(error.code, error.message);
    this.events.onFailure({ kind: 'protocol', error });
  }

  onConnectionLost(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.events.onFailure({ kind: 'connection', error });
  }

  // ---- internals ----

  private sendNow(chunk: Uint8Array, lent = false): Uint8Array {
    return sendWithinCredit(this.sendWindow, chunk, this.host.peerMaxFrameSize, (piece) =>
      this.host.sendFrame(FrameType.DATA, 0, this.id, piece, lent),
    );
  }

  private closeIfDone(): void {
    if (this.requestEnded && this.responseEnded) this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.host.streamClosed(this);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
