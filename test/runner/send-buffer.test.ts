import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { SEND_BUFFER_BYTES, raiseSendBuffer } from '../../runner/serving/send-buffer.js';

const moduleUrl = (path: string) => new URL(path, import.meta.url).href;

interface Sockopt {
  getsockopt(s: Socket, level: number, name: number): number;
  setsockopt(s: Socket, level: number, name: number, value: number): void;
}
/** The addon itself, to read what the socket has: absent off Linux or after a failed install. */
const sockopt = ((): Sockopt | null => {
  if (process.platform !== 'linux') return null;
  try {
    return createRequire(import.meta.url)('sockopt') as Sockopt;
  } catch {
    return null;
  }
})();
/** A sysctl's value, or null where the file is absent (a container's namespace on older kernels). */
function readNumber(path: string): number | null {
  try {
    return Number(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}
const wmemMax = readNumber('/proc/sys/net/core/wmem_max');
const noAddon =
  (sockopt === null && 'the sockopt addon is not loadable here (Linux only, optional)') ||
  (wmemMax === null && 'no /proc/sys/net/core/wmem_max here to know what the kernel grants');
/** SOL_SOCKET, SO_SNDBUF, SO_SNDBUFFORCE on Linux. */
const sendBufferOf = (socket: Socket) => sockopt!.getsockopt(socket, 1, 7);
const granted = () => 2 * Math.min(SEND_BUFFER_BYTES, wmemMax!);

/** The accepted side of a fresh Unix socket connection, as a worker gets it. */
async function accepted(t: Test): Promise<Socket> {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-sndbuf-'));
  const path = join(dir, 's.sock');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const client = connect(path);
  const socket = await new Promise<Socket>((resolve) => server.once('connection', resolve));
  t.teardown(() => {
    socket.destroy();
    client.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return socket;
}

t.test('a Unix socket gets the buffer asked for, as far as the kernel allows', { skip: noAddon }, async (t) => {
  const socket = await accepted(t);
  const before = sendBufferOf(socket);
  const after = raiseSendBuffer(socket);
  // The kernel doubles what it is asked for (its own overhead), capped at wmem_max.
  t.equal(after, Math.max(before, granted()), `reported ${after}, ${before} before`);
  t.equal(sendBufferOf(socket), after, 'what the socket now has');
});

t.test('a socket with more than the kernel would grant is left as it is', { skip: noAddon }, async (t) => {
  const socket = await accepted(t);
  const asked = granted();
  try {
    sockopt!.setsockopt(socket, 1, 32, asked); // SO_SNDBUFFORCE: past wmem_max, doubled
  } catch (err) {
    t.comment(`SO_SNDBUFFORCE refused (it needs CAP_NET_ADMIN): not checked here: ${(err as Error).message}`);
    return;
  }
  const large = sendBufferOf(socket);
  t.ok(large > granted());
  t.equal(raiseSendBuffer(socket), large, 'not shrunk to the cap');
  t.equal(sendBufferOf(socket), large);
});

t.test('a socket already closed is left as it is: null, no throw', { skip: noAddon }, async (t) => {
  const socket = await accepted(t);
  socket.destroy();
  t.equal(raiseSendBuffer(socket), null);
});

t.test('without the addon (another platform, a failed install) the default stays, and is what is reported', async (t) => {
  let loads = 0;
  const { raiseSendBuffer: withoutAddon } = await t.mockImport<typeof import('../../runner/serving/send-buffer.js')>(moduleUrl('../../runner/serving/send-buffer.js'), {
    'node:module': {
      createRequire: () => () => {
        loads++;
        throw new Error("Cannot find module 'sockopt'");
      },
    },
  });
  const socket = await accepted(t);
  const before = sockopt ? sendBufferOf(socket) : null;
  // On Linux a Unix socket starts with net.core.wmem_default; elsewhere the size is not known.
  const expected = process.platform === 'linux' ? readNumber('/proc/sys/net/core/wmem_default') : null;
  t.equal(withoutAddon(socket), expected);
  t.equal(withoutAddon(socket), expected);
  t.equal(loads, process.platform === 'linux' ? 1 : 0, 'the failed load is remembered, not retried');
  if (sockopt) t.equal(sendBufferOf(socket), before);
});
