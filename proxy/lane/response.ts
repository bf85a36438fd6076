/**
 * The answer to a lane request, written straight to the client socket in node:http's framing:
 * the same head (the fields given, then Date, Connection and Keep-Alive, then
 * `Transfer-Encoding: chunked` when no length is given and the answer has a body), no body
 * for HEAD, 204 and 304, and the same events and flags the relay reads of a ServerResponse
 * ('drain', 'finish', then 'close'; headersSent, writableEnded, writableFinished,
 * writableLength). It costs a fraction of a ServerResponse because it is only that: no
 * header store, no outgoing queue, no pipelining bookkeeping (the lane answers one request at
 * a time), and the head is one string.
 */
import { EventEmitter } from 'node:events';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { isFieldValue, isToken } from '../../protocol/index.js';
import type { LaneRequest } from './request.js';

export type LaneHeaders = readonly string[] | Readonly<Record<string, string | number | readonly string[]>>;

/** The connection a response belongs to (connection.ts). */
export interface LaneHost {
  /** Seconds of keep-alive the head announces. */
  readonly keepAliveSeconds: number;
  /** The response's last byte went to the kernel: the connection may serve its next request. */
  responseDone(res: LaneResponse): void;
}

const LAST_CHUNK = '0\r\n\r\n';
const CRLF = '\r\n';
const NOTHING = Buffer.alloc(0);

export class LaneResponse extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  destroyed = false;
  /** Set to false before the head to end the connection after this answer (`Connection: close`). */
  shouldKeepAlive: boolean;
  /** The client's socket, until the answer is done. */
  socket: Socket | null;
  /** The head, until the first body write takes it along (node:http writes it no sooner). */
  private head: string | null = null;
  private hasBody = true;
  private chunked = false;
  /** cork() calls not yet undone: end() undoes them all, as node:http's does. */
  private corks = 0;
  private closed = false;

  constructor(
    readonly req: LaneRequest,
    socket: Socket,
    keepAlive: boolean,
    private readonly host: LaneHost,
  ) {
    super();
    this.socket = socket;
    this.shouldKeepAlive = keepAlive;
  }

  writeHead(status: number, reasonOrHeaders?: string | LaneHeaders, maybeHeaders?: LaneHeaders): this {
    if (this.headersSent) throw new Error('Cannot write headers after they are sent to the client');
    const reason = typeof reasonOrHeaders === 'string' ? reasonOrHeaders : (STATUS_CODES[status] ?? 'unknown');
    const headers = typeof reasonOrHeaders === 'string' ? maybeHeaders : reasonOrHeaders;
    this.statusCode = status;
    const seen = { length: false, encoding: '', date: false, connection: false };
    let head = `HTTP/1.1 ${status} ${reason}\r\n`;
    if (Array.isArray(headers)) {
      for (let i = 0; i + 1 < headers.length; i += 2) head += this.field(headers[i] as string, String(headers[i + 1]), seen);
    } else if (headers) {
      const record = headers as Readonly<Record<string, string | number | readonly string[]>>;
      for (const name of Object.keys(record)) {
        const value = record[name]!;
        if (typeof value === 'object') for (const one of value) head += this.field(name, one, seen);
        else head += this.field(name, String(value), seen);
      }
    }
    const method = this.req.method;
    this.hasBody = !(method === 'HEAD' || status === 204 || status === 304 || status < 200);
    if (!seen.date) head += `Date: ${httpDate()}\r\n`;
    if (!seen.connection) {
      if (!this.shouldKeepAlive) head += 'Connection: close\r\n';
      // node:http writes the whole seconds, 0 for a timeout under one.
      else head += `Connection: keep-alive\r\nKeep-Alive: timeout=${this.host.keepAliveSeconds}\r\n`;
    }
    if (seen.encoding) this.chunked = /(?:^|[\s,])chunked\s*$/i.test(seen.encoding);
    else if (!seen.length && this.hasBody) {
      this.chunked = true;
      head += 'Transfer-Encoding: chunked\r\n';
    }
    this.head = head + CRLF;
    this.headersSent = true;
    return this;
  }

  /**
   * One field line; notes the fields that decide the framing, as node:http does. A name that is
   * no token or a value with CR, LF or another control is refused, as node:http refuses it.
   */
  private field(name: string, value: string, seen: { length: boolean; encoding: string; date: boolean; connection: boolean }): string {
    if (!isToken(name)) throw new TypeError(`Header name must be a valid HTTP token ["${name}"]`);
    if (!isFieldValue(value)) throw new TypeError(`Invalid character in header content ["${name}"]`);
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'date') seen.date = true;
        break;
      case 10:
        if (name.toLowerCase() === 'connection') {
          seen.connection = true;
          if (/(?:^|\W)close(?:$|\W)/i.test(value)) this.shouldKeepAlive = false;
        }
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') seen.length = true;
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') seen.encoding = value;
        break;
    }
    return `${name}: ${value}\r\n`;
  }

  write(chunk: Uint8Array | string, done?: (err?: Error | null) => void): boolean {
    const socket = this.socket;
    if (this.writableEnded || !socket || socket.destroyed) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.takeHead(socket);
    if (!this.hasBody || chunk.length === 0) {
      if (done) process.nextTick(done);
      return !socket.writableNeedDrain;
    }
    if (!this.chunked) return socket.write(chunk, done);
    // As node:http: a chunk's size line, bytes and CRLF leave together, in the turn's one write.
    socket.cork();
    socket.write(`${byteLength(chunk).toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    const ok = socket.write(CRLF, 'latin1', done);
    process.nextTick(uncorkOnce, socket);
    return ok;
  }

  end(chunk?: Uint8Array | string, done?: () => void): this {
    if (this.writableEnded) return this;
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.writableEnded = true;
    const socket = this.socket;
    if (!socket || socket.destroyed) return this;
    const finished = (err?: Error | null) => {
      if (err) return; // the socket failed: its 'close' ends the response
      this.writableFinished = true;
      done?.();
      this.emit('finish');
      this.host.responseDone(this);
      process.nextTick(() => this.close());
    };
    const last = chunk !== undefined && chunk.length > 0 && this.hasBody ? chunk : null;
    if (this.head !== null && !this.chunked && socket.writableLength === 0 && isSmallBytes(last)) {
      // The common whole answer (a head and a small body, nothing queued before it): one
      // latin1 string, which the socket writes at once from the stack, instead of a corked
      // head and body that leave through the stream's buffer and a writev.
      const text = last === null ? this.head : this.head + latin1(last);
      this.head = null;
      this.uncorkAll(socket); // nothing is queued: flushes nothing
      socket.write(text, 'latin1', finished);
      return this;
    }
    // One write to the kernel for the head, the last piece and the end, as node:http's end().
    socket.cork();
    this.takeHead(socket);
    if (!this.chunked || !this.hasBody) socket.write(last ?? NOTHING, finished);
    else if (last) {
      socket.write(`${byteLength(last).toString(16)}\r\n`, 'latin1');
      socket.write(last);
      socket.write(`\r\n${LAST_CHUNK}`, 'latin1', finished);
    } else socket.write(LAST_CHUNK, 'latin1', finished);
    this.uncorkAll(socket);
    return this;
  }

  /** node:http's end() releases every cork on the socket, the relay's included. */
  private uncorkAll(socket: Socket): void {
    this.corks = 0;
    while (socket.writableCorked > 0) socket.uncork();
  }

  private takeHead(socket: Socket): void {
    const head = this.head;
    if (head === null) return;
    this.head = null;
    socket.write(head, 'latin1');
  }

  cork(): void {
    this.corks++;
    this.socket?.cork();
  }

  uncork(): void {
    if (this.corks === 0) return;
    this.corks--;
    this.socket?.uncork();
  }

  /**
   * Bytes written and not yet taken by the kernel. Not the head that waits for the body: as
   * node:http's, so that the relay, which copies what it writes while the client is behind
   * (exchange.ts), does not take a response just begun for a client behind.
   */
  get writableLength(): number {
    return this.socket?.writableLength ?? 0;
  }

  get writableNeedDrain(): boolean {
    return !this.destroyed && !this.writableFinished && (this.socket?.writableNeedDrain ?? false);
  }

  destroy(err?: Error): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.socket?.destroy(err);
    }
    return this;
  }

  /** The answer is done or its connection gone: 'close', once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.writableFinished) this.destroyed = true;
    this.emit('close');
  }
}

function uncorkOnce(socket: Socket): void {
  socket.uncork();
}

/**
 * Bodies up to this size leave in one string with their head. Node writes a string of up to
 * 16 KiB from the stack when the kernel takes it at once; the head's few hundred bytes fit.
 */
const SMALL_BODY = 8 * 1024;

function isSmallBytes(chunk: Uint8Array | string | null): chunk is Uint8Array | null {
  return chunk === null || (typeof chunk !== 'string' && chunk.length <= SMALL_BODY);
}

/** Bytes as a latin1 string: one character a byte, written back byte for byte. */
function latin1(bytes: Uint8Array): string {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return buffer.toString('latin1');
}

function byteLength(chunk: Uint8Array | string): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
}

let dateText = '';
let dateUntil = 0;

/** The Date field's value, made once a second (node:http caches it the same way). */
function httpDate(): string {
  const now = Date.now();
  if (now >= dateUntil) {
    dateText = new Date(now).toUTCString();
    dateUntil = now - (now % 1000) + 1000;
  }
  return dateText;
}
