import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import type { Logger } from 'pino';
import {
  DEFAULTS,
  ErrorCode,
  Flags,
  FrameDecoder,
  FrameType,
  FrameWriter,
  MAX_STREAM_ID,
  PROTOCOL_VERSION,
  PingAnswers,
  StreamTable,
  ProtocolError,
  checkOpened,
  checkPeerHello,
  decodeCancel,
  decodeGoAway,
  decodeHello,
  decodeResponseHead,
  encodeCancel,
  encodeGoAway,
  encodeHello,
  errorCodeName,
  readU32,
  receiveFrames,
  software,
  type Address,
  type Frame,
  type Hello,
} from '../../protocol/index.js';
import { UpstreamConnectionError } from '../errors.js';
import { bodyBytesRead, copyCounted } from '../young-gc.js';
import { UpstreamStream, type StreamEvents } from './stream.js';

export interface ConnectionLimits {
  maxFrameSize: number;
  initialWindow: number;
}

const SOFTWARE = software('tsgi-proxy');
/** How long a closing connection may take to flush its last frames. */
const CLOSE_GRACE_MS = 1000;
/**
 * Unsent bytes above which request bodies wait for the socket to drain, even with credit: a
 * runner may grant a huge window and then not read, and the body would pile up in our memory.
 */
const CONGESTED_BYTES = 1024 * 1024;
/**
 * Unsent bytes at which the runner is judged not to read at all. Only frames that no window
 * governs get past CONGESTED_BYTES (REQUEST heads, CREDIT, CANCEL, PING answers); a runner that
 * floods PINGs and never reads the answers would otherwise grow this buffer without end.
 */
const MAX_UNSENT_BYTES = 8 * 1024 * 1024;
/** A frame (at most our max frame size) still incomplete after this long is not coming. */
const STUCK_IN_FRAME_MS = 1000;
/**
 * The runner's bytes are read into one buffer of this size. A client that falls behind keeps
 * the buffer of the read that reached it (its socket holds views of it), other streams' bytes
 * included: this is what one such client can pin beyond its own window.
 */
export const READ_SIZE = 256 * 1024;
/**
 * The buffer for bulk reads: taken for the next read when the last one was saturated and gave
 * DATA to a single stream (a download, a large body), for that stream. Its size is a cache's
 * matter, not a system call's: a worker streaming a body writes a whole grown window at once
 * (1 MiB of DATA), and 1 MiB reads took it in one, each read then one write to the client. But
 * every byte goes through the CPU's cache three times (the worker's copy into the socket, our
 * read, our write to the client), and a megabyte in flight made all three copies slower than
 * the system calls they saved: on the machine of 2026-12-07 (2 MiB of L2 a core), 256 KiB reads
 * cut the proxy's and the worker's CPU in a 256 MiB download by ~10 % (test/bench/PROFILE.md,
 * item 28). The 16 KiB beyond 256 KiB are for the frame headers of a read full of DATA.
 * DATA of any other stream that comes in a bulk read is copied out of it, so only the stream it
 * was taken for can keep it. The bound per client that falls behind is then one buffer:
 * READ_SIZE, or BULK_READ_SIZE for a response that streamed alone (its own bytes in it, but the
 * whole buffer kept, and counted whole).
 */
export const BULK_READ_SIZE = 256 * 1024 + 16 * 1024;
/**
 * A read of at least this much found the runner's writes waiting on the socket: a Unix socket
 * holds what its sender's buffer allows (~208 KiB by default on Linux, which a JavaScript
 * runner without its sockopt addon cannot raise: Node has no SO_SNDBUF for stream sockets), so
 * the runner sleeps until we read, and on a shared CPU every such round costs two switches.
 * See `saturated`.
 */
const SATURATED_READ = 128 * 1024;
/** How long one such read marks the connection saturated: bulk traffic comes in runs. */
const SATURATED_MS = 100;

function describe(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'unprintable value';
  }
}

/**
 * The proxy's end of one runner connection: opens streams, multiplexes frames, enforces the
 * runner's side of the protocol. Knows nothing of HTTP.
 */
export class UpstreamConnection {
  /** Response bodies are passed on as the socket reads them: never assembled, never copied. */
  private readonly decoder = new FrameDecoder(undefined, { dataInPieces: true });
  private readonly writer: FrameWriter;
  /** Not a Map: see StreamTable for what a Map's churn cost. */
  private readonly streams = new StreamTable<UpstreamStream>();
  private nextStream = 1;
  private peer: Hello | null = null;
  private goaway = false;
  private closed = false;
  private readonly ready: Promise<Hello>;
  /**
   * Reads land in this one buffer, and response bodies go on to clients as views of it: no
   * allocation per read and no read buffers left for the collector (on json-100k 150–160 →
   * 132–157 cpu µs per response; peak memory did not move). Replaced by a fresh one only when
   * a client write still refers to it after the read is handled.
   */
  private readBuffer: Buffer | null = null;
  /** The same for bulk reads (BULK_READ_SIZE), made when a connection first needs it. */
  private bulkBuffer: Buffer | null = null;
  /**
   * A bulk buffer given up to a client that was behind, and written since: taken when the bulk
   * buffer is given up next, instead of a new one. Node asks for the next read's buffer as soon
   * as a read is handled, before any client can have written the last one, so without this slot
   * a buffer that comes back would always find a new one in its place. A connection holds at
   * most these two bulk buffers, idle too: a spare dropped when a download ended was garbage
   * old enough to wait for a full collection (10 MiB of them in 30 downloads).
   */
  private spareBulk: Buffer | null = null;
  /** The stream the next read goes to the bulk buffer for, if any. */
  private bulkFor: UpstreamStream | null = null;
  /** The read being handled landed in the bulk buffer: other streams' DATA is copied out. */
  private readingBulk = false;
  /** The last read filled SATURATED_READ or more. */
  private lastReadFull = false;
  /** The only stream the last read gave DATA to, if its response goes on; else null. */
  private lastReadSole: UpstreamStream | null = null;
  /** onRead is running: bulkFor must stay as the read found it until endRead. */
  private handlingRead = false;
  /** Streams given DATA by the read being handled. */
  private readonly reading: UpstreamStream[] = [];
  private resolveReady!: (hello: Hello) => void;
  private rejectReady!: (err: Error) => void;
  /** Called once when the connection can take no more streams (GOAWAY) or is gone. */
  onRetire: (() => void) | null = null;
  /** Called when the last open stream closes. */
  onIdle: (() => void) | null = null;
  /** Until when the connection counts as saturated (see `saturated`). */
  private saturatedUntil = 0;

  private readonly socket: Socket;

  private constructor(
    private readonly limits: ConnectionLimits,
    private readonly log: Logger,
  ) {
    // Node 20 takes onread in the constructor (documented there from Node 22 on; the types
    // still list it under connect() alone).
    const options: SocketConstructorOpts & { onread: OnReadOpts } = { onread: { buffer: this.nextReadBuffer, callback: this.onRead } };
    const socket = new Socket(options);
    this.socket = socket;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    this.writer = new FrameWriter(socket, setImmediate);
    socket.setNoDelay?.(true);
    socket.on('drain', () => this.onDrain());
    socket.on('error', (err) => this.lost(new UpstreamConnectionError(err.message, this.peer ? 'CLOSED' : 'CONNECT')));
    socket.on('close', () => this.lost(new UpstreamConnectionError('runner closed the connection', 'CLOSED')));
  }

  /** Connects and completes the handshake within `timeoutMs`. */
  static async open(address: Address, limits: ConnectionLimits, timeoutMs: number, log: Logger): Promise<UpstreamConnection> {
    const connection = new UpstreamConnection(limits, log);
    const { socket } = connection;
    socket.once('connect', () => connection.sendHello());
    if (address.kind === 'unix') socket.connect({ path: address.path });
    else socket.connect({ host: address.host, port: address.port });
    const timer = setTimeout(() => connection.lost(new UpstreamConnectionError(`connect/handshake timed out after ${timeoutMs} ms`, 'TIMEOUT')), timeoutMs);
    try {
      await connection.ready;
    } finally {
      clearTimeout(timer);
    }
    return connection;
  }

  get hello(): Hello {
    return this.peer!;
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  /** True while new streams may be opened here. */
  get available(): boolean {
    return !this.closed && !this.goaway && this.peer !== null && this.nextStream < MAX_STREAM_ID;
  }

  get hasCapacity(): boolean {
    return this.available && this.streams.size < (this.peer!.maxStreams ?? DEFAULTS.maxStreams);
  }

  /** The runner marks each stream it starts with ACCEPT; without it, any sent request may have run. */
  get acceptsStreams(): boolean {
    return this.peer?.accepts === true;
  }

  /** Largest environ (encoded) the runner accepts in one REQUEST. */
  get maxEnvironSize(): number {
    return this.peer!.maxFrameSize;
  }

  /**
   * Opens a stream with the encoded environ, which the caller has checked against
   * environOverLimit(…, maxEnvironSize): it is encoded once for every try of a request.
   */
  request(payload: Uint8Array, hasBody: boolean, events: StreamEvents): UpstreamStream {
    const id = this.nextStream++;
    const stream = new UpstreamStream(id, this, events, this.peer!.initialWindow, this.limits.initialWindow, hasBody);
    this.streams.set(id, stream);
    this.sendFrame(FrameType.REQUEST, hasBody ? 0 : Flags.END_STREAM, id, payload);
    return stream;
  }

  /** A PING answered within `timeoutMs` (the health check): true, else false. */
  ping(timeoutMs: number): Promise<boolean> {
    const opaque = new Uint8Array(8);
    new DataView(opaque.buffer).setFloat64(0, performance.now() + Math.random());
    const key = Buffer.from(opaque).toString('hex');
    return new Promise((resolve) => {
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.pings.delete(key);
        resolve(ok);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.pings.set(key, () => finish(true));
      this.sendFrame(FrameType.PING, 0, 0, opaque);
    });
  }

  private readonly pings = new Map<string, () => void>();

  /** Graceful: no new streams; close once the open ones are done. */
  retire(): void {
    if (this.goaway) return;
    this.goaway = true;
    this.onRetire?.();
    if (this.streams.size === 0) this.socket.end();
  }

  destroy(): void {
    this.lost(new UpstreamConnectionError('connection closed by the proxy', 'CLOSED'));
  }

  // ---- used by UpstreamStream ----

  get peerMaxFrameSize(): number {
    return this.peer!.maxFrameSize;
  }

  sendFrame(type: FrameType, flags: number, stream: number, payload: Uint8Array, lent = false): void {
    this.writer.frame(type, flags, stream, payload, lent);
    this.checkUnsent();
  }

  sendCredit(stream: number, increment: number): void {
    this.writer.credit(stream, increment);
    this.checkUnsent();
  }

  sendCancel(stream: number, code: ErrorCode, reason: string): void {
    this.sendFrame(FrameType.CANCEL, 0, stream, encodeCancel({ code, reason }));
    // A request timed out while the runner left our frames unread: it is not reading at all,
    // so every stream on this connection is stuck. Close it (after the caller's own handling,
    // so that request keeps its 504 and the others get 502).
    if (code === ErrorCode.TIMEOUT && (this.congested || this.stuckInFrame)) setImmediate(() => this.stalled());
  }

  /**
   * The runner stopped in the middle of a frame: everything it sends next would be read as
   * that frame's payload, so no request on this connection can be answered any more.
   */
  private get stuckInFrame(): boolean {
    return !this.decoder.idle && performance.now() - this.frameStartedAt > STUCK_IN_FRAME_MS;
  }

  /** When the frame being received began: a read that starts on a frame boundary, or the end of the last frame. */
  private frameStartedAt = performance.now();

  /**
   * A read of SATURATED_READ bytes or more came within SATURATED_MS: the runner produces faster
   * than this one socket carries. New streams are better placed on another connection, whose
   * buffer is its own (UpstreamServer widens the pool for them). Cleared when idle.
   */
  get saturated(): boolean {
    return this.saturatedUntil !== 0 && this.saturatedAt(performance.now());
  }

  /** `saturated` at the time `now` (one clock read for a whole pool); an expired mark is dropped. */
  saturatedAt(now: number): boolean {
    if (this.saturatedUntil === 0) return false;
    if (now < this.saturatedUntil) return true;
    this.saturatedUntil = 0;
    return false;
  }

  roomForLent(size: number): boolean {
    return this.writer.roomFor(size);
  }

  get drainAhead(): boolean {
    return this.socket.writableNeedDrain;
  }

  /** The runner reads too slowly for more body bytes to be queued now. */
  get congested(): boolean {
    return this.socket.writableLength > CONGESTED_BYTES;
  }

  streamClosed(stream: UpstreamStream): void {
    this.streams.delete(stream.id);
    // Not kept for the next read, nor alive through it. Between reads only: during one, the
    // stream may hold views of the bulk buffer, and its verdict in endRead must still count.
    if (this.lastReadSole === stream) this.lastReadSole = null;
    if (this.bulkFor === stream && !this.handlingRead) this.bulkFor = null;
    if (this.streams.size > 0) return;
    this.saturatedUntil = 0;
    if (this.goaway) this.socket.end();
    else this.onIdle?.();
  }

  // ---- the runner's reading ----

  /** Deferred: a send happens deep inside a stream's or the relay's own handling. */
  private checkUnsent(): void {
    if (this.overflowing || this.closed || this.socket.writableLength <= MAX_UNSENT_BYTES) return;
    this.overflowing = true;
    setImmediate(() => {
      const reason = `runner is not reading: ${this.socket.writableLength} bytes unsent`;
      if (!this.closed) this.fail(new ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, reason));
    });
  }

  private overflowing = false;

  private stalled(): void {
    if (this.closed) return;
    if (this.congested) {
      this.fail(new ProtocolError(ErrorCode.TIMEOUT, `runner read nothing of ${this.socket.writableLength} unsent bytes before a request's deadline`));
    } else if (this.stuckInFrame) {
      this.fail(new ProtocolError(ErrorCode.TIMEOUT, `runner stopped in the middle of a frame begun ${Math.round(performance.now() - this.frameStartedAt)} ms ago`));
    }
  }

  /** The socket took our backlog: bodies held back by congestion may flow again. */
  private onDrain(): void {
    for (const stream of this.streams.values()) if (!this.congested) stream.onDrain();
  }

  // ---- receiving ----

  private sendHello(): void {
    const hello: Hello = {
      version: PROTOCOL_VERSION,
      role: 'proxy',
      maxFrameSize: this.limits.maxFrameSize,
      initialWindow: this.limits.initialWindow,
      software: SOFTWARE,
    };
    this.sendFrame(FrameType.HELLO, 0, 0, encodeHello(hello));
  }

  /** Node asks for the buffer of the next read after each one. */
  private readonly nextReadBuffer = (): Buffer => {
    this.bulkFor = this.lastReadFull ? this.lastReadSole : null;
    if (this.bulkFor) return (this.bulkBuffer ??= this.takeSpareBulk() ?? Buffer.allocUnsafeSlow(BULK_READ_SIZE));
    return (this.readBuffer ??= Buffer.allocUnsafeSlow(READ_SIZE));
  };

  private readonly onRead = (length: number, buffer: Uint8Array): boolean => {
    if (this.decoder.idle) this.frameStartedAt = performance.now();
    this.handlingRead = true;
    this.readingBulk = buffer === this.bulkBuffer;
    this.lastReadSole = null;
    this.lastReadFull = length >= SATURATED_READ;
    if (this.lastReadFull) this.saturatedUntil = performance.now() + SATURATED_MS;
    receiveFrames(
      this.decoder,
      buffer.subarray(0, length),
      (frame) => this.onFrame(frame),
      (err) => this.fail(err),
      () => this.closed,
    );
    if (this.reading.length > 0) this.endRead(buffer);
    this.handlingRead = false;
    return true;
  };

  /** Each stream that got DATA writes it on; the buffer is given up if one still refers to it. */
  private endRead(buffer: Uint8Array): void {
    let kept = false;
    // In a bulk read only the stream it was taken for got views; the others got copies.
    for (const stream of this.reading) if (stream.readEnd() && (!this.readingBulk || stream === this.bulkFor)) kept = true;
    const sole = this.reading.length === 1 ? this.reading[0]! : null;
    // A response that ended in this read has no more bytes for a bulk read to carry.
    this.lastReadSole = sole && !sole.responseDone ? sole : null;
    this.reading.length = 0;
    if (kept) {
      // The client's socket still holds views of it: a fresh buffer for the next read.
      if (buffer === this.bulkBuffer) {
        this.bulkBuffer = null;
        // Only the stream it was taken for has views of a bulk buffer (other streams' DATA was
        // copied out): once its client's socket has written them, the buffer serves bulk reads
        // again. Left to the collector instead, it often outlived two scavenges first and
        // waited for a full collection, promoted.
        const bulk = buffer as Buffer;
        if (this.bulkFor?.whenWritten((written) => this.bulkWritten(bulk, written))) return;
      } else this.readBuffer = null;
      // Garbage once those writes are done, counted toward a young collection like a request
      // body's chunks.
      bodyBytesRead(buffer.length);
    }
  }

  /**
   * A bulk buffer given up is free again (`written`), or will be once its client's socket is
   * gone: the next bulk read's, or the spare, or garbage for the collector.
   */
  private bulkWritten(buffer: Buffer, written: boolean): void {
    if (!written || this.closed || (this.bulkBuffer && this.spareBulk)) bodyBytesRead(buffer.length);
    else if (this.bulkBuffer) this.spareBulk = buffer;
    else this.bulkBuffer = buffer;
  }

  private takeSpareBulk(): Buffer | null {
    const spare = this.spareBulk;
    this.spareBulk = null;
    return spare;
  }

  readInto(stream: UpstreamStream): void {
    this.reading.push(stream);
  }

  private onFrame(frame: Frame): void {
    this.frameStartedAt = performance.now();
    if (!this.peer) return this.onHello(frame);
    switch (frame.type) {
      case FrameType.RESPONSE: {
        const stream = this.stream(frame);
        if (stream) stream.onResponse(decodeResponseHead(frame.payload, frame.stream), (frame.flags & Flags.END_STREAM) !== 0);
        return;
      }
      case FrameType.DATA: {
        const stream = this.stream(frame);
        if (!stream) return;
        const payload = this.readingBulk && stream !== this.bulkFor ? copyCounted(frame.payload) : frame.payload;
        return stream.onData(payload, (frame.flags & Flags.END_STREAM) !== 0, frame.rest, frame.continued);
      }
      case FrameType.CREDIT:
        return this.stream(frame)?.onCredit(readU32(frame.payload, 0));
      case FrameType.CANCEL: {
        // CANCEL may name any stream, even one never opened (SPEC §4): it only ever ends things.
        const { code, reason } = decodeCancel(frame.payload, frame.stream);
        return this.streams.get(frame.stream)?.onCancel(code, reason);
      }
      case FrameType.ACCEPT:
        return this.stream(frame)?.onAccept();
      case FrameType.GOAWAY:
        return this.onGoAway(frame);
      case FrameType.PING:
        if ((frame.flags & Flags.ACK) === 0) return this.answerPing(frame.payload);
        this.pings.get(Buffer.from(frame.payload).toString('hex'))?.();
        return;
      case FrameType.HELLO:
      case FrameType.REQUEST:
        throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `unexpected ${FrameType[frame.type]} from the runner`);
      default:
        return;
    }
  }

  private onHello(frame: Frame): void {
    if (frame.type === FrameType.GOAWAY) {
      const goaway = decodeGoAway(frame.payload);
      throw new ProtocolError(goaway.code, `runner refused the handshake: ${goaway.reason}`);
    }
    if (frame.type !== FrameType.HELLO) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `expected HELLO, got frame type ${frame.type}`);
    const hello = decodeHello(frame.payload);
    checkPeerHello(hello, 'runner');
    this.peer = hello;
    this.decoder.setMaxFrameSize(this.limits.maxFrameSize);
    this.resolveReady(hello);
  }

  private answerPing(opaque: Uint8Array): void {
    // Retired and idle, we closed our side: the runner's drain fence is answered by that close.
    if (this.socket.writableEnded) return;
    this.pingAnswers.count(this.socket.writableLength, 'runner');
    this.sendFrame(FrameType.PING, Flags.ACK, 0, opaque);
  }

  private readonly pingAnswers = new PingAnswers();

  private onGoAway(frame: Frame): void {
    const { lastStream, code, reason } = decodeGoAway(frame.payload);
    this.retire();
    // Streams the runner will never process were not started: safe to retry elsewhere.
    for (const stream of this.streams.values()) {
      if (stream.id > lastStream) stream.onCancel(ErrorCode.REFUSED_STREAM, `runner going away: ${reason}`);
    }
    if (code !== ErrorCode.NO_ERROR) {
      this.lost(new UpstreamConnectionError(`runner closed the connection: ${errorCodeName(code)} ${reason}`, code));
    }
  }

  /** Only frames for streams we opened; a closed stream's stragglers are ignored. */
  private stream(frame: Frame): UpstreamStream | undefined {
    const stream = this.streams.get(frame.stream);
    if (!stream) checkOpened(frame, this.nextStream - 1);
    return stream;
  }

  private fail(caught: unknown): void {
    // Anything but a ProtocolError is a bug on our side (a relay callback threw): the connection
    // is closed with INTERNAL_ERROR and its requests fail, but the proxy process lives on.
    const err = caught instanceof ProtocolError ? caught : new ProtocolError(ErrorCode.INTERNAL_ERROR, `internal error: ${describe(caught)}`);
    if (err !== caught) this.log.error({ err: caught }, 'internal error while handling a runner frame');
    if (err.stream !== 0) {
      // A stream that is no longer open needs no answer: answering every bad frame for a closed
      // stream would let a runner make us write without bound.
      this.streams.get(err.stream)?.protocolFailure(err);
      return;
    }
    this.sendFrame(FrameType.GOAWAY, 0, 0, encodeGoAway({ lastStream: 0, code: err.code, reason: err.message }));
    this.lost(new UpstreamConnectionError(`protocol error from runner: ${errorCodeName(err.code)}: ${err.message}`, err.code));
  }

  /** The connection is unusable: every stream fails once, waiters are rejected. */
  private lost(err: UpstreamConnectionError): void {
    if (this.closed) return;
    this.closed = true;
    // Pending client writes keep this object reachable until they end: not its buffers too.
    this.bulkBuffer = this.spareBulk = null;
    this.rejectReady(err);
    // After a GOAWAY (a runner draining, or our retire) the close is expected.
    if (this.peer) this.log[this.goaway ? 'debug' : 'warn']({ runnerPid: this.peer.pid, streams: this.streams.size, reason: err.message }, 'connection to runner lost');
    this.onRetire?.();
    for (const stream of this.streams.values()) stream.onConnectionLost(err);
    this.streams.clear();
    if (!this.peer) {
      this.socket.destroy(); // never handshaken: nothing worth flushing
      return;
    }
    // Let a GOAWAY we just wrote reach the runner, but never wait on a runner that stopped reading.
    this.socket.destroySoon();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }
}
