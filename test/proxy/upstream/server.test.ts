// UpstreamServer against a scripted runner on a real Unix socket: a connection whose worker
// starts draining right after the handshake (a reload caught it mid-connect) must not join the
// pool; the next one serves. And the pool widens for a runner whose socket fills, only as far as
// its HELLO allows.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import t, { type Test } from 'tap';
import {
  DEFAULTS,
  ErrorCode,
  FrameDecoder,
  FrameType,
  MAX_STREAM_ID,
  PROTOCOL_VERSION,
  encodeEnviron,
  encodeFrame,
  encodeGoAway,
  encodeResponseHead,
  encodeHello,
  encodePing,
} from '../../../protocol/index.js';
import { UpstreamServer } from '../../../proxy/upstream/server.js';
import type { UpstreamConnection } from '../../../proxy/upstream/connection.js';
import type { StreamEvents, UpstreamStream } from '../../../proxy/upstream/stream.js';
import { until } from '../../helpers/until.js';

const silent = pino({ level: 'silent' });
/** A module's URL from this (built) file, for t.mockImport. */
const moduleUrl = (path: string) => new URL(path, import.meta.url).href;

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

/**
 * Runner workers that answer every REQUEST with a RESPONSE and `bodyBytes` of DATA, in one
 * write and without END, so the stream stays open; the proxy reads it all at once (one
 * process, one event loop). Connections are accepted by the workers of `pids` in turn (one
 * worker, pid 1, unless said); `replace(old, next)` makes a worker go and another take its place.
 */
function bulkRunner(path: string, bodyBytes: number, connections?: number, pids: number[] = [1]) {
  let accepted = 0;
  const sockets: Array<{ socket: Socket; pid: number }> = [];
  const server = createServer((socket) => {
    const pid = pids[accepted++ % pids.length]!;
    sockets.push({ socket, pid });
    const decoder = new FrameDecoder(DEFAULTS.maxFrameSize);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        if (frame.type === FrameType.HELLO) {
          const hello = { version: PROTOCOL_VERSION, role: 'runner' as const, maxFrameSize: DEFAULTS.maxFrameSize, initialWindow: DEFAULTS.initialWindow, pid, worker: 1, workers: pids.length, ...(connections ? { connections } : {}) };
          socket.write(encodeFrame(FrameType.HELLO, 0, 0, encodeHello(hello)));
        } else if (frame.type === FrameType.REQUEST) {
          const head = encodeFrame(FrameType.RESPONSE, 0, frame.stream, encodeResponseHead({ status: 200, reason: 'OK', headers: [] }));
          const body: Uint8Array[] = [];
          for (let sent = 0; sent < bodyBytes; sent += 64 * 1024) body.push(encodeFrame(FrameType.DATA, 0, frame.stream, new Uint8Array(Math.min(64 * 1024, bodyBytes - sent))));
          socket.write(Buffer.concat([head, ...body]));
        }
      }
    });
  });
  return {
    listen: () => new Promise<void>((resolve) => server.listen(path, resolve)),
    close: () => {
      for (const { socket } of sockets) socket.destroy();
      server.close();
    },
    get accepted() {
      return accepted;
    },
    replace(old: number, next: number) {
      pids[pids.indexOf(old)] = next;
      for (const { socket, pid } of sockets) if (pid === old) socket.destroy();
    },
  };
}

/**
 * Opens a stream on `connection`; resolves to it once `bytes` of its body have arrived.
 * `keeps`: its client still holds views of each read when the read is handled.
 */
function openStream(connection: UpstreamConnection, bytes: number, keeps = false, chunks?: Uint8Array[], whenWritten: (done: (written: boolean) => void) => boolean = () => false): Promise<UpstreamStream> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const events: StreamEvents = {
      onResponse: () => undefined,
      onData: (chunk) => {
        chunks?.push(chunk);
        received += chunk.length;
        if (received >= bytes) resolve(stream);
      },
      onReadEnd: () => keeps,
      whenWritten,
      onWritable: () => undefined,
      onBodyRefused: () => undefined,
      onFailure: (failure) => reject(new Error(`stream failed: ${failure.kind}`)),
    };
    const stream = connection.request(encodeEnviron({ REQUEST_METHOD: 'GET', PATH_INFO: '/' }), false, events);
  });
}

/** Within the kernel's default Unix socket buffer (208 KiB) with room to spare, above the 128 KiB mark. */
const BULK = 160 * 1024;

async function bulkSetup(t: Test, bodyBytes: number, connections?: number, pids?: number[]) {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-upstream-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'runner.sock');
  const runner = bulkRunner(path, bodyBytes, connections, pids);
  await runner.listen();
  t.teardown(() => runner.close());
  const server = new UpstreamServer({ address: { kind: 'unix', path }, limits: { maxFrameSize: DEFAULTS.maxFrameSize, initialWindow: DEFAULTS.initialWindow }, keepalive: 1, log: silent });
  t.teardown(() => server.destroy());
  return { runner, server };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 150));
const pool = (server: UpstreamServer) => (server as unknown as { connections: UpstreamConnection[] }).connections;
const pooled = (server: UpstreamServer) => pool(server).length;
const widening = (server: UpstreamServer) => (server as unknown as { widening: boolean }).widening;

/**
 * Runs `steps` with the proxy's clock (performance.now) standing still: a saturated mark set
 * meanwhile lasts until the steps are done. With the clock running, a machine that stalls the
 * test for 100 ms between a read and the acquire after it would lapse the mark the test is
 * about (marks that lapse are what the packing test checks, with the clock running).
 */
async function clockHeld<T>(steps: () => Promise<T>): Promise<T> {
  const running = performance.now;
  const at = running.call(performance);
  performance.now = () => at;
  try {
    return await steps();
  } finally {
    performance.now = running;
  }
}

/** Saturates the pool's first connection and lets it widen by one. */
async function widenOnce(server: UpstreamServer) {
  const first = await server.acquire(5000);
  const stream = await openStream(first, BULK);
  const saturated = first.saturated;
  const again = await server.acquire(5000);
  await until('the pool to widen to 2', () => pooled(server) === 2, 2000);
  return { first, stream, saturated, again };
}

t.test('a worker whose socket fills gets more connections, up to what its HELLO allows', async (t) => {
  const { runner, server } = await bulkSetup(t, BULK, 2);
  await clockHeld(async () => {
    const { first, saturated, again } = await widenOnce(server);
    t.ok(saturated, 'a read of 160 KiB at once: the runner was waiting on the socket');
    t.equal(again, first, 'the request that finds it saturated still goes there');
    t.equal(runner.accepted, 2, 'and one more connection was opened meanwhile');
    await openStream(first, BULK);
    const second = await server.acquire(5000);
    t.not(second, first, 'while one is saturated, the next stream goes to the least busy connection of the worker');
    await openStream(second, BULK);
    t.equal(await server.acquire(5000), second, 'the less busy one again, though saturated too');
    await until('the widening to finish', () => !widening(server), 2000);
  });
  t.equal(runner.accepted, 2, 'no more than the 2 connections the HELLO allows');
  t.equal(pooled(server), 2);
});

t.test('without a saturated socket streams pack onto the oldest connection; a widened one stays idle for the next burst', async (t) => {
  const { server } = await bulkSetup(t, BULK, 4);
  const { first, stream } = await clockHeld(() => widenOnce(server));
  await settle(); // the mark expires
  t.notOk(first.saturated);
  t.equal(await server.acquire(5000), first, 'the oldest, though it carries a stream and the new one none');
  const connections = (server as unknown as { connections: UpstreamConnection[] }).connections;
  const widened = connections.find((c) => c !== first)!;
  const onWidened = await openStream(widened, 1);
  onWidened.cancel(ErrorCode.CANCEL, 'done');
  stream.cancel(ErrorCode.CANCEL, 'done');
  await settle();
  t.same(pool(server), [widened], 'both idle (keepalive 1): the widened one stays for the next burst, the other closes as before');
});

t.test('no more connections without the HELLO key, nor for small responses', async (t) => {
  const silentRunner = await bulkSetup(t, BULK);
  const connection = await silentRunner.server.acquire(5000);
  await clockHeld(async () => {
    await openStream(connection, BULK);
    t.ok(connection.saturated);
    await silentRunner.server.acquire(5000);
    t.notOk(widening(silentRunner.server), 'no connection is even being opened');
  });
  await settle();
  t.equal(silentRunner.runner.accepted, 1, 'a runner that does not announce `connections` keeps one');

  const small = await bulkSetup(t, 4 * 1024, 4);
  for (let i = 0; i < 20; i++) await openStream(await small.server.acquire(5000), 4 * 1024);
  await settle();
  t.equal(small.runner.accepted, 1, 'small responses never saturate a connection');
});

t.test('a pool widened to its limit still reaches a worker that replaced one', async (t) => {
  const { runner, server } = await bulkSetup(t, BULK, 4, [1, 2, 3, 4]);
  await server.acquire(5000);
  await until('a connection to each of the 4 workers', () => new Set(pool(server).map((c) => c.hello.pid)).size === 4, 2000);
  // Every connection saturated each round, so the one chosen next is too.
  await clockHeld(async () => {
    for (let i = 0; i < 32 && pooled(server) < 16; i++) {
      await Promise.all(pool(server).map((c) => openStream(c, BULK)));
      await server.acquire(5000);
      await until('the widening to finish', () => !widening(server), 2000);
    }
  });
  t.equal(pooled(server), 16, 'four workers, four connections each: the most for one address');
  runner.replace(4, 5);
  await until('a connection to the replacement worker', () => pool(server).some((c) => c.hello.pid === 5), 2000);
  t.pass('the replacement worker got a connection');
  t.notOk(pool(server).some((c) => c.hello.pid === 4), 'none is left to the worker that went');
});

/**
 * The connection module with the young collection's counter recorded in `counted`, and
 * `connect` to a bulk runner of its own answering `bodyBytes` per request.
 */
async function counting(t: Test) {
  const counted: number[] = [];
  // Absolute URLs: tap resolves relative ones from the source-mapped test file, not the built one.
  const module = await t.mockImport<typeof import('../../../proxy/upstream/connection.js')>(moduleUrl('../../../proxy/upstream/connection.js'), {
    [moduleUrl('../../../proxy/young-gc.js')]: {
      bodyBytesRead: (n: number) => counted.push(n),
      copyCounted: (bytes: Uint8Array) => (counted.push(bytes.length), Buffer.from(bytes)),
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-upstream-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let runners = 0;
  const connect = async (bodyBytes: number, initialWindow: number) => {
    const path = join(dir, `runner-${runners++}.sock`);
    const runner = bulkRunner(path, bodyBytes);
    await runner.listen();
    t.teardown(() => runner.close());
    const connection = await module.UpstreamConnection.open({ kind: 'unix', path }, { maxFrameSize: DEFAULTS.maxFrameSize, initialWindow }, 5000, silent);
    t.teardown(() => connection.destroy());
    return connection;
  };
  return { counted, connect, READ_SIZE: module.READ_SIZE, BULK_READ_SIZE: module.BULK_READ_SIZE };
}

t.test('a read buffer a client still refers to is given up and counted toward a young collection', async (t) => {
  const { counted, connect, READ_SIZE, BULK_READ_SIZE } = await counting(t);
  const connection = await connect(BULK, DEFAULTS.initialWindow);
  // The runner answers in this process with one write the socket takes whole, so each
  // response arrives in one read, above SATURATED_READ.
  await openStream(connection, BULK);
  t.same(counted, [], 'a buffer nothing refers to is read into again: nothing for the collector');
  const copied: Uint8Array[] = [];
  await openStream(connection, BULK, true, copied);
  t.same(
    counted,
    copied.map((c) => c.length),
    'the read went to the bulk buffer taken for the stream before: this one got copies, each counted, and no buffer was given up',
  );
  t.ok(copied.length > 0 && copied.every((c) => c.buffer.byteLength !== BULK_READ_SIZE), 'every piece it got is a copy, none a view of the bulk buffer');
  const copies = counted.length;

  // A response larger than the socket holds comes in several full reads, all its own (a
  // window that takes it whole: this runner sends without waiting for credit).
  const second = await connect(3 * READ_SIZE, 4 * READ_SIZE);
  const viewed: Uint8Array[] = [];
  await openStream(second, 3 * READ_SIZE, true, viewed);
  t.ok(viewed.some((c) => c.buffer.byteLength === BULK_READ_SIZE), 'its own stream gets views of the bulk buffer');
  const [first, ...bulk] = counted.slice(copies);
  t.equal(first, READ_SIZE, 'the first read, in the shared buffer, given up whole');
  t.ok(bulk.length > 0 && bulk.every((n) => n === BULK_READ_SIZE), `then bulk reads for the same stream, each given up whole (${JSON.stringify(counted)})`);
});

t.test('a bulk buffer its client has written serves bulk reads again', async (t) => {
  const { counted, connect, READ_SIZE, BULK_READ_SIZE } = await counting(t);
  const connection = await connect(3 * READ_SIZE, 4 * READ_SIZE);
  const bulkOf = (chunks: Uint8Array[]) => [...new Set(chunks.map((c) => c.buffer).filter((b) => b.byteLength === BULK_READ_SIZE))];
  /** A response whose client is behind after every read, and says when it has written it. */
  const behind = async () => {
    const chunks: Uint8Array[] = [];
    const written: ((written: boolean) => void)[] = [];
    await openStream(connection, 3 * READ_SIZE, true, chunks, (done) => written.push(done) > 0);
    return { given: bulkOf(chunks), written };
  };

  const first = await behind();
  t.ok(first.given.length > 0, 'bulk reads for the stream');
  t.equal(first.written.length, first.given.length, 'each bulk buffer it kept waits for its client to write it');
  t.same(counted, [READ_SIZE], 'only the shared buffer is left to the collector');

  const second = await behind();
  t.notOk(second.given.some((b) => first.given.includes(b)), 'a buffer its client has not written yet is never read into');
  // Written now: it takes the bulk buffer's place if that is free, else the spare's (free:
  // the connection's bulk reads so far all made new ones). Which of the two depends on the
  // size of the response's last read, and so on the socket's buffer: both lead to a read.
  first.written[0]!(true);
  const third = await behind();
  t.ok(third.given.includes(first.given[0]!), 'a written buffer serves the next bulk reads');
  t.notOk(third.given.some((b) => b !== first.given[0] && (first.given.includes(b) || second.given.includes(b))), 'and no buffer still held');

  counted.length = 0;
  first.written.slice(1).forEach((done) => done(false));
  third.written.forEach((done) => done(false));
  t.equal(counted.length, first.written.length - 1 + third.written.length, 'a buffer whose client failed is left to the collector, counted');
});
