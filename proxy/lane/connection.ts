/**
 * One client connection in the lane: the common request (HTTP/1.1, a common method, its head
 * whole in one read, no body or one framed by Content-Length, no Upgrade, no Expect but
 * 100-continue) parsed by Node's own parser and answered by a LaneResponse, one request at a
 * time, with node:http's keep-alive and head timing. The first read that holds anything else
 * — a chunked body, a head split across packets, several requests at once, a parse error,
 * HTTP/1.0, CONNECT — hands the connection, and those bytes, to node:http's server for the
 * rest of its life (lane.ts), which reads them from their first byte as if it had had the
 * connection all along. The lane never answers what node:http would answer differently: what
 * it serves, both read alike.
 *
 * A body the head's read does not hold whole is read past the parser, Content-Length bytes
 * counted as llhttp counts them (it checked the field: digits only, no second one, no
 * Transfer-Encoding beside it), into the process's shared read buffer (shared-read.ts); the
 * parser starts afresh at the next request's first byte.
 */
import type { Socket } from 'node:net';
import { headerMap } from './headers.js';
import type { NodeParser, ParserBinding } from './parser.js';
import { LaneRequest, type BodySource } from './request.js';
import { LaneResponse, type LaneHost } from './response.js';
import { sharedRead, type SharedReader } from './shared-read.js';

/** What the connection needs of its listener. */
export interface LaneOwner {
  /** The listener's handler of a request, the one node:http's 'request' event calls. */
  handle(req: LaneRequest, res: LaneResponse): void;
  /** Gives node:http's server the connection and the bytes read from it but not served. */
  handOver(socket: Socket, unread: Buffer): void;
  /** A new connection sent no request within client_header_timeout: 408, as node:http. */
  headerTimedOut(socket: Socket): void;
  /** The listener stops: no connection is kept once its answer is done. */
  readonly stopping: boolean;
  /** Limits of the moment (a reload changes them for the requests that follow). */
  readonly headerTimeoutMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly headBytes: number;
  forget(connection: LaneConnection): void;
}

/** What the parser said of one read. */
interface Parsed {
  messages: number;
  completed: number;
  /** Anything the lane does not serve itself. */
  unfit: boolean;
  method: string;
  url: string;
  rawHeaders: string[];
  keepAlive: boolean;
  /** Content-Length (0 without one). */
  bodyLength: number;
  /** `Expect: 100-continue`: the interim answer goes first, as node:http sends it. */
  expectsContinue: boolean;
  /** Body bytes the parser gave in this read (its own copies). */
  body: Buffer[];
  bodySeen: number;
}

export class LaneConnection implements LaneHost, SharedReader, BodySource {
  private readonly parser: NodeParser;
  /** The answer being written, one at a time. */
  private busy: LaneResponse | null = null;
  /** Bytes that came while an answer was written (the next request, pipelined). */
  private pending: Buffer | null = null;
  /** No request yet: a silence is client_header_timeout's, not keep-alive's. */
  private fresh = true;
  private attached = true;
  /** The parser reads the socket's handle (else 'data' events bring the reads). */
  private consuming = false;
  /** The parser read bytes meant for later (pipelined during an answer): start it afresh first. */
  private dirty = false;
  private readonly initialize: () => void;
  /** The connection's timer ran out while an answer was written. */
  private lapsed = false;
  /** The answer that ends the connection is written: later bytes are dropped. */
  private ending = false;
  /** The request whose body is being read past the parser. */
  private bodyOf: LaneRequest | null = null;
  /** bodyOf's bytes come through the shared read buffer (else through 'data' events). */
  private sharing = false;
  private readonly parsed: Parsed = { messages: 0, completed: 0, unfit: false, method: '', url: '', rawHeaders: NO_HEADERS, keepAlive: false, bodyLength: 0, expectsContinue: false, body: NO_BODY, bodySeen: 0 };

  constructor(
    readonly socket: Socket,
    private readonly owner: LaneOwner,
    binding: ParserBinding,
  ) {
    const { slots, methods } = binding;
    const parser = binding.create();
    // Strict (no lenient flag) and bounded by the head size, as node:http's parser.
    const initialize = () => parser.initialize(slots.REQUEST, {}, owner.headBytes, slots.lenientNone);
    initialize();
    const parsed = this.parsed;
    // More than 32 field lines come in pieces: node:http's to assemble.
    parser[slots.kOnHeaders] = () => void (parsed.unfit = true);
    parser[slots.kOnHeadersComplete] = (major: number, minor: number, raw: string[] | undefined, method: number, url: string | undefined, _status: unknown, _reason: unknown, upgrade: boolean, keepAlive: boolean) => {
      parsed.messages++;
      const name = methods[method];
      const bodyLength = major === 1 && minor === 1 && raw ? framing(raw, parsed) : -1;
      if (bodyLength < 0 || upgrade || url === undefined || name === undefined || !LANE_METHODS.has(name)) parsed.unfit = true;
      else {
        parsed.method = name;
        parsed.url = url;
        parsed.rawHeaders = raw!;
        parsed.keepAlive = keepAlive;
        parsed.bodyLength = bodyLength;
      }
      return 0;
    };
    parser[slots.kOnBody] = (bytes: Buffer) => {
      if (parsed.body === NO_BODY) parsed.body = [];
      parsed.body.push(bytes);
      parsed.bodySeen += bytes.length;
    };
    parser[slots.kOnMessageComplete] = () => void parsed.completed++;
    this.parser = parser;
    this.initialize = initialize;
    parser[slots.kOnExecute] = this.onExecute;
    this.consume();
    // Also while consuming: a flowing stream is what reports the client's EOF ('end').
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('end', this.onEnd);
    socket.on('timeout', this.onTimeout);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.setTimeout(owner.headerTimeoutMs);
  }

  get keepAliveSeconds(): number {
    return Math.floor(this.owner.keepaliveTimeoutMs / 1000);
  }

  /** Closes the connection now if no answer is being written (a stop), else after it. */
  closeIdle(): void {
    if (!this.busy) this.socket.destroy();
  }

  /** A read the parser took from the handle (consuming). */
  private readonly onExecute = (result: number | Error): void => {
    if (this.ending) return;
    if (this.busy || this.pending) return this.hold(this.parser.getCurrentBuffer());
    this.decide(result, null);
  };

  /** A read brought by a 'data' event (not consuming). */
  private readonly onData = (chunk: Buffer): void => {
    if (this.bodyOf) return this.bodyBytes(chunk, false);
    if (this.ending) return;
    if (this.busy || this.pending) return this.hold(chunk);
    this.serve(chunk);
  };

  /**
   * A read while an answer is written (the client pipelines) waits for that answer. The
   * socket is then read through its stream, paused: what follows waits in the stream's
   * buffer, bounded by its high-water mark, and the reading stops there.
   */
  private hold(chunk: Buffer): void {
    this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.dirty = true;
    this.resetParsed();
    if (this.consuming) {
      this.consuming = false;
      this.parser.unconsume();
    }
    this.socket.pause();
  }

  private serve(chunk: Buffer): void {
    if (this.dirty) {
      this.dirty = false;
      this.initialize();
    }
    this.decide(this.parser.execute(chunk), chunk);
  }

  /** Serves the request of one read, or hands the connection over with that read. */
  private decide(result: number | Error, chunk: Buffer | null): void {
    const parsed = this.parsed;
    // A head whole in this read, and its body whole too or (counted by llhttp) still to come.
    const bodyLeft = parsed.bodyLength - parsed.bodySeen;
    const fit = typeof result === 'number' && !parsed.unfit && parsed.messages === 1 && (parsed.completed === 1 || bodyLeft > 0);
    const body = parsed.body;
    const expectsContinue = parsed.expectsContinue;
    this.resetParsed();
    if (!fit) return this.handOver(chunk ?? this.parser.getCurrentBuffer());
    const { socket } = this;
    if (this.fresh) {
      this.fresh = false;
      // From now on the connection's timer is keep-alive's. It runs from the last write (a
      // socket's writes restart it), so it counts the idle time after each answer without a
      // timer made and cleared per request; while an answer is under way it is ignored.
      socket.setTimeout(this.owner.keepaliveTimeoutMs);
    }
    const req = new LaneRequest(parsed.method, parsed.url, parsed.rawHeaders, headerMap(parsed.rawHeaders), socket, bodyLeft, body);
    // The request has them now: the connection keeps no request of its own between requests.
    parsed.rawHeaders = NO_HEADERS;
    parsed.url = '';
    const res = new LaneResponse(req, socket, parsed.keepAlive, this);
    this.busy = res;
    if (expectsContinue) socket.write(CONTINUE);
    if (bodyLeft > 0) this.readBody(req);
    this.owner.handle(req, res);
  }

  private resetParsed(): void {
    const parsed = this.parsed;
    parsed.messages = 0;
    parsed.completed = 0;
    parsed.unfit = false;
    parsed.bodyLength = 0;
    parsed.expectsContinue = false;
    parsed.body = NO_BODY;
    parsed.bodySeen = 0;
  }

  // ---- a body read past the parser ----

  /** The rest of `req`'s body comes in the next reads: the parser lets go of them until it ends. */
  private readBody(req: LaneRequest): void {
    this.bodyOf = req;
    // In the middle of a body: it starts afresh at the next request.
    this.dirty = true;
    if (this.consuming) {
      this.consuming = false;
      this.parser.unconsume();
    }
    // Bytes the stream holds already come before any the handle reads next: through the stream.
    this.sharing = this.socket.readableLength === 0 && (sharedRead?.attach(this.socket, this) ?? false);
    // Nothing is read before the request's reader asks (its runner may not even be chosen yet).
    this.pauseBody();
    req.readFrom(this);
  }

  resumeBody(): void {
    if (!this.bodyOf) return;
    if (this.sharing) sharedRead!.resume(this.socket);
    else this.socket.resume();
  }

  pauseBody(): void {
    if (!this.bodyOf) return;
    if (this.sharing) sharedRead!.pause(this.socket);
    else this.socket.pause();
  }

  /** A read of the shared buffer, lent for this call. */
  onBorrowed(bytes: Buffer): void {
    this.bodyBytes(bytes, true);
  }

  /** Bytes read while a body is read: the body's, then (copied) the next request's. */
  private bodyBytes(bytes: Buffer, lent: boolean): void {
    const req = this.bodyOf!;
    // A read counts as activity, as net.Socket's own reads do (which these bypass); while an
    // answer is written the timer is not the connection's anyway (onTimeout).
    if (!this.busy && lent) (this.socket as Socket & { _unrefTimer?(): void })._unrefTimer?.();
    const left = req.bodyLeft;
    if (bytes.length < left) return req.onBytes(bytes, false, lent);
    const next = bytes.length > left ? bytes.subarray(left) : null;
    const rest = next && lent ? Buffer.from(next) : next;
    this.bodyDone();
    req.onBytes(bytes.subarray(0, left), true, lent);
    if (this.socket.destroyed || !this.attached) return;
    if (this.ending) return;
    // What follows the body is the next request, read as any other.
    if (rest) {
      if (this.busy) this.hold(rest);
      else this.serve(rest);
    } else if (!this.busy) this.readHeads();
  }

  private bodyDone(): void {
    this.bodyOf = null;
    // The body's reader may have stopped the handle: net.Socket reads the next bytes.
    if (this.unshare()) sharedRead!.resume(this.socket);
    // While the answer is written, a pipelined request waits (hold), read by the stream.
    if (this.busy) this.socket.pause();
    else this.socket.resume();
  }

  /** Between requests, the parser reads the handle again (as before the body). */
  private readHeads(): void {
    // Bytes the stream holds come first, as 'data' events: the connection reads without consuming.
    if (this.consuming || this.pending || this.socket.readableLength > 0) return;
    if (this.dirty) {
      this.dirty = false;
      this.initialize();
    }
    this.consume();
  }

  /**
   * The parser reads the socket's handle itself, as node:http's does: no Buffer and no stream
   * event per read. A socket without a stream handle is read through 'data' events.
   */
  private consume(): void {
    const handle = (this.socket as Socket & { _handle?: { isStreamBase?: boolean } })._handle;
    if (!handle?.isStreamBase) return;
    this.parser.consume(handle);
    this.consuming = true;
  }

  /** The shared read lets go of the socket; true when it had it. */
  private unshare(): boolean {
    if (!this.sharing) return false;
    this.sharing = false;
    sharedRead!.detach(this.socket);
    return true;
  }

  responseDone(res: LaneResponse): void {
    if (this.busy !== res) return;
    this.busy = null;
    res.socket = null;
    const { socket } = this;
    if (socket.destroyed || !this.attached) return;
    // Nobody reads the rest of the body: read and dropped, as node:http does, before the next request.
    if (this.bodyOf) this.bodyOf.dump();
    if (!res.shouldKeepAlive || this.owner.stopping) {
      // Nothing the client sends after an answer that ends the connection is read as a request.
      this.ending = true;
      this.pending = null;
      // What node:http does after an answer that ends the connection (linger.ts may replace it).
      socket.destroySoon();
      return;
    }
    // Again after a timeout ignored during the answer, or a reload that changed keepalive_timeout.
    const keepaliveMs = this.owner.keepaliveTimeoutMs;
    if (this.lapsed || socket.timeout !== keepaliveMs) {
      this.lapsed = false;
      socket.setTimeout(keepaliveMs);
    }
    if (this.bodyOf) return;
    const pending = this.pending;
    if (!pending) {
      // After a body the stream was paused for the answer. Bytes it took meanwhile come as
      // 'data' events (read without consuming from then on); else the parser reads the handle.
      if (!socket.isPaused()) return;
      const buffered = socket.readableLength > 0;
      socket.resume();
      if (!buffered) this.readHeads();
      return;
    }
    this.pending = null;
    this.serve(pending);
    // What the paused stream holds comes next, unless the connection was handed over.
    if (this.attached) socket.resume();
  }

  private handOver(unread: Buffer): void {
    this.detach();
    this.owner.handOver(this.socket, unread);
  }

  /** The lane lets go of the socket (handed over, or answered 408 by the listener). */
  private detach(): void {
    if (!this.attached) return;
    this.attached = false;
    const { socket } = this;
    socket.removeListener('data', this.onData);
    socket.removeListener('drain', this.onDrain);
    socket.removeListener('end', this.onEnd);
    socket.removeListener('timeout', this.onTimeout);
    socket.removeListener('error', this.onError);
    socket.removeListener('close', this.onClose);
    socket.setTimeout(0);
    this.release();
  }

  private release(): void {
    this.owner.forget(this);
    this.unshare();
    const { parser } = this;
    if (this.consuming) {
      this.consuming = false;
      parser.unconsume();
    }
    // Not now: this may run inside the parser's own read callback (as node:http frees its parsers).
    setImmediate(() => parser.close());
  }

  private readonly onDrain = (): void => {
    this.busy?.emit('drain');
  };

  /**
   * The client closed its side: like node:http (no half-open HTTP), the connection ends once
   * what was written has gone; an answer still being written is cut.
   */
  private readonly onEnd = (): void => {
    if (this.socket.writable) this.socket.end();
  };

  private readonly onTimeout = (): void => {
    // Not the connection's to time while an answer is written (the exchange's deadlines are);
    // the timer starts again once the answer is done.
    if (this.busy) return void (this.lapsed = true);
    if (this.fresh) {
      this.detach();
      this.owner.headerTimedOut(this.socket);
    } else this.socket.destroy();
  };

  private readonly onError = (): void => {
    this.socket.destroy();
  };

  private readonly onClose = (): void => {
    const res = this.busy;
    this.busy = null;
    this.attached = false;
    this.pending = null;
    this.release();
    if (res) {
      res.socket = null;
      res.close();
      res.req.emit('close');
    }
  };
}

const NO_HEADERS: string[] = [];
const NO_BODY: Buffer[] = [];

/** Methods the lane serves; any other (CONNECT first) is node:http's. */
const LANE_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Above this a length is not counted exactly by a double: node:http's to refuse. */
const MAX_LENGTH = Number.MAX_SAFE_INTEGER;

/** node:http's own interim answer, and its test of an Expect field. */
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const CONTINUE_EXPECTED = /(?:^|\W)100-continue(?:$|\W)/i;

/**
 * The body's Content-Length (0 without one), or -1 when the head is node:http's to handle: a
 * chunked body, an expectation other than 100-continue (node:http answers 417), a length the
 * lane cannot count. llhttp has refused a second Content-Length and one beside
 * Transfer-Encoding already.
 */
function framing(raw: readonly string[], parsed: Pick<Parsed, 'expectsContinue'>): number {
  let length = 0;
  let expects = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const n = name.length;
    if (n !== 14 && n !== 17 && n !== 6) continue;
    const lower = name.toLowerCase();
    if (lower === 'transfer-encoding') return -1;
    if (lower === 'expect') {
      if (++expects > 1 || !CONTINUE_EXPECTED.test(raw[i + 1]!)) return -1;
      parsed.expectsContinue = true;
    } else if (lower === 'content-length') {
      const value = raw[i + 1]!.trim();
      length = /^[0-9]{1,16}$/.test(value) ? Number(value) : -1;
      if (length < 0 || length > MAX_LENGTH) return -1;
    }
  }
  return length;
}
