import type { Readable } from 'node:stream';
import type { Environ } from './app.js';
import { headerPairs, requestUrl, text } from './request-head.js';

/** The environ as a Fetch API `Request`, for fetch-style handlers (runner/apps/fetch-app.ts). */
export function environToRequest(environ: Environ, signal: AbortSignal): Request {
  const method = text(environ, 'REQUEST_METHOD') || 'GET';
  const init: RequestInit & { duplex?: 'half' } = { method, headers: requestHeaders(environ), signal };
  if (hasBody(environ, method)) {
    init.body = bodyStream(environ['wsgi.input'] as Readable);
    // Undici requires it for a streamed body: the request is sent while its body is still read.
    init.duplex = 'half';
  }
  return new Request(requestUrl(environ), init);
}

function requestHeaders(environ: Environ): Headers {
  return new Headers(headerPairs(environ));
}

function hasBody(environ: Environ, method: string): boolean {
  // The Fetch API refuses a body on GET and HEAD; a request that declares none has none.
  if (method === 'GET' || method === 'HEAD') return false;
  if (text(environ, 'CONTENT_LENGTH') === '0') return false;
  return environ['wsgi.input'] !== undefined;
}

/**
 * `wsgi.input` as a ReadableStream that reads one chunk per pull: with a high-water mark of 0
 * nothing is read before the handler asks, so the upload's credit is returned only as the
 * handler consumes it. Cancelling the stream stops reading the input.
 */
function bodyStream(input: Readable): ReadableStream<Uint8Array> {
  const chunks = input[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(new Uint8Array(next.value.buffer, next.value.byteOffset, next.value.byteLength));
      },
      async cancel() {
        await chunks.return?.();
      },
    },
    { highWaterMark: 0 },
  );
}
