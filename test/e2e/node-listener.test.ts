// End to end: a node:http (req, res) listener (test/fixtures/node-listener.js) hosted with
// --contract node by a real tsgi-runner behind a real tsgi-proxy.
import { join } from 'node:path';
import t from 'tap';
import { fetchBuffer, hashBody, pattern, patternHash, send } from '../helpers/http.js';
import { FIXTURES, pace, peakRss, simpleConfig, startProxy, startRunner, tempDir, until } from '../helpers/processes.js';

const MiB = 1024 * 1024;
const dir = tempDir(t);
const socket = join(dir, 'node.sock');
const runner = await startRunner(t, { app: join(FIXTURES, 'node-listener.js'), socket, args: ['--contract', 'node'] });
const proxy = await startProxy(t, dir, simpleConfig(socket, { server: 'client_max_body_size 300m;' }));
const json = (body: Buffer) => JSON.parse(body.toString()) as Record<string, unknown>;
const whoami = json((await fetchBuffer(`${proxy.url}/whoami`)).body);
const workerPid = whoami.pid as number;

t.test('the listener was loaded as a node listener', async (t) => {
  const loaded = await runner.proc.waitForLog((l) => l.msg === 'app loaded');
  t.equal(loaded.contract, 'node');
});

t.test('a plain response, its Content-Length kept', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/hello`);
  t.equal(reply.status, 200);
  t.equal(reply.headers['content-length'], '12');
  t.equal(reply.body.toString(), 'Hello World!');
});

t.test('what the listener sees: url, headers, the client address', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/whoami?x=%C3%A9&y=1`, { headers: { 'X-Custom': 'yes', Cookie: 'a=1' } });
  const seen = json(reply.body);
  t.match(seen, { method: 'GET', url: '/whoami?x=%C3%A9&y=1', remoteAddress: '127.0.0.1', encrypted: false });
  t.match(seen.headers, { 'x-custom': 'yes', cookie: 'a=1', host: `127.0.0.1:${proxy.port}`, connection: 'close' });
});

t.test('an Express-style prototype swap works: req and res are the real classes', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/express-like`);
  t.equal(reply.status, 202);
  t.same(json(reply.body), { ip: '127.0.0.1', isIncoming: true, url: '/express-like' });
});

t.test('two Set-Cookie headers and a custom reason', async (t) => {
  const reply = await send(`${proxy.url}/cookies`);
  t.equal(reply.statusMessage, 'Cookies Baked');
  t.same(reply.headers['set-cookie'], ['a=1; Path=/', 'b=2; HttpOnly']);
  reply.resume();
});

t.test('req.pipe(res): fixed-length and chunked uploads', async (t) => {
  const body = Buffer.alloc(300_000, 'x');
  const fixed = await fetchBuffer(`${proxy.url}/echo`, { method: 'POST', body, headers: { 'Content-Type': 'text/plain' } });
  t.equal(fixed.status, 200);
  t.equal(fixed.headers['x-transfer-encoding'], 'none');
  t.ok(fixed.body.equals(body));
  async function* parts() {
    yield Buffer.from('one ');
    await pace(10); // the second piece in a later packet
    yield Buffer.from('two');
  }
  // Buffered (the default), a chunked body arrives whole, with its length, as nginx passes it on.
  const buffered = await fetchBuffer(`${proxy.url}/echo`, { method: 'POST', body: parts(), headers: { 'Transfer-Encoding': 'chunked' } });
  t.equal(buffered.headers['x-transfer-encoding'], 'none');
  t.equal(buffered.body.toString(), 'one two');
  // Streamed, the app sees it chunked.
  const streaming = await startProxy(t, dir, simpleConfig(socket, { server: 'tsgi_request_buffering off;' }));
  const chunked = await fetchBuffer(`${streaming.url}/echo`, { method: 'POST', body: parts(), headers: { 'Transfer-Encoding': 'chunked' } });
  t.equal(chunked.headers['x-transfer-encoding'], 'chunked');
  t.equal(chunked.body.toString(), 'one two');
  const none = await fetchBuffer(`${proxy.url}/echo`, { method: 'POST' });
  t.equal(none.headers['x-transfer-encoding'], 'none', 'no body: no made-up Transfer-Encoding');
  t.equal(none.body.length, 0);
});

t.test('a 256 MiB download to a client that stalls keeps the worker flat', async (t) => {
  const bytes = 256 * MiB;
  const res = await send(`${proxy.url}/download?bytes=${bytes}`);
  const { sha256, bytes: received } = await hashBody(res, { stallMs: 1000 });
  t.equal(received, bytes);
  t.equal(sha256, patternHash(bytes));
  t.ok(peakRss(workerPid) < 200 * MiB, `worker peak RSS ${Math.round(peakRss(workerPid) / MiB)} MiB`);
});

t.test('a 64 MiB upload read late keeps the worker flat', async (t) => {
  const bytes = 64 * MiB;
  const reply = await fetchBuffer(`${proxy.url}/upload-hash?stall=1000`, {
    method: 'POST',
    body: pattern(bytes) as unknown as AsyncIterable<Uint8Array>,
    headers: { 'Content-Length': bytes },
  });
  t.same(json(reply.body), { bytes, sha256: patternHash(bytes) });
  t.ok(peakRss(workerPid) < 200 * MiB, `worker peak RSS ${Math.round(peakRss(workerPid) / MiB)} MiB`);
});

t.test("a client that leaves mid-stream: the listener's res closes", async (t) => {
  const res = await send(`${proxy.url}/ticker?id=left`);
  await new Promise((resolve) => res.once('data', resolve));
  res.destroy();
  const closed = async () => json((await fetchBuffer(`${proxy.url}/ticker-closed?id=left`)).body).closed === true;
  await until("the listener's res to close", closed);
  t.ok(await closed(), "res emitted 'close' before finishing");
});

t.test('a throw or a rejection in the listener is a 500 and the worker lives on', async (t) => {
  for (const path of ['/throw', '/reject']) {
    const reply = await fetchBuffer(`${proxy.url}${path}`);
    t.equal(reply.status, 500, path);
  }
  await runner.proc.waitForLog((l) => l.msg === 'application error' && (l.err as { message?: string } | undefined)?.message === 'thrown in the listener');
  await runner.proc.waitForLog((l) => l.msg === 'application error' && (l.err as { message?: string } | undefined)?.message === 'rejected in the listener');
  const again = json((await fetchBuffer(`${proxy.url}/whoami`)).body);
  t.equal(again.pid, workerPid, 'same worker');
});
