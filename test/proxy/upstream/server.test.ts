// UpstreamServer against a scripted runner on a real Unix socket: a connection whose worker
// starts draining right after the handshake (a reload caught it mid-connect) must not join the
// pool; the next one serves.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import {
  DEFAULTS,
  ErrorCode,
  FrameDecoder,
  FrameType,
  MAX_STREAM_ID,
  PROTOCOL_VERSION,
  encodeFrame,
  encodeGoAway,
  encodeHello,
  encodePing,
} from '../../../protocol/index.js';
import { UpstreamServer } from '../../../proxy/upstream/server.js';

const silent = pino({ level: 'silent' });

/** Answers each HELLO with its own, as "pid" 1, 2, 3…; the first `draining` connections drain at once. */
function scriptedRunner(path: string, draining: number) {
  let accepted = 0;
  const sockets: Socket[] = [];
  const pingAnswers: number[] = [];
  const server = createServer((socket) => {
    const pid = ++accepted;
    sockets.push(socket);
    const decoder = new FrameDecoder(DEFAULTS.maxFrameSize);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        if (frame.type === FrameType.PING) pingAnswers.push(pid);
        if (frame.type !== FrameType.HELLO) continue;
        const hello = encodeHello({ version: PROTOCOL_VERSION, role: 'runner', maxFrameSize: DEFAULTS.maxFrameSize, initialWindow: DEFAULTS.initialWindow, pid, worker: 1, workers: 1, accepts: true });
        // One write: the proxy reads HELLO and the GOAWAY in the same chunk.
        const frames = [encodeFrame(FrameType.HELLO, 0, 0, hello)];
        if (pid <= draining) {
          frames.push(encodeFrame(FrameType.GOAWAY, 0, 0, encodeGoAway({ lastStream: MAX_STREAM_ID, code: ErrorCode.NO_ERROR, reason: 'reload' })));
          frames.push(encodePing(new TextEncoder().encode('drainack'), false));
        }
        socket.write(Buffer.concat(frames));
      }
    });
  });
  return {
    listen: () => new Promise<void>((resolve) => server.listen(path, resolve)),
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
    get accepted() {
      return accepted;
    },
    pingAnswers,
  };
}

t.test('a connection that drains right after its handshake is not kept; the next one serves', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-upstream-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'runner.sock');
  const runner = scriptedRunner(path, 1);
  await runner.listen();
  t.teardown(() => runner.close());
  const server = new UpstreamServer({ address: { kind: 'unix', path }, limits: { maxFrameSize: DEFAULTS.maxFrameSize, initialWindow: DEFAULTS.initialWindow }, keepalive: 1, log: silent });
  t.teardown(() => server.destroy());
  const connection = await server.acquire(5000);
  t.equal(connection.hello.pid, 2, 'the second connection, not the draining one');
  t.ok(connection.available);
  t.equal(runner.accepted, 2, 'one reconnect');
  // Nothing would ever remove a retired connection from the pool: it must never enter it.
  t.equal((server as unknown as { connections: unknown[] }).connections.length, 1, 'only the live connection is in the pool');
  t.equal((await server.acquire(5000)).hello.pid, 2, 'and it stays the one used');
  t.same(runner.pingAnswers, [], 'the retired, idle connection closed its side instead of answering the fence');
});
