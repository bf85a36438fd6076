import type { Socket } from 'node:net';
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
  encodeCancel,
  decodeEnviron,
  decodeHello,
  encodeGoAway,
  encodeHello,
  errorCodeName,
  readU32,
  receiveFrames,
  software,
  type Frame,
  type Hello,
} from '../../protocol/index.js';
import { bodyBytesRead } from '../../proxy/young-gc.js';
import type { Application } from '../apps/app.js';
import { runApplication } from '../apps/contract.js';
import { readingInto } from './own-reads.js';
import { RequestWatch, type RequestObserver, type Watchdog } from './request-watch.js';
import { RunnerStream, type StreamHost } from './stream.js';


export interface RunnerIdentity {
  pid: number;
  worker: number;
  workers: number;
  app: string;
}

export interface ConnectionOptions {
  app: Application;
  identity: RunnerIdentity;
  log: Logger;
  maxStreams?: number;
  maxFrameSize?: number;
  initialWindow?: number;
  /** Extra keys every environ gets (wsgi.multiprocess and the like). */
  environDefaults?: Record<string, unknown>;
  /** Per-request deadline (harakiri): past it the stream is cancelled with TIMEOUT (0 = none). */
  deadlineMs?: number;
  /** Told when each request starts and ends (the worker's counters). */
  observer?: RequestObserver;
  /** Watches the deadlines while the event loop is blocked (runner/serving/watchdog.ts). */
  watchdog?: Watchdog;
}

const SOFTWARE = software('tsgi-runner');
/**
 * A read's buffer, reused from read to read while no app holds a view of it; Node's own reads
 * are of 64 KiB too. Reads of 256 KiB while an upload filled them took two reads in five off an
 * upload for no CPU that showed, and pinned more memory between collections: the worker's
 * peak on a 64 MiB upload 72.5–73.2 MiB against 66.5 (PROFILE.md, item 33).
 */
const READ_BYTES = 64 * 1024;
/**
 * Connections the proxy may open to this worker when our writes wait on a full socket (HELLO
 * `connections`), where the send buffer stays under ONE_CONNECTION_BYTES (send-buffer.ts: no
 * addon and a small default, or a kernel that grants less): each connection brings its own.
 * On json-100k (one core) two took 7.05k to 8.2k req/s, four to 8.3k for 20 MiB more of proxy
 * memory in flight (PROFILE.md, 2026-12-06). With the buffer raised, one connection does
 * better than two (12.3-12.7k against 11.5-11.9k): none is announced.
 */
const WIDE_CONNECTIONS = 2;
/**
 * A draining connection with no stream left waits this long for the proxy to close it before
 * closing it itself: a REQUEST that still arrives must be answered with REFUSED_STREAM (so the
 * proxy retries it elsewhere), not hit a closed socket.
 */
const DRAIN_LINGER_MS = 1000;
/**
 * The first GOAWAY of a drain is followed by a PING; its answer proves the proxy has read the
 * GOAWAY. A proxy that does not answer within this long gets the final GOAWAY anyway.
 */
const DRAIN_FENCE_MS = 2000;
/** The PING payload of that fence. */
const DRAIN_FENCE = new TextEncoder().encode('drainack');

/**
 * The runner's end of one proxy connection: handshake, stream dispatch, flow control, drain.
 * Protocol violations close the connection with a GOAWAY carrying the error code.
 */
export class RunnerConnection implements StreamHost {
  /** Request bodies reach wsgi.input as the socket reads them: never assembled, never copied. */
  private readonly decoder = new FrameDecoder(undefined, { dataInPieces: true });
  private readonly writer: FrameWriter;
  /** Not a Map: see StreamTable for what a Map's churn cost. */
  private readonly streams = new StreamTable<RunnerStream>();
  private readonly maxStreams: number;
  private readonly maxFrameSize: number;
  private readonly initialWindow: number;
  private peer: Hello | null = null;
  private lastStream = 0;
  /** GOAWAY sent: the proxy opens no new stream here (those already on their way are served). */
  private draining = false;
  private drainReason = '';
  /** The final GOAWAY sent (lastStream = the last REQUEST received): later REQUESTs are refused. */
  private refusing = false;
  private fenceTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private lingerTimer: NodeJS.Timeout | null = null;
  peerMaxFrameSize = 16 * 1024;
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  private readonly socket: Socket;

  /**
   * `accepted`: a socket the server accepted paused (it reads into our buffers from here on:
   * own-reads.ts). `bufferSized`: its send buffer holds a window (send-buffer.ts), so one
   * connection does.
   */
  constructor(
    accepted: Socket,
    private readonly options: ConnectionOptions,
    private readonly bufferSized = false,
  ) {
    this.maxStreams = options.maxStreams ?? DEFAULTS.maxStreams;
    this.maxFrameSize = options.maxFrameSize ?? DEFAULTS.maxFrameSize;
    this.initialWindow = options.initialWindow ?? DEFAULTS.initialWindow;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    const socket = readingInto(accepted, { buffer: this.nextReadBuffer, callback: this.onRead });
    this.socket = socket;
    this.writer = new FrameWriter(socket, setImmediate);
    socket.setNoDelay?.(true);
    socket.on('error', (err) => options.log.debug({ err }, 'connection error'));
    socket.on('close', () => this.onClose());
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  /**
   * Graceful: no new streams, finish the open ones, then close (SPEC.md §4 Goaway). In two
   * steps, as HTTP/2 servers shut down (RFC 9113 §6.8): a GOAWAY with the highest stream id
   * tells the proxy to open no more streams here while every REQUEST it sent before reading it
   * is still served; the answer to the PING that follows proves nothing more is on its way, and
   * the final GOAWAY names the last stream. So a drain refuses no request the proxy sent in
   * good faith (a refused request whose body the proxy has begun to send cannot be retried).
   * `announced`: the proxy itself sent GOAWAY, so it opens no stream anyway: one step.
   */
  drain(reason = 'shutting down', announced = false): void {
    if (this.draining || this.closed) return;
    this.draining = true;
    this.drainReason = reason;
    if (announced) this.refuseNewStreams();
    else if (this.peer) this.announceDrain();
    // Before the handshake a GOAWAY would read as a refused handshake: onHello announces the
    // drain after our HELLO; a proxy that never sends its HELLO is refused after the fence time.
    else this.fenceTimer = setTimeout(() => this.refuseNewStreams(), DRAIN_FENCE_MS);
  }

  private announceDrain(): void {
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
    this.sendFrame(FrameType.GOAWAY, 0, 0, encodeGoAway({ lastStream: MAX_STREAM_ID, code: ErrorCode.NO_ERROR, reason: this.drainReason }));
    this.sendFrame(FrameType.PING, 0, 0, DRAIN_FENCE);
    this.fenceTimer = setTimeout(() => this.refuseNewStreams(), DRAIN_FENCE_MS);
  }

  /** The final GOAWAY: streams up to the last REQUEST received finish, later ones are refused. */
  private refuseNewStreams(): void {
    if (this.refusing || this.closed) return;
    this.refusing = true;
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
    this.sendFrame(FrameType.GOAWAY, 0, 0, encodeGoAway({ lastStream: this.lastStream, code: ErrorCode.NO_ERROR, reason: this.drainReason }));
    if (this.streams.size === 0) this.closeWhenIdle();
  }

  private closeWhenIdle(): void {
    if (this.lingerTimer || this.closed) return;
    this.lingerTimer = setTimeout(() => this.socket.end(), DRAIN_LINGER_MS);
  }

  /** Abrupt: cancel every stream (their apps are closed) and drop the socket. */
  destroy(): void {
    for (const stream of this.streams.values()) stream.onCancel();
    this.socket.destroy();
  }

  // ---- StreamHost ----

  sendFrame(type: FrameType, flags: number, stream: number, payload: Uint8Array): void {
    this.writer.frame(type, flags, stream, payload);
  }

  sendCredit(stream: number, increment: number): void {
    this.writer.credit(stream, increment);
  }

  endData(stream: number): boolean {
    return this.writer.endData(stream);
  }

  streamClosed(stream: RunnerStream): void {
    this.streams.delete(stream.id);
    // On the stream, not in a Map of the connection: see WorkerMetrics for what a Map's churn costs.
    const { watch } = stream;
    if (watch) {
      stream.watch = null;
      watch.end();
    }
    if (this.refusing && this.streams.size === 0) this.closeWhenIdle();
  }

  // ---- receiving ----

  /** The buffer the next read goes to, reused until the app is given a view of it. */
  private readBuffer: Buffer | null = null;
  /** A DATA payload of the read being handled went to an app, as a view of its buffer. */
  private lentOut = false;

  /** Node asks for the buffer of each read before making it. */
  private readonly nextReadBuffer = (): Buffer => (this.readBuffer ??= Buffer.allocUnsafeSlow(READ_BYTES));

  private readonly onRead = (length: number, buffer: Uint8Array): boolean => {
    this.lentOut = false;
    receiveFrames(
      this.decoder,
      buffer.subarray(0, length),
      (frame) => this.onFrame(frame),
      (err) => this.onError(err),
      () => this.closed,
    );
    if (this.lentOut) {
      // The app holds views of it (wsgi.input's chunks): the next read gets a new buffer, and
      // this one is garbage once the app lets go, counted toward a young collection.
      if (buffer === this.readBuffer) this.readBuffer = null;
      bodyBytesRead(buffer.length);
    }
    return true;
  };

  private onError(caught: unknown): void {
    // Anything else thrown while handling a frame is our bug: close this connection, keep the process.
    const err = caught instanceof ProtocolError ? caught : internalError(caught, this.options.log);
    if (err.stream !== 0) {
      const stream = this.streams.get(err.stream);
      if (stream) stream.cancel(err.code, err.message);
      else this.sendFrame(FrameType.CANCEL, 0, err.stream, encodeCancel({ code: err.code, reason: err.message }));
      return;
    }
    this.options.log.warn({ code: errorCodeName(err.code), err: err.message }, 'protocol error, closing connection');
    this.sendFrame(FrameType.GOAWAY, 0, 0, encodeGoAway({ lastStream: this.lastStream, code: err.code, reason: err.message }));
    this.closed = true;
    for (const stream of this.streams.values()) stream.onCancel();
    this.socket.end();
    this.socket.destroySoon?.();
  }

  private onFrame(frame: Frame): void {
    if (!this.peer) return this.onHello(frame);
    switch (frame.type) {
      case FrameType.REQUEST:
        return this.onRequest(frame);
      case FrameType.DATA:
        if (frame.payload.length > 0) this.lentOut = true;
        return this.stream(frame)?.onData(frame.payload, (frame.flags & Flags.END_STREAM) !== 0, frame.rest, frame.continued);
      case FrameType.CREDIT:
        return this.stream(frame)?.onCredit(readU32(frame.payload, 0));
      case FrameType.CANCEL:
        decodeCancel(frame.payload, frame.stream);
        return this.streams.get(frame.stream)?.onCancel();
      case FrameType.PING:
        if ((frame.flags & Flags.ACK) === 0) this.answerPing(frame.payload);
        else if (this.draining && isFence(frame.payload)) this.refuseNewStreams();
        return;
      case FrameType.GOAWAY:
        if (this.draining) return this.refuseNewStreams();
        return this.drain('peer sent GOAWAY', true);
      case FrameType.HELLO:
      case FrameType.RESPONSE:
        throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `unexpected ${FrameType[frame.type]} from the proxy`);
      default:
        return; // unknown frame types are skipped (SPEC.md §2 rule 4)
    }
  }

  /**
   * A peer that sends PINGs and reads none of the answers would grow our unsent output without
   * end (each tiny write costs far more memory than its bytes): past a bound it is closed.
   */
  private answerPing(opaque: Uint8Array): void {
    this.pingAnswers.count(this.socket.writableLength, 'peer');
    this.sendFrame(FrameType.PING, Flags.ACK, 0, opaque);
  }

  private readonly pingAnswers = new PingAnswers();

  private onHello(frame: Frame): void {
    if (frame.type !== FrameType.HELLO) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `expected HELLO, got frame type ${frame.type}`);
    }
    const hello = decodeHello(frame.payload);
    checkPeerHello(hello, 'proxy');
    this.peer = hello;
    this.peerMaxFrameSize = hello.maxFrameSize;
    this.decoder.setMaxFrameSize(this.maxFrameSize);
    const { identity } = this.options;
    const ours: Hello = {
      version: PROTOCOL_VERSION,
      role: 'runner',
      maxFrameSize: this.maxFrameSize,
      initialWindow: this.initialWindow,
      maxStreams: this.maxStreams,
      ...identity,
      software: SOFTWARE,
      accepts: true,
      ...(this.bufferSized ? {} : { connections: WIDE_CONNECTIONS }),
    };
    this.sendFrame(FrameType.HELLO, 0, 0, encodeHello(ours));
    if (this.draining && !this.refusing) this.announceDrain();
  }

  /** Only DATA/CREDIT for streams we know; a closed stream's stragglers are ignored. */
  private stream(frame: Frame): RunnerStream | undefined {
    const stream = this.streams.get(frame.stream);
    if (!stream) checkOpened(frame, this.lastStream);
    return stream;
  }

  private onRequest(frame: Frame): void {
    if (frame.stream <= this.lastStream) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `REQUEST on stream ${frame.stream}, not above ${this.lastStream}`);
    }
    this.lastStream = frame.stream;
    if (this.refusing || this.streams.size >= this.maxStreams) {
      const why = this.refusing ? 'runner is draining' : `over max streams (${this.maxStreams})`;
      this.sendFrame(FrameType.CANCEL, 0, frame.stream, encodeCancel({ code: ErrorCode.REFUSED_STREAM, reason: why }));
      return;
    }
    const environ = decodeEnviron(frame.payload, frame.stream);
    const ended = (frame.flags & Flags.END_STREAM) !== 0;
    const stream = new RunnerStream(frame.stream, this, this.peer!.initialWindow, this.initialWindow, ended);
    this.streams.set(frame.stream, stream);
    if (RequestWatch.needed(this.options)) {
      const fd = (this.socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
      stream.watch = new RequestWatch(stream, environ, this.options, fd);
    }
    // Every reason to refuse the stream is behind us: from here on the request may run (SPEC §4 Accept).
    this.sendFrame(FrameType.ACCEPT, 0, frame.stream, NO_PAYLOAD);
    this.serve(stream, environ);
  }

  /** Runs the app; most requests are answered before this returns (runApplication). */
  private serve(stream: RunnerStream, base: Record<string, string>): void {
    let outcome;
    try {
      const environ: Record<string, unknown> = base;
      Object.assign(environ, this.options.environDefaults);
      environ['wsgi.input'] = stream.input;
      environ['wsgi.errors'] = errorsStream(this.options.log, base['tsgi.request_id']);
      outcome = runApplication(this.options.app, environ, stream, this.options.log);
      if (typeof outcome === 'string') return this.served(outcome, base);
    } catch (err) {
      return this.internalError(stream, base, err);
    }
    outcome.then((settled) => this.served(settled, base)).catch((err: unknown) => this.internalError(stream, base, err));
  }

  private served(outcome: 'ok' | 'failed', base: Record<string, string>): void {
    if (outcome === 'failed') this.options.observer?.failed(base);
  }

  /** runApplication answers every app failure itself; reaching here is a bug in the runner. */
  private internalError(stream: RunnerStream, base: Record<string, string>, err: unknown): void {
    this.options.log.error({ err, reqId: base['tsgi.request_id'] }, 'internal error while serving a request');
    stream.cancel(ErrorCode.INTERNAL_ERROR, 'internal error in the runner');
  }

  private onClose(): void {
    this.closed = true;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
    for (const stream of this.streams.values()) stream.onCancel();
    this.resolveDone();
  }

}

const NO_PAYLOAD = new Uint8Array(0);


function isFence(payload: Uint8Array): boolean {
  return payload.length === DRAIN_FENCE.length && payload.every((byte, i) => byte === DRAIN_FENCE[i]);
}

function internalError(err: unknown, log: Logger): ProtocolError {
  log.error({ err }, 'internal error while handling a frame');
  return new ProtocolError(ErrorCode.INTERNAL_ERROR, 'internal error in the runner');
}

/** `wsgi.errors`: text written by the app goes to the log, tagged with the request. */
function errorsStream(log: Logger, reqId: string | undefined) {
  return {
    write(message: string): boolean {
      log.error({ reqId }, String(message).trimEnd());
      return true;
    },
    flush(): void {},
  };
}

