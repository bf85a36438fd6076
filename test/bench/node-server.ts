/**
 * The ceiling: node:http serving the endpoints of endpoints.ts with nothing in between.
 * `node node-server.js PORT|unix:PATH`; also the backend behind nginx and @fastify/http-proxy.
 * SIGTERM ends it (default action).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { CHUNK_BYTES, HELLO, downloadSize, jsonBody, patternChunk } from './endpoints.js';
import { KEEP_ALIVE_MS, listenArg } from './listen-arg.js';

const JSON_BODY = jsonBody();
const CHUNK = patternChunk();

function download(res: ServerResponse, size: number): void {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) });
  let left = size;
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, CHUNK_BYTES);
      left -= n;
      if (!res.write(n === CHUNK_BYTES ? CHUNK : CHUNK.subarray(0, n))) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

function upload(req: IncomingMessage, res: ServerResponse): void {
  let total = 0;
  req.on('data', (chunk: Buffer) => (total += chunk.length));
  req.on('end', () => {
    const body = String(total);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(body.length) });
    res.end(body);
  });
}

const server = createServer((req, res) => {
  const path = req.url ?? '/';
  if (req.method === 'GET' && path === '/') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '12' });
    return void res.end(HELLO);
  }
  if (req.method === 'GET' && path === '/json') {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(JSON_BODY.length) });
    return void res.end(JSON_BODY);
  }
  const size = req.method === 'GET' ? downloadSize(path) : null;
  if (size !== null) return download(res, size);
  if (req.method === 'POST' && path === '/upload') return upload(req, res);
  res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': '9' });
  res.end('not found');
});
server.keepAliveTimeout = KEEP_ALIVE_MS;
server.listen(listenArg('node-server.js', process.argv[2]));
