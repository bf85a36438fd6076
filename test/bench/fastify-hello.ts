/**
 * The peer: fastify answering 'Hello World!' (12 bytes, text/plain) directly, no logger.
 * `node fastify-hello.js PORT`; listens on 127.0.0.1 only. SIGTERM ends it (default action).
 */
import Fastify from 'fastify';

const BODY = 'Hello World!';
const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: fastify-hello.js PORT\n');
  process.exit(2);
}

const app = Fastify({ logger: false });
app.get('/', (_request, reply) => {
  reply.header('Content-Type', 'text/plain').send(BODY);
});
await app.listen({ host: '127.0.0.1', port });
