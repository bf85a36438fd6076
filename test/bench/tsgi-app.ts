/**
 * The tsgi side of the benchmark: the endpoints of endpoints.ts as a WSGI-style app, loaded by
 * tsgi-runner from dist/test/bench/tsgi-app.js. Downloads stream from a generator; uploads are
 * counted as they are read from wsgi.input.
 */
import { CHUNK_BYTES, HELLO, downloadSize, jsonBody, patternChunk } from './endpoints.js';

type Environ = Record<string, unknown>;
type StartResponse = (status: string, headers: [string, string][]) => unknown;

const JSON_BODY = jsonBody();
const CHUNK = patternChunk();

function* chunks(size: number): Generator<Buffer> {
  for (let left = size; left > 0; left -= CHUNK_BYTES) yield left >= CHUNK_BYTES ? CHUNK : CHUNK.subarray(0, left);
}

async function* counted(input: AsyncIterable<Uint8Array>, startResponse: StartResponse): AsyncGenerator<string> {
  let total = 0;
  for await (const chunk of input) total += chunk.length;
  const body = String(total);
  startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', String(body.length)]]);
  yield body;
}

export default function app(environ: Environ, startResponse: StartResponse): Iterable<string | Uint8Array> | AsyncIterable<string> {
  const method = environ.REQUEST_METHOD;
  const path = String(environ.PATH_INFO ?? '/');
  if (method === 'GET' && path === '/') {
    startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '12']]);
    return [HELLO];
  }
  if (method === 'GET' && path === '/json') {
    startResponse('200 OK', [['Content-Type', 'application/json'], ['Content-Length', String(JSON_BODY.length)]]);
    return [JSON_BODY];
  }
  const size = method === 'GET' ? downloadSize(path) : null;
  if (size !== null) {
    startResponse('200 OK', [['Content-Type', 'application/octet-stream'], ['Content-Length', String(size)]]);
    return chunks(size);
  }
  if (method === 'POST' && path === '/upload') return counted(environ['wsgi.input'] as AsyncIterable<Uint8Array>, startResponse);
  startResponse('404 Not Found', [['Content-Type', 'text/plain'], ['Content-Length', '9']]);
  return ['not found'];
}
