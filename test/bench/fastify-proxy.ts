/**
 * The peer proxy: fastify + @fastify/http-proxy in front of node-server.js on a Unix socket,
 * the same two hops as tsgi with a stock HTTP/1.1 upstream (undici pool) instead of the
 * tsgi protocol. `node fastify-proxy.js PORT /path/to/backend.sock`; no logger.
 */
import Fastify from 'fastify';
import httpProxy from '@fastify/http-proxy';
import { KEEP_ALIVE_MS, listenArg } from './listen-arg.js';

const at = listenArg('fastify-proxy.js', process.argv[2]);
const socket = process.argv[3];
if (!socket) {
  process.stderr.write('usage: fastify-proxy.js PORT BACKEND_SOCKET\n');
  process.exit(2);
}

// bodyLimit 0 would refuse every body; the upload scenario sends up to 256 MiB.
const app = Fastify({ logger: false, keepAliveTimeout: KEEP_ALIVE_MS, bodyLimit: 2 ** 32 });
await app.register(httpProxy, { upstream: `unix+http://${encodeURIComponent(socket)}/` });
await app.listen(at);
