// BufferedBody on its own: memory, then an unlinked file, and the order of the bytes held
// whatever the timing of 'end' (Node may end a paused request while its last chunk is still
// being written to the file).
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { BufferedBody } from '../../proxy/request-body.js';
import { until } from '../helpers/until.js';

const dir = mkdtempSync(join(tmpdir(), 'tsgi-body-test-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);
async function held(body: BufferedBody): Promise<Buffer> {
  const pieces: Uint8Array[] = [];
  for await (const piece of body.pieces()) pieces.push(piece);
  return Buffer.concat(pieces);
}
function request(): PassThrough & IncomingMessage {
  return new PassThrough() as unknown as PassThrough & IncomingMessage;
}

t.test('a small body stays in memory', async (t) => {
  const body = new BufferedBody({ memoryBytes: 1000, tempDir: dir, maxBytes: 0 });
  const req = request();
  const collected = body.collect(req, () => undefined);
  req.end(Buffer.concat([bytes(300, 1), bytes(300, 2)]));
  t.same(await collected, { kind: 'complete' });
  t.notOk(body.onDisk);
  t.same(await held(body), Buffer.concat([bytes(300, 1), bytes(300, 2)]));
  await body.close();
});

t.test('past the memory, an unlinked file; every byte in order', async (t) => {
  const body = new BufferedBody({ memoryBytes: 1000, tempDir: dir, maxBytes: 0 });
  const req = request();
  const collected = body.collect(req, () => undefined);
  const all = [bytes(600, 1), bytes(600, 2), bytes(5000, 3), bytes(7, 4)];
  for (const chunk of all) req.write(chunk);
  req.end();
  t.same(await collected, { kind: 'complete' });
  t.ok(body.onDisk);
  t.same(readdirSync(dir), [], 'nothing in the directory');
  t.same(await held(body), Buffer.concat(all));
  t.same(await held(body), Buffer.concat(all), 'and again, for a retry');
  await body.close();
});

t.test("'end' while the last chunk is being written: complete only once it is in", async (t) => {
  const body = new BufferedBody({ memoryBytes: 100, tempDir: dir, maxBytes: 0 });
  const req = request();
  const collected = body.collect(req, () => undefined);
  req.write(bytes(5000, 5)); // spills: the request is paused until the write is done
  req.emit('end'); // as Node may emit it for a paused request whose body is all parsed
  t.same(await collected, { kind: 'complete' });
  t.equal((await held(body)).length, 5000);
  await body.close();
});

t.test('an unusable directory: what was read is kept, in order, and the rest streams', async (t) => {
  const body = new BufferedBody({ memoryBytes: 100, tempDir: join(dir, 'missing'), maxBytes: 0 });
  const req = request();
  const collected = body.collect(req, () => undefined);
  req.write(bytes(60, 1));
  req.write(bytes(500, 2));
  const outcome = await collected;
  t.match(outcome, { kind: 'streaming', reason: /ENOENT/ });
  t.ok(body.streaming);
  t.same(await held(body), Buffer.concat([bytes(60, 1), bytes(500, 2)]));
  await body.close();
});

t.test('over the limit: too-large at once', async (t) => {
  const body = new BufferedBody({ memoryBytes: 100, tempDir: dir, maxBytes: 1000 });
  const req = request();
  const collected = body.collect(req, () => undefined);
  req.write(bytes(600, 1));
  req.write(bytes(600, 2));
  t.same(await collected, { kind: 'too-large' });
  await body.close();
});

/** Descriptors of this process open on a file in `dir` (temporary bodies are unlinked, so only these show them). */
function openInDir(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(join('/proc/self/fd', fd)).startsWith(dir);
    } catch {
      return false;
    }
  }).length;
}

t.test('a body closed while its file is being created leaves no descriptor behind', async (t) => {
  const body = new BufferedBody({ memoryBytes: 10, tempDir: dir, maxBytes: 0 });
  const req = request();
  void body.collect(req, () => undefined);
  req.write(bytes(100, 1)); // past the memory: the file is being created
  await new Promise((resolve) => setImmediate(resolve));
  await body.close();
  // The close is the thread pool's: waited for by the clock, not a count of turns, so a busy
  // machine makes this slower, not wrong.
  await until('the temporary file to close', () => openInDir() === 0, 10_000).catch(() => undefined);
  t.equal(openInDir(), 0);
});
