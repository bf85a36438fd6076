import { STATUS_CODES } from 'node:http';
import { isHopByHopName } from '../../protocol/index.js';
import type { Application, AppResult, Chunk, Environ, Header, StartResponse } from './app.js';
import { ContractError } from '../errors.js';
import { environToRequest } from './fetch-request.js';

/**
 * A Fetch API handler: Hono's `app.fetch`, a Cloudflare-style `{ fetch }` or a plain function.
 * The environ comes as the second argument (Hono's `c.env`): REMOTE_ADDR, tsgi.request_id and
 * the location's tsgi_param values, like the bindings a Worker gets.
 */
export type FetchHandler = (request: Request, environ: Environ) => Response | Promise<Response>;

/**
 * Hosts a fetch-style handler under the WSGI contract (runner/apps/contract.ts), so flow control,
 * cancellation, harakiri and the counters apply unchanged. The application returns at once an
 * iterable that calls the handler on its first step: the contract then races that call with a
 * cancel, and a client that leaves while the handler is still working aborts `request.signal`.
 */
export function fromFetchHandler(handler: FetchHandler): Application {
  return (environ, startResponse): AppResult => new FetchExchange(handler, environ, startResponse);
}

const DONE: IteratorResult<Chunk> = { done: true, value: undefined };

/** One request through a fetch handler, as the async iterator of its response body. */
class FetchExchange implements AsyncIterableIterator<Chunk> {
  private readonly aborter = new AbortController();
  private reader: ReadableStreamDefaultReader<Chunk> | null = null;
  private called = false;
  private left = false;

  constructor(
    private readonly handler: FetchHandler,
    private readonly environ: Environ,
    private readonly startResponse: StartResponse,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** One chunk of the body per step: the next read waits until the contract sent this one. */
  async next(): Promise<IteratorResult<Chunk>> {
    if (!this.called) {
      this.called = true;
      await this.respond();
    }
    if (!this.reader || this.left) return DONE;
    const step = await this.reader.read();
    return step.done ? DONE : { done: false, value: step.value };
  }

  /**
   * The contract left early (the client went away, the stream was cancelled, a send failed):
   * abort the request's signal and cancel the body, so the handler's stream sees it. Not
   * awaited: a stream's cancel() may wait on the app, and leaving must not.
   */
  async return(): Promise<IteratorResult<Chunk>> {
    if (this.left) return DONE;
    this.left = true;
    this.aborter.abort();
    this.reader?.cancel().catch(() => undefined);
    return DONE;
  }

  private async respond(): Promise<void> {
    const request = environToRequest(this.environ, this.aborter.signal);
    const response: unknown = await this.handler(request, this.environ);
    if (!(response instanceof Response)) throw new ContractError(`a fetch handler must return a Response, got ${describe(response)}`);
    if (this.left) {
      // The client left while the handler worked: its body is never read, so let it go.
      response.body?.cancel().catch(() => undefined);
      return;
    }
    this.startResponse(statusLine(response), responseHeaders(response));
    if (response.body) this.reader = response.body.getReader() as ReadableStreamDefaultReader<Chunk>;
  }
}

/** "200 OK": a Response made without a statusText gets the standard reason. */
function statusLine(response: Response): string {
  const reason = response.statusText || STATUS_CODES[response.status] || '';
  return reason ? `${response.status} ${reason}` : String(response.status);
}

/**
 * Iterating a Headers yields each Set-Cookie on its own (Fetch's "sort and combine" keeps them
 * apart, as getSetCookie() does); the other repeated names come joined with ", ".
 *
 * Hop-by-hop fields are dropped, where a WSGI app's are refused (contract.ts, PEP 3333): fetch
 * handlers and Node listeners set them routinely (Hono's stream() sets Transfer-Encoding:
 * chunked, streamSSE() Connection: keep-alive; node:http writes its own), because on their
 * usual servers the transport owns them. The adapters drop them, as a fetch server does;
 * tsgi's transport decides the framing.
 */
function responseHeaders(response: Response): Header[] {
  const headers: Header[] = [];
  for (const pair of response.headers) if (!isHopByHopName(pair[0])) headers.push(pair);
  return headers;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}
