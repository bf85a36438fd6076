import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { DEFAULTS, ErrorCode, encodeEnviron, environOverLimit, errorCodeName, type Environ, type ResponseHead } from '../protocol/index.js';
import type { LocationConfig } from './config/types.js';
import type { RequestFacts } from './request-facts.js';
import { elapsedMs, logAccess } from './access-log.js';
import { answer } from './answer.js';
import { DEADLINE_DIRECTIVE, Deadline, type DeadlineKind } from './deadline.js';
import { HttpError, UpstreamBusyError, UpstreamConnectionError, closesConnection, errorBody, type HttpErrorKind } from './errors.js';
import { closeAfterAnswer, discardBody, type LingerBounds } from './linger.js';
import { isLending } from './lane/request.js';
import { BufferedBody } from './request-body.js';
import { bodyBytesRead, copyCounted } from './young-gc.js';
import { ResponseBody, type ResponseBodyHost } from './response-body.js';
import { bodiless, checkResponseHead } from './response-head.js';
import type { UpstreamConnection } from './upstream/connection.js';
import type { Choice, UpstreamGroup } from './upstream/group.js';
import type { RetryPolicy, TryFailure } from './upstream/retry.js';
import { RetryController, type Failure } from './upstream/retry-controller.js';
import type { StreamEvents, StreamFailure, UpstreamStream } from './upstream/stream.js';

export interface ExchangeRequest {
  req: IncomingMessage;
  res: ServerResponse;
  /** The request's facts, as dispatch read them (its id, the client's address for ip_hash). */
  request: RequestFacts;
  environ: Environ;
  location: LocationConfig;
  group: UpstreamGroup;
  log: Logger;
  /** Declared request body length, null for chunked, 0 for none. */
  contentLength: number | null;
  /** tsgi_next_upstream and its limits. */
  retry: RetryPolicy;
  /** The expanded `hash KEY` of the group, '' for the other methods. */
  hashKey: string;
  /** performance.now() when the request arrived: the access log's time counts from it. */
  started: number;
  /** lingering_time and lingering_timeout of the server: a body answered without being read (linger.ts). */
  lingering: LingerBounds;
}

/**
 * One client request relayed to a runner and its response relayed back — the reverse proxy's
 * rules in one place: backpressure both ways (credit for bytes the client socket took, or that
 * the response's buffers hold: response-body.ts),
 * 502/503/504 while nothing was sent, an aborted connection (never an error body) once the head
 * is out, the stream cancelled when the client leaves, and one access-log line at the end.
 */
export class Exchange implements StreamEvents, ResponseBodyHost {
  private stream: UpstreamStream | null = null;
  private readonly retries: RetryController;
  private upstream = '-';
  private headSent = false;
  private finished = false;
  private pumping = false;
  private status = 0;
  private bytesSent = 0;
  private bodyReceived = 0;
  /** The client's body was read to its end (by us, not merely parsed by node:http). */
  private bodyEnded = false;
  private expectedLength: number | null = null;
  /** The body's way to the client (tsgi_buffering); made with the first body bytes. */
  private body: ResponseBody | null = null;
  /** X-Accel-Buffering of the response, else the location's tsgi_buffering. */
  private buffered = false;
  /** The runner's response ended (its bytes may still be on their way to the client). */
  private runnerEnded = false;
  private failureCode: string | null = null;
  private readonly deadline: Deadline;
  /** The environ as sent: encoded for the first try, reused by the others. */
  private environPayload: Uint8Array | null = null;

  constructor(private readonly x: ExchangeRequest) {
    this.deadline = new Deadline(this);
    this.retries = new RetryController(x.group, x.retry, x.request.method, x.started);
    x.res.on('close', () => this.onClientClose());
  }

  /**
   * Relays the request; a bug of ours ends it with a 502 (or an abort), never an unhandled
   * rejection. The usual request (no body to hold back, a connection ready) goes out in this
   * turn, as it always did, but now without a promise: these steps make one only where
   * something is waited for, which spares a request three promises and their microtask turns.
   */
  run(): void {
    guarded(
      () => this.start(),
      (err) => {
        this.x.log.error({ err, reqId: this.x.request.requestId }, 'internal error while relaying');
        const { res } = this.x;
        if (!res.headersSent) answer(this.x.log, res, this.x.request.requestId, HttpError.UPSTREAM_UNREACHABLE, 'internal error', this.x.started, this.x.lingering);
        else res.destroy();
      },
    );
  }

  private start(): Promise<void> | void {
    const limit = this.x.location.clientMaxBodySize;
    if (limit > 0 && this.x.contentLength !== null && this.x.contentLength > limit) {
      return this.reject(HttpError.BODY_TOO_LARGE, `declared body of ${this.x.contentLength} bytes over client_max_body_size ${limit}`);
    }
    if (this.x.location.requestBuffering && this.x.contentLength !== 0) return this.bufferThenSend();
    return this.send();
  }

  private async bufferThenSend(): Promise<void> {
    if (await this.bufferBody()) await this.send();
  }

  /** tsgi_request_buffering: the body held whole (or, failing that, its start) before any try. */
  private requestBody: BufferedBody | null = null;

  /** Reads the body before a runner is chosen; false when the request ended meanwhile. */
  private async bufferBody(): Promise<boolean> {
    const { location, req, environ } = this.x;
    const body = new BufferedBody({ memoryBytes: location.clientBodyBufferSize, tempDir: location.clientBodyTempPath, maxBytes: location.clientMaxBodySize });
    this.requestBody = body;
    this.deadline.arm('client_body');
    const outcome = await body.collect(req, () => this.deadline.arm('client_body'));
    if (this.finished) return false;
    switch (outcome.kind) {
      case 'gone':
        return false;
      case 'too-large':
        this.reject(HttpError.BODY_TOO_LARGE, `body grew past client_max_body_size ${location.clientMaxBodySize}`);
        return false;
      case 'streaming':
        this.x.log.warn({ reqId: this.x.request.requestId, reason: outcome.reason, tempDir: location.clientBodyTempPath }, 'request body streamed: no temporary file');
        break;
      case 'complete':
        this.bodyEnded = true;
        // A chunked body now has a length, which the app gets as nginx passes it.
        environ.CONTENT_LENGTH = String(body.size);
        break;
    }
    this.deadline.clear();
    return true;
  }

  /** Sends the buffered body on `stream` (again, for a retry), then the rest from the client if it streams. */
  private async pumpBuffered(stream: UpstreamStream): Promise<void> {
    const body = this.requestBody!;
    // The try ended (a retry pumps on its own stream), or the client left.
    const over = () => this.stream !== stream || this.finished;
    for await (const piece of body.pieces()) {
      if (over()) return;
      if (!stream.writeBody(piece)) {
        this.deadline.arm('send');
        await new Promise<void>((resolve) => (this.whenWritable = resolve));
        if (over()) return;
      }
    }
    if (body.streaming && !body.ended) {
      // The temporary file failed: the rest comes from the client, paused since.
      this.bodyReceived = body.size;
      this.pumpBody();
      this.x.req.resume();
      return;
    }
    stream.endBody();
    this.deadline.arm('read');
  }

  /** A buffered body's pump waiting for credit. */
  private whenWritable: (() => void) | null = null;

  /** Whether a new try can be sent the body (none was read yet, or it is all buffered). */
  private get bodyReplayable(): boolean {
    return this.requestBody ? this.requestBody.complete : this.bodyReceived === 0;
  }

  /** One try: picks a server, opens the stream, starts the body. Runs again for each retry. */
  private send(): Promise<void> | void {
    const picked = this.retries.pick(this.x.request.remoteAddress, this.x.hashKey);
    // A promise only when the server waits in the upstream's queue.
    return picked instanceof Promise ? picked.then((choice) => this.sendTo(choice)) : this.sendTo(picked);
  }

  private sendTo(choice: Choice | 'busy' | null): Promise<void> | void {
    const { group } = this.x;
    if (this.finished) {
      if (choice && choice !== 'busy') group.done(choice, false); // the client left while we waited
      return;
    }
    if (choice === 'busy') return this.reject(HttpError.OVERLOADED, `every server of "${group.name}" is at max_conns and the queue is full or timed out`);
    if (!choice) {
      const { kind, reason } = this.retries.exhausted();
      return this.reject(kind, reason);
    }
    this.retries.begin(choice);
    this.upstream = choice.server.name;
    const connection = choice.server.ready();
    if (connection) return this.open(connection);
    return this.connect(choice).then((connected) => {
      if (!connected) return;
      if (this.finished) return this.retries.end(false); // the client left while we connected
      this.open(connected);
    });
  }

  /** No open connection has room: open one (within tsgi_connect_timeout); null when the try failed. */
  private async connect(choice: Choice): Promise<UpstreamConnection | null> {
    try {
      return await choice.server.acquire(this.x.location.connectTimeoutMs);
    } catch (err) {
      if (err instanceof UpstreamBusyError) this.failTry('refused', { kind: HttpError.OVERLOADED, reason: err.message }, false);
      else this.failTry('error', { kind: HttpError.UPSTREAM_UNREACHABLE, reason: (err as Error).message }, false);
      return null;
    }
  }

  /** Opens the stream on `connection` and starts the request body, if any. */
  private open(connection: UpstreamConnection): void {
    const hasBody = this.x.contentLength !== 0;
    const payload = (this.environPayload ??= encodeEnviron(this.x.environ));
    const over = environOverLimit(environKeys(this.x), payload.length, connection.maxEnvironSize);
    if (over) {
      this.retries.end(false);
      return this.reject(HttpError.HEADERS_TOO_LARGE, over);
    }
    this.stream = connection.request(payload, hasBody, this);
    if (!hasBody) this.deadline.arm('read');
    else if (this.requestBody) {
      const stream = this.stream;
      this.pumpBuffered(stream).catch((err: Error) => {
        if (this.stream !== stream) return;
        stream.cancel(ErrorCode.CANCEL, 'the buffered body could not be read');
        this.stream = null;
        this.retries.end(false);
        this.reject(HttpError.UPSTREAM_UNREACHABLE, `reading the buffered request body: ${err.message}`);
      });
    } else if (this.bodyEnded) {
      // A retry after the whole (empty) body was read. Not `req.complete`: that is true as soon
      // as the parser has the body, which may still sit unread in the request stream.
      this.stream.endBody();
      this.deadline.arm('read');
    } else this.pumpBody();
  }

  /**
   * A try failed: the retry controller accounts for it on its server and says whether
   * tsgi_next_upstream allows the next one; else answer (or abort, once the head is out).
   */
  private failTry(failure: TryFailure, outcome: Failure, sent = true): void {
    // Sent, on a stream the runner accepted or never says about: it may have run in the app.
    const mayHaveRun = sent && (this.stream?.mayHaveRun ?? true);
    this.stream = null;
    const allowed = this.retries.failed(failure, outcome, mayHaveRun, this.bodyReplayable);
    if (allowed && !this.headSent && !this.finished) {
      this.x.log.warn({ reqId: this.x.request.requestId, upstream: this.upstream, failure, reason: outcome.reason }, 'trying the next upstream server');
      this.deadline.clear();
      // Not from inside the failed connection's frame handling (a CANCEL, a lost connection):
      // the next try starts once that handler is done with its own state.
      queueMicrotask(() => guarded(() => this.send(), (err) => this.reject(HttpError.UPSTREAM_UNREACHABLE, String(err))));
      return;
    }
    if (this.headSent) return this.abort(outcome.kind.code, outcome.reason);
    this.reject(outcome.kind, outcome.reason);
  }

  // ---- request body: client → runner ----

  private pumpBody(): void {
    if (this.pumping) return;
    this.pumping = true;
    const { req } = this.x;
    const limit = this.x.location.clientMaxBodySize;
    this.deadline.arm('client_body');
    // The lane lends its reads (passed on at once, copied only where kept); node:http's are owned.
    const lent = isLending(req);
    const onChunk = (chunk: Buffer) => {
      this.bodyReceived += chunk.length;
      if (!lent) bodyBytesRead(chunk.length);
      if (limit > 0 && this.bodyReceived > limit) {
        this.stream?.cancel(ErrorCode.CANCEL, 'request body over client_max_body_size');
        this.stream = null;
        return this.reject(HttpError.BODY_TOO_LARGE, `body grew past client_max_body_size ${limit}`);
      }
      if (!this.stream) return;
      if (this.stream.writeBody(chunk, lent)) {
        this.deadline.arm('client_body');
      } else {
        req.pause();
        this.deadline.arm('send');
      }
    };
    if (lent) req.borrow(onChunk);
    else req.on('data', onChunk);
    req.on('end', () => {
      this.bodyEnded = true;
      if (!this.stream) return;
      this.stream.endBody();
      this.deadline.arm('read');
    });
  }

  onWritable(): void {
    const waiting = this.whenWritable;
    if (waiting) {
      this.whenWritable = null;
      return waiting();
    }
    this.deadline.arm('client_body');
    this.x.req.resume();
  }

  onBodyRefused(): void {
    // The app answered in full without reading everything: discard the rest of the body.
    this.stream = null;
    discardBody(this.x.req, this.x.res, this.x.lingering);
  }

  // ---- response: runner → client ----

  onResponse(head: ResponseHead, end: boolean): void {
    this.armRead();
    const checked = checkResponseHead(head);
    if (!checked.ok) {
      this.stream?.cancel(ErrorCode.INVALID_RESPONSE, checked.reason);
      return this.failTry('invalid_header', { kind: HttpError.INVALID_RESPONSE, reason: `invalid response head from runner: ${checked.reason}` });
    }
    if (this.retryStatus(checked.status)) return;
    this.expectedLength = checked.contentLength;
    const { res } = this.x;
    this.status = checked.status;
    this.headSent = true;
    this.buffered = this.x.location.buffering.on;
    const flat: string[] = [];
    for (const [name, value] of checked.headers) {
      // nginx's convention for an app to choose per response (a stream, server-sent events);
      // like nginx, the header is for the proxy and does not reach the client.
      if (name.length === 17 && name.toLowerCase() === 'x-accel-buffering') {
        const choice = value.toLowerCase();
        if (choice === 'yes' || choice === 'no') this.buffered = choice === 'yes';
        continue;
      }
      flat.push(name, value);
    }
    if (checked.reason) res.writeHead(checked.status, checked.reason, flat);
    else res.writeHead(checked.status, flat);
    if (end) this.complete();
  }

  onData(chunk: Uint8Array, end: boolean, rest: number): void {
    if (this.aborting) return;
    this.armRead();
    this.bytesSent += chunk.length;
    // The whole frame is checked with its first piece: no byte of an overlong frame goes out.
    if (this.expectedLength !== null && this.bytesSent + rest > this.expectedLength) {
      this.stream?.cancel(ErrorCode.INVALID_RESPONSE, 'body longer than its Content-Length');
      return this.abort(HttpError.INVALID_RESPONSE.code, `body longer than Content-Length ${this.expectedLength}`);
    }
    if (!this.gathering) this.gather();
    // A client still working through earlier bytes keeps this write queued for a while: it
    // gets a copy, so a slow client never holds on to the connection's read buffer.
    const bytes = this.copying ? copyCounted(chunk) : chunk;
    if (end) this.complete(bytes);
    else if (bytes.length > 0) this.forward(bytes);
  }

  /** The client's side of the response body, made when the first body bytes arrive. */
  private responseBody(): ResponseBody {
    const { location } = this.x;
    return (this.body ??= new ResponseBody(this.x.res, this.buffered ? location.buffering : null, this));
  }

  /**
   * The DATA of one read of the runner's socket, for any number of frames and pieces, leaves
   * in one write: the response is corked from the first piece to the end of the read.
   */
  private gathering = false;
  /** The client socket had unsent bytes when the read began: its pieces are copied. */
  private copying = false;

  private gather(): void {
    const { res } = this.x;
    this.gathering = true;
    this.copying = res.writableLength > 0;
    res.cork();
  }

  onReadEnd(): boolean {
    if (!this.gathering) return false;
    this.gathering = false;
    const { res } = this.x;
    // end() has uncorked already; a second uncork could release a later response's cork.
    if (!res.writableEnded) res.uncork();
    this.body?.readEnd();
    // Views of the read buffer that the socket did not take whole are still queued.
    return !this.copying && res.writableLength > 0;
  }

  whenWritten(done: (written: boolean) => void): boolean {
    const { socket } = this.x.res;
    // HTTP/1's socket is the client's own; a multiplexed edge would need its stream's answer.
    if (this.x.req.httpVersionMajor !== 1 || !socket || socket.destroyed || socket.writableEnded) return false;
    // An empty write's callback comes once everything queued before it has been written: no
    // byte goes to the client, and the response's own writes are not touched.
    socket.write(NOTHING, (err) => done(!err));
    return true;
  }

  /** Body bytes to the client; the ResponseBody says when the runner gets credit for them. */
  private forward(chunk: Uint8Array): void {
    this.responseBody().write(chunk, this.copying);
  }

  // ---- for the ResponseBody ----

  consumed(n: number, keepingUp: boolean): void {
    this.stream?.consumed(n, keepingUp);
  }

  /** While the client is the slow side, send_timeout runs and the runner is not blamed. */
  clientProgress(): void {
    if (this.finished || this.aborting) return;
    this.awaitNext();
  }

  /** The wait that applies now: the client (send_timeout), the runner (read), or the last bytes' flush. */
  private awaitNext(): void {
    if (this.body?.waitsForClient) this.deadline.arm('client_send');
    else if (!this.runnerEnded) this.deadline.arm('read');
    else this.flushing();
  }

  spillFailed(err: Error): void {
    this.x.log.warn({ reqId: this.x.request.requestId, reason: err.message, tempDir: this.x.location.buffering.tempDir }, 'response no longer buffered: temporary file failed');
  }

  broken(err: Error): void {
    this.abort(HttpError.TEMP_FILE_LOST.code, `reading the buffered response back: ${err.message}`);
  }

  /**
   * A status tsgi_next_upstream lists (http_502...) moves the request to the next server when
   * a try is left; otherwise this response is the answer (as nginx: the last one is passed on).
   */
  private retryStatus(status: number): boolean {
    const failure = this.retries.retryableStatus(status, this.bodyReplayable);
    if (!failure) return false;
    this.stream?.cancel(ErrorCode.CANCEL, `status ${status}: trying the next upstream server`);
    this.failTry(failure, { kind: HttpError.UPSTREAM_UNREACHABLE, reason: `status ${status}` });
    return true;
  }

  /** tsgi_read_timeout restarts on every frame from the runner, unless the client is the one we wait for. */
  private armRead(): void {
    if (!this.body?.waitsForClient) this.deadline.arm('read');
  }

  /** The last chunk goes out with the end of the response: one write for both. */
  private complete(last?: Uint8Array): void {
    if (this.expectedLength !== null && this.bytesSent !== this.expectedLength && !bodiless(this.status, this.x.request.method)) {
      return this.abort(HttpError.INVALID_RESPONSE.code, `body of ${this.bytesSent} bytes, Content-Length said ${this.expectedLength}`);
    }
    this.runnerEnded = true;
    this.retries.end();
    const { body } = this;
    if (body) body.end(last, this.copying);
    else if (last && last.length > 0) this.x.res.end(last);
    else this.x.res.end();
    // A buffered backlog still goes out at the client's pace, under send_timeout.
    this.awaitNext();
  }

  /**
   * The whole response is written: while the client socket still holds bytes of it, send_timeout
   * runs (re-armed as long as the client takes some), as nginx times its last writes too. Without
   * it a client that never reads the end of a response held the connection and those bytes (up
   * to a frame, or the memory buffers) for good. end() uncorked the socket, so what it holds now
   * is what the kernel would not take.
   */
  private flushing(): void {
    const unsent = this.x.res.writableLength;
    if (unsent === 0) return this.deadline.clear();
    this.unsentAtEnd = unsent;
    this.deadline.arm('client_send');
  }

  /** Bytes of the finished response the client socket held when send_timeout was last armed. */
  private unsentAtEnd = Infinity;

  onFailure(failure: StreamFailure): void {
    const { kind, reason } = classify(failure);
    if (kind === HttpError.HEADERS_TOO_LARGE) {
      this.stream = null;
      this.retries.end(false);
      return this.headSent ? this.abort(kind.code, reason) : this.reject(kind, reason);
    }
    this.failTry(tryFailure(failure), { kind, reason });
  }

  // ---- endings ----

  /** Nothing was sent yet: answer with the error status (logged once, with the reason). */
  private reject(kind: HttpErrorKind, reason: string): void {
    if (this.finished || this.headSent) return this.abort(kind.code, reason);
    this.failureCode = kind.code;
    // Client mistakes are routine (warn); failures of ours or the runner's are errors.
    const level = kind.status < 500 ? 'warn' : 'error';
    this.x.log[level]({ reqId: this.x.request.requestId, upstream: this.upstream, code: kind.code, status: kind.status, reason }, 'request failed');
    const { req, res } = this.x;
    const body = errorBody(kind);
    this.status = kind.status;
    this.headSent = true;
    // 413 and the other statuses that end the connection say so in the head, then linger.
    const closing = closesConnection(kind);
    if (closing) closeAfterAnswer(req, res, this.x.lingering);
    res.writeHead(kind.status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    this.deadline.clear();
    // Else the connection is kept for the next request once the rest of the body is dropped.
    if (!closing && this.x.contentLength !== 0 && !req.complete) discardBody(req, res, this.x.lingering);
  }

  /** The head is out: the only honest signal left is to cut the connection. */
  private abort(code: string, reason: string): void {
    if (this.finished || this.aborting) return;
    this.aborting = true;
    this.failureCode = code;
    this.x.log.error({ reqId: this.x.request.requestId, upstream: this.upstream, code, reason }, 'response aborted');
    this.deadline.clear();
    // The head and body already written may sit corked in the socket until the next tick (when
    // the runner's head, body and failure came in one read): let them out first, so the client
    // sees its response cut rather than no response at all. Nothing more is written meanwhile.
    const { res } = this.x;
    setImmediate(() => res.destroy());
  }

  private aborting = false;

  private onClientClose(): void {
    if (this.finished) return;
    this.finished = true;
    this.deadline.clear();
    void this.requestBody?.close();
    this.body?.close();
    this.whenWritable?.();
    // Ended by us (not destroyed): complete from our side even if the client hung up before the flush.
    const complete = this.x.res.writableEnded;
    if (!complete) {
      this.failureCode ??= HttpError.CLIENT_CLOSED.code;
      this.stream?.cancel(ErrorCode.CANCEL, 'client closed the connection');
    }
    this.retries.end(false);
    this.accessLog(complete);
  }

  private accessLog(complete: boolean): void {
    const { request, log } = this.x;
    // Built only when written: at the usual production level (warn) the line costs nothing.
    if (!log.isLevelEnabled('info')) return;
    logAccess(log, {
      reqId: request.requestId,
      method: request.method,
      uri: request.target,
      status: this.status || HttpError.CLIENT_CLOSED.status,
      bytes: this.bytesSent,
      ms: elapsedMs(this.x.started),
      upstream: this.upstream,
      aborted: !complete,
      code: this.failureCode ?? undefined,
    });
  }

  // ---- timeouts ----

  /** For the Deadline: how long a wait of this kind may last. */
  durationOf(kind: DeadlineKind): number {
    const { location } = this.x;
    if (kind === 'read') return location.readTimeoutMs;
    if (kind === 'send') return location.sendTimeoutMs;
    if (kind === 'client_body') return location.clientBodyTimeoutMs;
    return location.clientSendTimeoutMs;
  }

  /** For the Deadline: the wait of this kind lasted `ms`. */
  onTimeout(kind: DeadlineKind, ms: number): void {
    if (this.finished) return;
    const directive = DEADLINE_DIRECTIVE[kind];
    if (kind === 'client_send') {
      // The response is all written and the client took some of its last bytes meanwhile: on.
      if (this.runnerEnded && !this.body?.waitsForClient && this.x.res.writableLength < this.unsentAtEnd) return this.flushing();
      this.stream?.cancel(ErrorCode.CANCEL, 'client stopped reading');
      return this.abort(HttpError.CLIENT_TIMEOUT.code, `client read nothing for ${ms} ms (${directive})`);
    }
    if (kind === 'client_body') {
      this.stream?.cancel(ErrorCode.CANCEL, 'client stopped sending the body');
      this.stream = null;
      return this.reject(HttpError.CLIENT_TIMEOUT, `client sent no body bytes for ${ms} ms (${directive})`);
    }
    this.stream?.cancel(ErrorCode.TIMEOUT, directive);
    const what = kind === 'read' ? 'runner sent nothing' : 'runner accepted no body bytes';
    this.failTry('timeout', { kind: HttpError.UPSTREAM_TIMEOUT, reason: `${what} for ${ms} ms (${directive})` });
  }
}

/** The environ's fixed keys (buildEnviron's CGI keys plus CONTENT_*), an upper bound. */
const FIXED_ENVIRON_KEYS = 16;
/** Written to a client's socket to learn when what it holds has gone (whenWritten). */
const NOTHING = Buffer.alloc(0);

/**
 * The environ's key count, for environOverLimit: an upper bound (one key per header line and
 * parameter, plus the fixed ones) while that is within the limit, counted only beyond it.
 */
function environKeys(x: ExchangeRequest): number {
  const bound = FIXED_ENVIRON_KEYS + x.request.rawHeaders.length / 2 + x.location.params.length;
  return bound > DEFAULTS.maxEnvironKeys ? Object.keys(x.environ).length : bound;
}

/** The tsgi_next_upstream condition a stream failure falls under. */
function tryFailure(failure: StreamFailure): TryFailure {
  if (failure.kind !== 'cancel') return 'error';
  if (failure.code === ErrorCode.REFUSED_STREAM) return 'refused';
  if (failure.code === ErrorCode.TIMEOUT) return 'timeout';
  return 'error';
}

function classify(failure: StreamFailure): Failure {
  switch (failure.kind) {
    case 'connection': {
      // A connection closed because the runner broke the protocol is a protocol failure.
      const broken = failure.error instanceof UpstreamConnectionError && typeof failure.error.code === 'number';
      return { kind: broken ? HttpError.UPSTREAM_PROTOCOL : HttpError.UPSTREAM_LOST, reason: failure.error.message };
    }
    case 'protocol':
      return { kind: HttpError.UPSTREAM_PROTOCOL, reason: failure.error.message };
    case 'cancel': {
      const reason = `runner cancelled the stream: ${errorCodeName(failure.code)} ${failure.reason}`.trimEnd();
      if (failure.code === ErrorCode.TIMEOUT) return { kind: HttpError.UPSTREAM_TIMEOUT, reason };
      if (failure.code === ErrorCode.REFUSED_STREAM) return { kind: HttpError.UPSTREAM_REFUSED, reason };
      if (failure.code === ErrorCode.LIMIT_EXCEEDED) return { kind: HttpError.HEADERS_TOO_LARGE, reason };
      if (failure.code === ErrorCode.APP_ERROR) return { kind: HttpError.UPSTREAM_LOST, reason };
      return { kind: HttpError.UPSTREAM_PROTOCOL, reason };
    }
  }
}

/** Runs `step`, synchronous or not, and hands what it throws or rejects with to `failed`. */
function guarded(step: () => Promise<void> | void, failed: (err: unknown) => void): void {
  try {
    const waiting = step();
    if (waiting instanceof Promise) waiting.catch(failed);
  } catch (err) {
    failed(err);
  }
}
