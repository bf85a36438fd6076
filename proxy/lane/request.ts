/**
 * A request the lane serves: its head whole in one read, HTTP/1.1, no body or a body framed by
 * Content-Length (connection.ts takes no other). It offers what the relay reads of node:http's
 * IncomingMessage: the head, the socket, and the body as a stream — 'data', 'end', pause() and
 * resume(), `complete` once the lane has read the body's last byte — plus `borrow()`, the
 * body's bytes lent for the time of a call (shared-read.ts), for a reader that passes them on
 * at once and copies only what it keeps.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { HeaderMap } from './headers.js';

/** What a request needs of its connection to read its body. */
export interface BodySource {
  /** The reader wants bytes (again). */
  resumeBody(): void;
  /** The reader wants no bytes for now. */
  pauseBody(): void;
}

/** Lent bytes: valid until the call returns. */
export type Borrower = (bytes: Buffer) => void;

/** A request whose body can be read lent (a lane request); node:http's IncomingMessage cannot. */
export function isLending<T extends object>(req: T): req is T & Pick<LaneRequest, 'borrow'> {
  return req instanceof LaneRequest;
}

export class LaneRequest extends EventEmitter {
  readonly httpVersion = '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  /** The lane has read the whole body (at once when there is none). */
  complete: boolean;
  /** 'end' was emitted. */
  readableEnded = false;
  /** Body bytes not yet read from the client. */
  bodyLeft: number;
  private flowing = false;
  private ending = false;
  /** Read before anyone asked (the head's read), or while paused: owned, in order. */
  private queue: Buffer[] = [];
  private borrower: Borrower | null = null;
  /** Nobody will read the rest (the answer is done): read and dropped. */
  private dumping = false;
  private source: BodySource | null = null;

  constructor(
    readonly method: string,
    readonly url: string,
    readonly rawHeaders: string[],
    readonly headers: HeaderMap,
    readonly socket: Socket,
    bodyLeft = 0,
    first: Buffer[] = NONE,
  ) {
    super();
    this.bodyLeft = bodyLeft;
    this.complete = bodyLeft === 0;
    if (first.length > 0) this.queue = first;
  }

  /** Where the rest of the body comes from (connection.ts, when some is left to read). */
  readFrom(source: BodySource): void {
    this.source = source;
    if (this.flowing) source.resumeBody();
  }

  /** A 'data' listener starts the flow, as on a Node stream. */
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    super.on(event, listener);
    if (event === 'data') this.resume();
    return this;
  }

  override removeAllListeners(event?: string | symbol): this {
    if (event === undefined || event === 'data') this.borrower = null;
    return super.removeAllListeners(event);
  }

  /** Reads the body as lent bytes (valid during the call) instead of 'data' events. */
  borrow(borrower: Borrower): void {
    this.borrower = borrower;
    this.resume();
  }

  resume(): this {
    if (this.flowing) return this;
    this.flowing = true;
    this.drainQueue();
    if (this.flowing && !this.complete) this.source?.resumeBody();
    return this;
  }

  pause(): this {
    if (!this.flowing) return this;
    this.flowing = false;
    if (!this.complete) this.source?.pauseBody();
    return this;
  }

  /** The answer is done and nobody reads the body: the rest is read and dropped (node:http's dump). */
  dump(): void {
    if (this.complete || this.borrower || this.listenerCount('data') > 0) return;
    this.dumping = true;
    this.queue = [];
    this.resume();
  }

  /**
   * Bytes of the body, `last` when they end it; `lent` when they are the connection's shared
   * read (valid for this call: kept only as a copy), else the request's to keep.
   */
  onBytes(bytes: Buffer, last: boolean, lent: boolean): void {
    this.bodyLeft -= bytes.length;
    if (last) this.complete = true;
    if (!this.dumping) {
      if (this.flowing && this.queue.length === 0) this.deliver(bytes, lent);
      else this.queue.push(lent ? Buffer.from(bytes) : bytes);
    }
    if (last) this.finish();
  }

  private deliver(bytes: Buffer, lent: boolean): void {
    if (this.borrower) this.borrower(bytes);
    else if (this.listenerCount('data') > 0) this.emit('data', lent ? Buffer.from(bytes) : bytes);
  }

  private drainQueue(): void {
    while (this.flowing && this.queue.length > 0) this.deliver(this.queue.shift()!, false);
    this.finish();
  }

  /** 'end' once the body is all read and delivered, on a later tick, as Node's. */
  private finish(): void {
    if (!this.complete || this.ending || !this.flowing || this.queue.length > 0) return;
    this.ending = true;
    process.nextTick(() => {
      this.readableEnded = true;
      this.emit('end');
    });
  }
}

const NONE: Buffer[] = [];
