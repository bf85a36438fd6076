/**
 * The peer: fastify serving the endpoints of endpoints.ts directly, no logger.
 * `node fastify-server.js PORT`; listens on 127.0.0.1 only. SIGTERM ends it (default action).
 */
import { Readable } from 'node:stream';
import Fastify from 'fastify';
import { CHUNK_BYTES, HELLO, downloadSize, jsonBody, patternChunk } from './endpoints.js';
import { KEEP_ALIVE_MS, listenArg } from './listen-arg.js';

const JSON_BODY = jsonBody();
const CHUNK = patternChunk();

function* chunks(size: number): Generator<Buffer> {
  for (let left = size; left > 0; left -= CHUNK_BYTES) yield left >= CHUNK_BYTES ? CHUNK : CHUNK.subarray(0, left);
}

const app = Fastify({ logger: false, keepAliveTimeout: KEEP_ALIVE_MS });
// Upload bodies are counted as they stream, never collected.
app.addContentTypeParser('*', (_request, payload, done) => {
  let total = 0;
  payload.on('data', (chunk: Buffer) => (total += chunk.length));
  payload.on('end', () => done(null, total));
  payload.on('error', (err) => done(err, undefined));
});
app.get('/', (_request, reply) => {
  reply.header('Content-Type', 'text/plain').send(HELLO);
});
app.get('/json', (_request, reply) => {
  reply.header('Content-Type', 'application/json').send(JSON_BODY);
});
app.get<{ Params: { n: string } }>('/download/:n', (request, reply) => {
  const size = downloadSize(`/download/${request.params.n}`);
  if (size === null) return reply.code(404).header('Content-Type', 'text/plain').send('not found');
  reply.header('Content-Type', 'application/octet-stream').header('Content-Length', String(size));
  return reply.send(Readable.from(chunks(size), { objectMode: false }));
});
app.post('/upload', (request, reply) => {
  reply.header('Content-Type', 'text/plain').send(String(request.body));
});
await app.listen(listenArg('fastify-server.js', process.argv[2]));
