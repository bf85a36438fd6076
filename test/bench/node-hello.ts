/**
 * The ceiling: node:http answering 'Hello World!' (12 bytes, text/plain) with nothing in
 * between. `node node-hello.js PORT`; listens on 127.0.0.1 only. SIGTERM ends it (default action).
 */
import { createServer } from 'node:http';

const BODY = 'Hello World!';
const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: node-hello.js PORT\n');
  process.exit(2);
}

createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '12' });
  res.end(BODY);
}).listen(port, '127.0.0.1');
