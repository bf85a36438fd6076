/**
 * The client side of the idle scenario, a process of its own (it needs a file descriptor per
 * connection, so the bench starts it with a raised limit, on the load CPU):
 * `node idle-client.js PORT COUNT`. Opens COUNT connections to 127.0.0.1:PORT, a few hundred
 * at a time, sends one keep-alive `GET /` on each and waits for the whole hello answer, then
 * prints `READY {json}` and leaves them idle. A line on stdin asks how many are still open:
 * it prints `DONE {json}`, closes them all and exits.
 */
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { HELLO } from './endpoints.js';

const port = Number(process.argv[2]);
const count = Number(process.argv[3]);
if (!Number.isInteger(port) || !Number.isInteger(count) || count < 1) {
  process.stderr.write('usage: idle-client.js PORT COUNT\n');
  process.exit(2);
}
const AT_ONCE = 200;
const ANSWER_TIMEOUT_MS = 10_000;
const REQUEST = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n';

const open = new Set<Socket>();
const failures = new Map<string, number>();
let closedByServer = 0;

function fail(why: string): void {
  failures.set(why, (failures.get(why) ?? 0) + 1);
}

/** One connection with one answered request, kept open; resolves when the answer is complete. */
function openOne(): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let answered = false;
    const timer = setTimeout(() => finish('no complete answer in time'), ANSWER_TIMEOUT_MS);
    function finish(why: string | null): void {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      if (why) {
        fail(why);
        socket.destroy();
      } else open.add(socket);
      resolve();
    }
    function onData(chunk: Buffer): void {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!text.startsWith('HTTP/1.1 200')) return finish(`answer ${JSON.stringify(text.slice(0, 15))}`);
      if (text.length >= end + 4 + HELLO.length) finish(text.slice(end + 4) === HELLO ? null : 'wrong body');
    }
    socket.on('data', onData);
    socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
    socket.on('close', () => {
      if (open.delete(socket)) closedByServer += 1;
      else finish('closed before the answer');
    });
    socket.write(REQUEST);
  });
}

const started = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: Math.min(AT_ONCE, count) }, async () => {
    while (next < count) {
      next += 1;
      await openOne();
    }
  }),
);
const report = () => ({ requested: count, open: open.size, closedByServer, failures: Object.fromEntries(failures) });
process.stdout.write(`READY ${JSON.stringify({ ...report(), openingMs: Math.round(performance.now() - started) })}\n`);

createInterface({ input: process.stdin }).once('line', () => {
  process.stdout.write(`DONE ${JSON.stringify(report())}\n`);
  for (const socket of open) socket.destroy();
  process.exit(0);
});
