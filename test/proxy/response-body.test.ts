// ResponseBody against a client socket the test drives by hand: when the runner gets credit,
// when the client is waited for, and that every byte arrives once, in order, through memory,
// the temporary file and the fallback after a file failure.
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ResponseBody, type ResponseBuffering } from '../../proxy/response-body.js';
import { until } from '../helpers/until.js';

const KiB = 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The parts of a ServerResponse the body uses; `read(n)` is the client taking bytes. */
class FakeClient extends EventEmitter {
  writableLength = 0;
  ended = false;
  received: Buffer[] = [];
  private queue: { chunk: Buffer; done?: () => void }[] = [];
  private needDrain = false;

  write(chunk: Uint8Array, done?: () => void): boolean {
    this.queue.push({ chunk: Buffer.from(chunk), done });
    this.writableLength += chunk.length;
    if (this.writableLength >= 16 * KiB) this.needDrain = true;
    return !this.needDrain;
  }

  end(chunk?: Uint8Array): void {
    if (chunk) this.write(chunk);
    this.ended = true;
  }

  /** As Node's: a write() answered false and no 'drain' came yet (never after end()). */
  get writableNeedDrain(): boolean {
    return this.needDrain && !this.ended;
  }

  read(n: number): void {
    while (n > 0 && this.queue.length > 0) {
      const { chunk, done } = this.queue.shift()!;
      this.received.push(chunk);
      this.writableLength -= chunk.length;
      n -= chunk.length;
      done?.();
    }
    if (this.writableLength === 0 && this.needDrain) {
      this.needDrain = false;
      this.emit('drain');
    }
  }

  get bytes(): Buffer {
    return Buffer.concat(this.received);
  }
}

/**
 * The client reads until the response ends, or 10 s have passed: the file's reads are the
 * thread pool's, so the wait is by the clock, not a count of turns (a busy machine makes this
 * slower, not wrong).
 */
async function readToEnd(client: FakeClient): Promise<void> {
  const reading = () => (client.read(1024 * KiB), client.ended);
  await until('the response to end', reading, 10_000).catch(() => undefined);
}

/** A runner's view: credit it may spend, and whether the client is what the response waits for. */
/** `settings` null: streaming (tsgi_buffering off). */
function setup(t: Test, settings: Partial<ResponseBuffering> | null = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-rb-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const client = new FakeClient();
  const state = { credit: 256 * KiB, waitingForClient: false, failures: [] as string[], keptUp: [] as boolean[] };
  const buffering: ResponseBuffering | null = settings && { memoryBytes: 36 * KiB, busyBytes: 8 * KiB, maxFileBytes: 1024 * 1024 * 1024, tempDir: dir, ...settings };
  const body: ResponseBody = new ResponseBody(client as unknown as ServerResponse, buffering, {
    consumed: (n, keepingUp) => {
      state.credit += n;
      state.keptUp.push(keepingUp);
    },
    clientProgress: () => void (state.waitingForClient = body.waitsForClient),
    spillFailed: (err) => void state.failures.push(err.message),
    broken: (err) => void state.failures.push(`broken: ${err.message}`),
  });
  t.teardown(() => body.close());
  let sent = 0;
  /** The runner sends `bytes` of a counting pattern, as its credit allows. */
  const produce = (bytes: number) => {
    const chunk = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; i++) chunk[i] = (sent + i) % 251;
    sent += bytes;
    state.credit -= bytes;
    body.write(chunk, false);
    body.readEnd(); // each chunk as the whole of one read of the runner's socket
  };
  const expected = () => Buffer.from(Array.from({ length: sent }, (_, i) => i % 251));
  return { client, body, state, produce, expected };
}

t.test('a response that ends just after spilling began still ends', async (t) => {
  const { client, body, produce, expected } = setup(t);
  produce(200 * KiB); // more than the memory buffers, to a client that reads nothing
  await sleep(60); // past the 20 ms after which the client counts as slow
  body.end(); // the runner's END comes alone, with no bytes after the spill began
  await readToEnd(client);
  t.ok(client.ended, 'the response was ended');
  t.ok(client.bytes.equals(expected()), 'with every byte');
  t.notOk(body.waitsForClient, 'nothing waits for the client any more');
});

t.test('a client reading while the runner keeps producing gets bytes from the file meanwhile', async (t) => {
  const { client, state, produce } = setup(t);
  produce(64 * KiB);
  await sleep(40); // a slow client: spilled
  let producing = true;
  // Producing for as long as the client reads, as credit allows (bounded in bytes, not in
  // turns: credit comes back only as the file takes the bytes, and turns without credit pass fast).
  const runner = (async () => {
    for (let total = 0; producing && total < 256 * 1024 * KiB; ) {
      if (state.credit >= 64 * KiB) {
        produce(64 * KiB);
        total += 64 * KiB;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  // Until the client has read 1 MiB, or 10 s have passed (the file's reads are the thread
  // pool's: by the clock, not a count of turns).
  const reading = () => (client.read(256 * KiB), client.bytes.length > 1024 * KiB);
  await until('1 MiB read by the client', reading, 10_000).catch(() => undefined);
  const readMeanwhile = client.bytes.length;
  producing = false;
  await runner;
  t.ok(readMeanwhile > 1024 * KiB, `the client read ${readMeanwhile} bytes while the runner was still producing`);
});

t.test('a read the client socket takes whole counts as keeping up, though write() said "behind" while corked', async (t) => {
  const { client, body, state } = setup(t, { maxFileBytes: 0 });
  for (let i = 0; i < 3; i++) {
    // One read of the runner's socket: 128 KiB written to the corked client socket (write()
    // answers false past 16 KiB), then the kernel takes it all when the read ends.
    body.write(Buffer.alloc(128 * KiB), false);
    client.read(128 * KiB);
    body.readEnd();
  }
  t.same(state.keptUp, [true, true, true], 'credit for each read, as keeping up: the window may grow');
  t.notOk(body.waitsForClient, 'nothing waits for the client');
});

t.test('a small read the client socket took only in part is credited: Node sends no drain for it', async (t) => {
  const { client, body, state } = setup(t, null); // streaming: nothing is credited from memory
  const start = state.credit;
  for (let i = 0; i < 3; i++) {
    // Two 4 KiB frames in one read, below the socket's 16 KiB highWaterMark; the kernel takes
    // all but 4 KiB each time: a client that keeps pace, a little behind.
    state.credit -= 8 * KiB;
    body.write(Buffer.alloc(4 * KiB), false);
    body.write(Buffer.alloc(4 * KiB), false);
    client.read(i === 0 ? 4 * KiB : 8 * KiB);
    body.readEnd();
  }
  t.equal(state.credit, start, 'every byte credited: the runner is not held back');
  t.notOk(body.waitsForClient, 'and nothing waits for a drain that will not come');
});

t.test('after the end nothing is owed: what the client socket holds is for send_timeout, not credit', async (t) => {
  const { body } = setup(t);
  body.write(Buffer.alloc(64 * KiB), false); // over the highWaterMark, nothing read
  body.end(Buffer.alloc(KiB));
  body.readEnd();
  t.notOk(body.waitsForClient, 'the response waits for nothing once it is all written');
});

t.test('memory only: a client that stops reading is waited for (send_timeout), not the runner', async (t) => {
  const { state, produce } = setup(t, { maxFileBytes: 0 });
  for (let i = 0; i < 4; i++) produce(16 * KiB);
  t.ok(state.waitingForClient, 'past the memory buffers, the response waits for the client');
  t.ok(state.credit < 256 * KiB, 'and the runner is held back');
});

t.test('a temporary file that cannot be made: every byte still arrives, once, in order', async (t) => {
  const { client, body, state, produce, expected } = setup(t, { tempDir: '/nonexistent/tsgi' });
  produce(100 * KiB);
  await sleep(40);
  for (let i = 0; i < 40; i++) {
    if (state.credit >= 32 * KiB) produce(32 * KiB);
    client.read(48 * KiB);
    await sleep(5);
  }
  body.end();
  await readToEnd(client);
  t.match(state.failures[0], /ENOENT/, 'the failure was reported');
  t.ok(client.ended && client.bytes.equals(expected()), `${client.bytes.length} bytes, as sent`);
});
