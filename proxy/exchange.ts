import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ErrorCode, ProtocolError, errorCodeName, type Environ, type ResponseHead } from '../protocol/index.js';
import type { LocationConfig } from './config/types.js';
import { HttpError, errorBody, type HttpErrorKind } from './errors.js';
import { responseHeaders, validStatus } from './headers.js';
import { UpstreamConnectionError } from './upstream/connection.js';
import type { UpstreamGroup } from './upstream/group.js';
import type { StreamEvents, StreamFailure, UpstreamStream } from './upstream/stream.js';

export interface ExchangeRequest {
  req: IncomingMessage;
  res: ServerResponse;
  environ: Environ;
  location: LocationConfig;
  group: UpstreamGroup;
  requestId: string;
  log: Logger;
  /** Declared request body length, null for chunked, 0 for none. */
  contentLength: number | null;
}

const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;
/** How long an unwanted request body is read and discarded before the connection is cut. */
const LINGER_MS = 5000;

/**
 * One client request relayed to a runner and its response relayed back — the reverse proxy's
 * rules in one place: backpressure both ways (credit only for bytes the client socket took),
 * 502/504 while nothing was sent, an aborted connection (never an error body) once the head is
 * out, the stream cancelled when the client leaves, and one access-log line at the end.
 */
export class Exchange implements StreamEvents {
  private stream: UpstreamStream | null = null;
  private upstream = '-';
  private headSent = false;
  private finished = false;
  private status = 0;
  private bytesSent = 0;
  private bodyReceived = 0;
  private expectedLength: number | null = null;
  private unacknowledged = 0;
  private waitingForDrain = false;
  private timer: NodeJS.Timeout | null = null;
  private timerKind: 'read' | 'send' = 'read';
  private failureCode: string | null = null;
  private readonly started = performance.now();

  constructor(private readonly x: ExchangeRequest) {
    x.res.on('close', () => this.onClientClose());
  }

  async start(): Promise<void> {
    const { location, group } = this.x;
    const limit = location.clientMaxBodySize;
    if (limit > 0 && this.x.contentLength !== null && this.x.contentLength > limit) {
      return this.reject(HttpError.BODY_TOO_LARGE, `declared body of ${this.x.contentLength} bytes over client_max_body_size ${limit}`);
    }
    const server = group.pick();
    this.upstream = server.name;
    let connection;
    try {
      connection = await server.acquire(location.connectTimeoutMs);
    } catch (err) {
      return this.reject(HttpError.UPSTREAM_UNREACHABLE, (err as Error).message);
    }
    if (this.finished) return; // the client left while we connected
    const hasBody = this.x.contentLength !== 0;
    try {
      this.stream = connection.request(this.x.environ, hasBody, this);
    } catch (err) {
      if (err instanceof ProtocolError && err.code === ErrorCode.LIMIT_EXCEEDED) return this.reject(HttpError.HEADERS_TOO_LARGE, err.message);
      throw err;
    }
    if (hasBody) this.pumpBody();
    else this.armReadTimer();
  }

  // ---- request body: client → runner ----

  private pumpBody(): void {
    const { req } = this.x;
    const limit = this.x.location.clientMaxBodySize;
    req.on('data', (chunk: Buffer) => {
      this.bodyReceived += chunk.length;
      if (limit > 0 && this.bodyReceived > limit) {
        this.stream?.cancel(ErrorCode.CANCEL, 'request body over client_max_body_size');
        this.stream = null;
        this.reject(HttpError.BODY_TOO_LARGE, `body grew past client_max_body_size ${limit}`);
        return;
      }
      if (this.stream && !this.stream.writeBody(chunk)) {
        req.pause();
        this.arm('send');
      }
    });
    req.on('end', () => {
      if (!this.stream) return;
      this.stream.endBody();
      this.armReadTimer();
    });
  }

  onWritable(): void {
    if (this.timer && this.timerKind === 'send') this.clearTimer();
    this.x.req.resume();
  }

  onBodyRefused(): void {
    // The app answered without reading everything: discard the rest of the body.
    this.stream = null;
    this.linger();
  }

  // ---- response: runner → client ----

  onResponse(head: ResponseHead, end: boolean): void {
    this.armReadTimer();
    const checked = responseHeaders(head.headers);
    // A 1xx cannot be a final status: the client would wait for another head that never comes.
    if (!validStatus(head.status) || head.status < 200 || !REASON.test(head.reason) || !checked.ok) {
      const why = !checked.ok ? checked.reason : `invalid status line ${head.status} ${JSON.stringify(head.reason)}`;
      this.stream?.cancel(ErrorCode.INVALID_RESPONSE, why);
      return this.reject(HttpError.INVALID_RESPONSE, `invalid response head from runner: ${why}`);
    }
    this.expectedLength = checked.contentLength;
    const { res } = this.x;
    this.status = head.status;
    this.headSent = true;
    const flat: string[] = [];
    for (const [name, value] of checked.headers) flat.push(name, value);
    if (head.reason) res.writeHead(head.status, head.reason, flat);
    else res.writeHead(head.status, flat);
    if (end) this.complete();
  }

  onData(chunk: Uint8Array, end: boolean): void {
    this.armReadTimer();
    this.bytesSent += chunk.length;
    if (this.expectedLength !== null && this.bytesSent > this.expectedLength) {
      this.stream?.cancel(ErrorCode.INVALID_RESPONSE, 'body longer than its Content-Length');
      return this.abort('TSGI_INVALID_RESPONSE', `body longer than Content-Length ${this.expectedLength}`);
    }
    if (end) this.complete(chunk);
    else if (chunk.length > 0) this.forward(chunk);
  }

  /** Writes to the client; credit goes back to the runner only as the socket takes the bytes. */
  private forward(chunk: Uint8Array): void {
    const { res } = this.x;
    this.unacknowledged += chunk.length;
    if (res.write(chunk)) {
      if (!this.waitingForDrain) this.acknowledge();
      return;
    }
    if (this.waitingForDrain) return;
    this.waitingForDrain = true;
    // A client that reads slowly is not the runner's fault: no read timeout while we wait.
    this.clearTimer();
    res.once('drain', () => {
      this.waitingForDrain = false;
      this.acknowledge();
      if (!this.finished) this.armReadTimer();
    });
  }

  private acknowledge(): void {
    const n = this.unacknowledged;
    this.unacknowledged = 0;
    this.stream?.consumed(n);
  }

  /** The last chunk goes out with the end of the response: one write for both. */
  private complete(last?: Uint8Array): void {
    if (this.expectedLength !== null && this.bytesSent !== this.expectedLength && this.x.req.method !== 'HEAD') {
      return this.abort('TSGI_INVALID_RESPONSE', `body of ${this.bytesSent} bytes, Content-Length said ${this.expectedLength}`);
    }
    this.clearTimer();
    if (last && last.length > 0) this.x.res.end(last);
    else this.x.res.end();
  }

  onFailure(failure: StreamFailure): void {
    this.stream = null;
    const { kind, reason } = classify(failure);
    if (this.headSent) return this.abort(kind.code, reason);
    this.reject(kind, reason);
  }

  // ---- endings ----

  /** Nothing was sent yet: answer with the error status (logged once, with the reason). */
  private reject(kind: HttpErrorKind, reason: string): void {
    if (this.finished || this.headSent) return this.abort(kind.code, reason);
    this.failureCode = kind.code;
    this.x.log.error({ reqId: this.x.requestId, upstream: this.upstream, code: kind.code, status: kind.status, reason }, 'request failed');
    const { res } = this.x;
    const body = errorBody(kind);
    this.status = kind.status;
    this.headSent = true;
    res.writeHead(kind.status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    this.clearTimer();
    if (this.x.contentLength !== 0 && !this.x.req.complete) this.linger();
  }

  /**
   * The client is still sending a body we answered without: read and discard it, so closing
   * does not reset the connection before the client has read our answer (nginx's lingering
   * close), but for a bounded time only.
   */
  private linger(): void {
    const { req } = this.x;
    req.removeAllListeners('data');
    req.resume();
    const timer = setTimeout(() => req.socket.destroy(), LINGER_MS);
    timer.unref();
    req.once('end', () => clearTimeout(timer));
    req.once('close', () => clearTimeout(timer));
  }

  /** The head is out: the only honest signal left is to cut the connection. */
  private abort(code: string, reason: string): void {
    if (this.finished) return;
    this.failureCode = code;
    this.x.log.error({ reqId: this.x.requestId, upstream: this.upstream, code, reason }, 'response aborted');
    this.clearTimer();
    this.x.res.destroy();
  }

  private onClientClose(): void {
    if (this.finished) return;
    this.finished = true;
    this.clearTimer();
    // Ended by us (not destroyed): complete from our side even if the client hung up before the flush.
    const complete = this.x.res.writableEnded;
    if (!complete) {
      this.failureCode ??= 'TSGI_CLIENT_CLOSED';
      this.stream?.cancel(ErrorCode.CANCEL, 'client closed the connection');
    }
    this.accessLog(complete);
  }

  private accessLog(complete: boolean): void {
    const { req, requestId, log } = this.x;
    log.info(
      {
        reqId: requestId,
        method: req.method,
        uri: req.url,
        status: this.status || 499,
        bytes: this.bytesSent,
        ms: Math.round((performance.now() - this.started) * 1000) / 1000,
        upstream: this.upstream,
        ...(complete ? {} : { aborted: true }),
        ...(this.failureCode ? { code: this.failureCode } : {}),
      },
      'access',
    );
  }

  // ---- timeouts, as nginx: tsgi_send_timeout between two writes of the body to the runner
  // (armed only while the runner withholds credit), tsgi_read_timeout between two reads from it
  // (armed once the request was sent, paused while the client is the slow side) ----

  private armReadTimer(): void {
    this.arm('read');
  }

  private clearTimer(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(kind: 'read' | 'send'): void {
    if (this.timer && this.timerKind === kind) {
      this.timer.refresh();
      return;
    }
    this.clearTimer();
    this.timerKind = kind;
    const ms = kind === 'read' ? this.x.location.readTimeoutMs : this.x.location.sendTimeoutMs;
    this.timer = setTimeout(() => this.onTimeout(kind, ms), ms);
  }

  private onTimeout(kind: 'read' | 'send', ms: number): void {
    this.timer = null;
    if (this.finished) return;
    const directive = `tsgi_${kind}_timeout`;
    this.stream?.cancel(ErrorCode.TIMEOUT, directive);
    this.stream = null;
    const what = kind === 'read' ? 'runner sent nothing' : 'runner accepted no body bytes';
    this.reject(HttpError.UPSTREAM_TIMEOUT, `${what} for ${ms} ms (${directive})`);
  }
}

function classify(failure: StreamFailure): { kind: HttpErrorKind; reason: string } {
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
      if (failure.code === ErrorCode.APP_ERROR) return { kind: HttpError.UPSTREAM_LOST, reason };
      return { kind: HttpError.UPSTREAM_PROTOCOL, reason };
    }
  }
}
