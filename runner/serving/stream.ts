import {
  ErrorCode,
  Flags,
  FrameType,
  ProtocolError,
  ReceiveWindow,
  SendWindow,
  sendWithinCredit,
  encodeCancel,
  encodeResponseHead,
} from '../../protocol/index.js';
import type { Header } from '../apps/app.js';
import type { ResponseSink } from '../apps/contract.js';
import { ContractError } from '../errors.js';
import { RequestInput } from './input.js';
import type { RequestWatch } from './request-watch.js';

/** What a stream needs from its connection. */
export interface StreamHost {
  readonly peerMaxFrameSize: number;
  sendFrame(type: FrameType, flags: number, stream: number, payload: Uint8Array): void;
  sendCredit(stream: number, increment: number): void;
  /** Marks the stream's last DATA frame, still unsent, END_STREAM; false when there is none. */
  endData(stream: number): boolean;
  streamClosed(stream: RunnerStream): void;
}

/**
 * Bytes an app may queue beyond the proxy's credit with un-awaited write() calls. A chunk
 * written when nothing is queued is always taken whole, whatever its size (an awaited write or
 * a yielded chunk finds the queue empty), so the bound only stops apps that ignore backpressure.
 */
const MAX_QUEUED = 1024 * 1024;
/**
 * A request body's window grows to this many times the announced one while the app reads
 * every byte as it arrives (as the proxy's response windows do): fewer CREDIT round trips,
 * each a switch between proxy and runner on one core, and fewer pauses of the client.
 */
const REQUEST_WINDOW_GROWTH = 4;

/** One request/response on a runner connection: the app's sink and the body's source. */
export class RunnerStream implements ResponseSink {
  readonly input: RequestInput;
  private readonly sendWindow: SendWindow;
  private readonly receiveWindow: ReceiveWindow;
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private drained: (() => void) | null = null;
  private drainPromise: Promise<void> | null = null;
  private requestEnded: boolean;
  private responseEnded = false;
  private closed = false;
  cancelled = false;
  private cancelledPromise: Promise<void> | null = null;
  private onCancelled: (() => void) | null = null;
  /** The connection's counters, deadline and watchdog slot for this request, when any is on. */
  watch: RequestWatch | null = null;

  constructor(
    readonly id: number,
    private readonly host: StreamHost,
    sendCredit: number,
    receiveCredit: number,
    requestEnded: boolean,
  ) {
    this.sendWindow = new SendWindow(sendCredit);
    this.receiveWindow = new ReceiveWindow(receiveCredit, receiveCredit >>> 1, receiveCredit * REQUEST_WINDOW_GROWTH);
    this.requestEnded = requestEnded;
    this.input = new RequestInput((n, keepingUp) => this.consumed(n, keepingUp));
    if (requestEnded) this.input.finish();
  }

  /**
   * Settles when the stream is cancelled, so an app awaited between chunks can be left at once.
   * Made when first asked for: only an app that waits between chunks needs it.
   */
  get whenCancelled(): Promise<void> {
    this.cancelledPromise ??= this.cancelled ? Promise.resolve() : new Promise((resolve) => (this.onCancelled = resolve));
    return this.cancelledPromise;
  }

  // ---- frames from the proxy ----

  /**
   * One DATA frame, or one piece of it: `rest` bytes of the frame follow; `continued` when an
   * earlier piece was the frame's first, which alone is checked (against the whole frame).
   */
  onData(payload: Uint8Array, end: boolean, rest = 0, continued = false): void {
    if (!continued) {
      if (this.requestEnded) throw new ProtocolError(ErrorCode.STREAM_CLOSED, `DATA after the request ended on stream ${this.id}`);
      this.receiveWindow.receive(payload.length + rest);
    }
    this.input.deliver(payload);
    if (end) this.endRequest();
  }

  onCredit(increment: number): void {
    this.sendWindow.grant(increment, this.id);
    this.flushQueue();
  }

  /** The proxy cancelled, or the connection is gone: stop the app, release its waiters. */
  onCancel(): void {
    if (this.closed) return;
    this.cancelled = true;
    this.onCancelled?.();
    this.input.destroy();
    this.release();
    this.close();
  }

  // ---- the app's side (ResponseSink) ----

  sendHead(status: number, reason: string, headers: Header[], end: boolean): void {
    if (this.cancelled) return;
    const payload = encodeResponseHead({ status, reason, headers });
    // One frame the proxy must refuse would close the connection for every stream on it.
    if (payload.length > this.host.peerMaxFrameSize) {
      throw new ContractError(`response head of ${payload.length} bytes exceeds the proxy's max frame size ${this.host.peerMaxFrameSize}`);
    }
    const flags = end ? Flags.END_STREAM : 0;
    this.host.sendFrame(FrameType.RESPONSE, flags, this.id, payload);
    if (end) this.endResponse();
  }

  write(chunk: Uint8Array): Promise<void> | undefined {
    if (this.cancelled) return undefined;
    const idle = this.queued === 0;
    if (idle) chunk = this.sendNow(chunk);
    if (chunk.length === 0) return undefined;
    if (!idle && this.queued + chunk.length > MAX_QUEUED) {
      throw new Error(`response write buffer over ${MAX_QUEUED} bytes: await write() to respect backpressure`);
    }
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.drainPromise ??= new Promise((resolve) => (this.drained = resolve));
    return this.drainPromise;
  }

  end(): void {
    if (this.cancelled) return;
    if (this.queued > 0) {
      void this.drainPromise!.then(() => this.end());
      return;
    }
    // Usually the last chunk went out in this same turn: it carries the end, no frame of its own.
    if (!this.host.endData(this.id)) this.host.sendFrame(FrameType.DATA, Flags.END_STREAM, this.id, EMPTY);
    this.endResponse();
  }

  abort(reason: string): void {
    this.cancel(ErrorCode.APP_ERROR, reason);
  }

  /** Cancels from this side (app error, deadline, refused): tells the proxy and stops. */
  cancel(code: ErrorCode, reason: string): void {
    if (this.closed) return;
    this.host.sendFrame(FrameType.CANCEL, 0, this.id, encodeCancel({ code, reason }));
    this.onCancel();
  }

  // ---- internals ----

  /** Sends what the credit allows, in frames the peer accepts; returns the unsent rest. */
  private sendNow(chunk: Uint8Array): Uint8Array {
    return sendWithinCredit(this.sendWindow, chunk, this.host.peerMaxFrameSize, (piece) =>
      this.host.sendFrame(FrameType.DATA, 0, this.id, piece),
    );
  }

  private flushQueue(): void {
    while (this.queue.length > 0 && this.sendWindow.credit > 0) {
      const head = this.queue[0]!;
      const rest = this.sendNow(head);
      this.queued -= head.length - rest.length;
      if (rest.length > 0) this.queue[0] = rest;
      else this.queue.shift();
    }
    if (this.queued === 0) this.release();
  }

  private release(): void {
    const drained = this.drained;
    this.drained = null;
    this.drainPromise = null;
    drained?.();
  }

  private consumed(bytes: number, keepingUp: boolean): void {
    if (this.closed) return;
    const increment = this.receiveWindow.consume(bytes, keepingUp);
    if (increment > 0 && !this.requestEnded) this.host.sendCredit(this.id, increment);
  }

  private endRequest(): void {
    this.requestEnded = true;
    this.input.finish();
    if (this.responseEnded) this.close();
  }

  private endResponse(): void {
    this.responseEnded = true;
    if (this.requestEnded) {
      this.close();
      return;
    }
    // The app answered without reading the whole body: tell the proxy to stop sending it.
    this.host.sendFrame(FrameType.CANCEL, 0, this.id, encodeCancel({ code: ErrorCode.NO_ERROR, reason: 'response complete' }));
    this.input.destroy();
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.host.streamClosed(this);
  }
}

const EMPTY = new Uint8Array(0);
