import { once } from 'node:events';
import { createServer, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { Readable } from 'node:stream';
import { isHopByHopName } from '../../protocol/index.js';
import type { Application, AppResult, Chunk, Environ, Header, StartResponse } from './app.js';
import { PairEnd } from './duplex-pair.js';
import { headerPairs, requestTarget } from './request-head.js';

/**
 * Hosts a Node `(req, res)` request listener (node:http, Express, Connect...) under the WSGI
 * contract. The listener needs the real http.IncomingMessage and http.ServerResponse (Express
 * swaps their prototypes for subclasses of them), so it gets them from a real, private
 * http.Server: each request is written to it as HTTP/1.1 over an in-memory connection
 * (runner/apps/duplex-pair.ts) by node:http's own client, whose parsed response becomes the
 * contract's status, headers and body. Both directions stream with backpressure end to end;
 * a client that leaves closes the connection, which the listener sees as it would a socket's.
 * The cost is one HTTP/1.1 serialisation and parse each way, in process.
 */
export function fromNodeListener(listener: RequestListener): Application {
  const exchanges = new WeakMap<object, NodeExchange>();
  const server = privateServer(listener, (socket, err) => exchanges.get(socket)?.fail(err));
  return (environ, startResponse): AppResult => new NodeExchange(server, exchanges, environ, startResponse);
}

function privateServer(listener: RequestListener, fail: (socket: object, err: unknown) => void): Server {
  const server = createServer((req, res) => {
    // A throw or a rejection in the listener must answer this request, not kill the worker.
    try {
      const result = listener(req, res) as unknown;
      if (isThenable(result)) result.then(undefined, (err: unknown) => fail(req.socket, err));
    } catch (err) {
      fail(req.socket, err);
    }
  });
  // node:http's parser refuses what it cannot parse (a method outside its list, say): name
  // that in the log instead of the bare 'aborted' the cut connection would give.
  server.on('clientError', (err: Error & { code?: string }, socket: object) => {
    fail(socket, new Error(`node:http cannot pass this request to the listener: ${err.code ?? err.message}`, { cause: err }));
  });
  // The runner enforces deadlines (harakiri) and the proxy its timeouts: none in here.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  server.keepAliveTimeout = 0;
  return server;
}

const DONE: IteratorResult<Chunk> = { done: true, value: undefined };

/** One request through the listener, as the async iterator of its response body. */
class NodeExchange implements AsyncIterableIterator<Chunk> {
  private readonly clientEnd: PairEnd;
  private readonly serverEnd: PairEnd;
  private body: AsyncIterator<Buffer> | null = null;
  private failure: { err: unknown } | null = null;
  private called = false;
  private left = false;

  constructor(
    private readonly server: Server,
    exchanges: WeakMap<object, NodeExchange>,
    private readonly environ: Environ,
    private readonly startResponse: StartResponse,
  ) {
    [this.clientEnd, this.serverEnd] = PairEnd.pair();
    exchanges.set(this.serverEnd, this);
    socketIdentity(this.serverEnd, environ);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Chunk>> {
    try {
      if (!this.called) {
        this.called = true;
        await this.respond();
      }
      if (!this.body || this.left) return DONE;
      const step = await this.body.next();
      return step.done ? DONE : { done: false, value: step.value };
    } catch (err) {
      // The connection broke because the listener failed: report the listener's error.
      throw this.failure ? this.failure.err : err;
    }
  }

  /** The client left: close the connection, so the listener's req and res see it close. */
  async return(): Promise<IteratorResult<Chunk>> {
    this.left = true;
    this.clientEnd.destroy();
    return DONE;
  }

  /** The listener threw or rejected: the contract answers 500, or aborts after the head. */
  fail(err: unknown): void {
    this.failure ??= { err };
    this.clientEnd.destroy(err instanceof Error ? err : new Error(String(err)));
  }

  private async respond(): Promise<void> {
    this.server.emit('connection', this.serverEnd);
    const request = this.send();
    // Failures after the response began reach the body's iterator; these listeners only keep
    // a late 'error' (the connection closed under a request nobody waits on) from being fatal.
    request.on('error', () => undefined);
    const [response] = (await once(request, 'response')) as [IncomingMessage];
    response.on('error', () => undefined);
    this.startResponse(statusLine(response), responseHeaders(response));
    this.body = response[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** Writes the request head, then pumps the body from wsgi.input as the listener reads it. */
  private send(): ClientRequest {
    const { environ } = this;
    const request = httpRequest({
      method: typeof environ.REQUEST_METHOD === 'string' ? environ.REQUEST_METHOD : 'GET',
      path: requestTarget(environ),
      // An object, not raw pairs: node:http would send raw pairs at once, before pumpBody
      // knows whether the body is chunked. The environ has each name once already.
      headers: { ...Object.fromEntries(headerPairs(environ)), connection: 'close' },
      createConnection: () => this.clientEnd,
      setHost: false,
    });
    void this.pumpBody(request, environ['wsgi.input'] as Readable | undefined).catch((err: unknown) => request.destroy(err as Error));
    return request;
  }

  /**
   * With a Content-Length the body is that long. Without one the request may be chunked or
   * have no body at all (the environ cannot tell): the first read decides, so a request
   * without a body does not reach the listener with a made-up Transfer-Encoding.
   */
  private async pumpBody(request: ClientRequest, input: Readable | undefined): Promise<void> {
    if (!input || this.environ.CONTENT_LENGTH === '0') {
      request.end();
      return;
    }
    const chunks = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let step = await chunks.next();
    if (step.done) {
      request.end();
      return;
    }
    if (typeof this.environ.CONTENT_LENGTH !== 'string') request.setHeader('transfer-encoding', 'chunked');
    for (; !step.done && !request.destroyed; step = await chunks.next()) {
      if (!request.write(step.value)) await drainedOrClosed(request);
    }
    request.end();
  }
}

/**
 * Waits for the request to take more, or to close: a listener that answers without reading
 * the whole body closes the connection, and the pump must not wait for a 'drain' never coming.
 */
function drainedOrClosed(request: ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      request.off('drain', done);
      request.off('close', done);
      resolve();
    };
    request.on('drain', done);
    request.on('close', done);
  });
}

function statusLine(response: IncomingMessage): string {
  return response.statusMessage ? `${response.statusCode} ${response.statusMessage}` : String(response.statusCode);
}

/**
 * Every field as the listener set it (rawHeaders keeps repeats such as Set-Cookie apart), but
 * the hop-by-hop ones, which node:http writes itself (see fetch-app.ts's responseHeaders).
 */
function responseHeaders(response: IncomingMessage): Header[] {
  const headers: Header[] = [];
  const raw = response.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (!isHopByHopName(raw[i]!)) headers.push([raw[i]!, raw[i + 1]!]);
  }
  return headers;
}

/** What the listener reads from req.socket: the client's address, and TLS for https. */
function socketIdentity(socket: PairEnd, environ: Environ): void {
  Object.defineProperties(socket, {
    remoteAddress: { value: environ.REMOTE_ADDR },
    remotePort: { value: environ.REMOTE_PORT === undefined ? undefined : Number(environ.REMOTE_PORT) },
    encrypted: { value: environ['wsgi.url_scheme'] === 'https' },
  });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
