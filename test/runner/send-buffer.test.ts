import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { SEND_BUFFER_BYTES, raiseSendBuffer } from '../../runner/serving/send-buffer.js';

const moduleUrl = (path: string) => new URL(path, import.meta.url).href;
const sockopt = createRequire(import.meta.url)('sockopt') as { getsockopt(s: Socket, level: number, name: number): number };
/** SOL_SOCKET, SO_SNDBUF on Linux. */
const sendBufferOf = (socket: Socket) => sockopt.getsockopt(socket, 1, 7);

/** The accepted side of a fresh Unix socket connection, as a worker gets it. */
async function accepted(t: Test): Promise<Socket> {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-sndbuf-'));
  const path = join(dir, 's.sock');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const client = connect(path);
  const [socket] = (await new Promise((resolve) => server.once('connection', (s: Socket) => resolve([s])))) as [Socket];
  t.teardown(() => {
    socket.destroy();
    client.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return socket;
}

t.test('a Unix socket gets the buffer asked for, as far as the kernel allows', { skip: process.platform !== 'linux' && 'Linux numbers' }, async (t) => {
  const socket = await accepted(t);
  const before = sendBufferOf(socket);
  const after = raiseSendBuffer(socket);
  // The kernel doubles what it is asked for (its own overhead), capped at wmem_max.
  const cap = Number(readFileSync('/proc/sys/net/core/wmem_max', 'utf8'));
  t.equal(after, 2 * Math.min(SEND_BUFFER_BYTES, cap), `reported ${after}, ${before} before`);
  t.equal(sendBufferOf(socket), after, 'what the socket now has');
  t.ok(after! > before || 2 * cap <= before, 'more than the default, unless the kernel allows no more');
});

t.test('a socket already closed is left as it is: null, no throw', async (t) => {
  const socket = await accepted(t);
  socket.destroy();
  t.equal(raiseSendBuffer(socket), null);
});

t.test('without the addon (another platform, a failed install) the default stays: null', async (t) => {
  const { raiseSendBuffer: withoutAddon } = await t.mockImport<typeof import('../../runner/serving/send-buffer.js')>(moduleUrl('../../runner/serving/send-buffer.js'), {
    'node:module': {
      createRequire: () => () => {
        throw new Error("Cannot find module 'sockopt'");
      },
    },
  });
  const socket = await accepted(t);
  const before = sendBufferOf(socket);
  t.equal(withoutAddon(socket), null);
  t.equal(withoutAddon(socket), null, 'asked again: the failed load is remembered, not retried');
  t.equal(sendBufferOf(socket), before);
});
