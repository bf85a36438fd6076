// End to end: a Hono app (test/fixtures/hono-app.js) hosted by a real tsgi-runner behind a
// real tsgi-proxy, driven over HTTP — what a Hono user gets without writing any adapter code.
import { join } from 'node:path';
import t from 'tap';
import { fetchBuffer, hashBody, pattern, patternHash, send } from '../helpers/http.js';
import { FIXTURES, pace, peakRss, startProxy, startRunner, tempDir, until } from '../helpers/processes.js';

const MiB = 1024 * 1024;
const dir = tempDir(t);
const socket = join(dir, 'hono.sock');
const runner = await startRunner(t, { app: join(FIXTURES, 'hono-app.js'), socket });
const proxy = await startProxy(
  t,
  dir,
  `
upstream hono { server unix:${socket}; }
server {
    listen 127.0.0.1:0;
    client_max_body_size 300m;
    location / { tsgi_pass hono; }
    location /mounted/ { tsgi_pass hono; tsgi_script_name /mounted; }
}
`,
);

// The worker process that hosts the app, whose memory the streaming tests bound.
const workerPid = Number((await fetchBuffer(`${proxy.url}/pid`)).body.toString());
const json = (body: Buffer) => JSON.parse(body.toString()) as Record<string, unknown>;

t.test('the runner detected a fetch-style app', async (t) => {
  const loaded = await runner.proc.waitForLog((l) => l.msg === 'app loaded');
  t.equal(loaded.contract, 'fetch');
});

t.test('routing with params and a query', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/users/42?tab=posts`);
  t.equal(reply.status, 200);
  t.match(reply.headers['content-type'], /^application\/json/);
  t.same(json(reply.body), { id: '42', tab: 'posts' });
  const utf8 = await fetchBuffer(`${proxy.url}/users/caf%C3%A9%20%E6%97%A5`);
  t.same(json(utf8.body), { id: 'café 日', tab: null }, 'a percent-encoded UTF-8 param arrives decoded once');
});

t.test('JSON in, JSON out, with a status', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/json`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ items: [1, 2, 3], name: 'ünï' }) });
  t.equal(reply.status, 201);
  t.same(json(reply.body), { received: { items: [1, 2, 3], name: 'ünï' }, total: 6 });
});

t.test('forms: urlencoded and multipart with a file', async (t) => {
  const urlencoded = await fetchBuffer(`${proxy.url}/form`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'a=1&b=two+words' });
  t.same(json(urlencoded.body), { a: '1', b: 'two words' });

  const file = Buffer.from(Array.from(pattern(300_000)).reduce((all, b) => Buffer.concat([all, b]), Buffer.alloc(0)));
  const form = new FormData();
  form.append('title', 'report');
  form.append('upload', new Blob([file], { type: 'application/octet-stream' }), 'data.bin');
  const encoded = new Response(form);
  const multipart = await fetchBuffer(`${proxy.url}/form`, {
    method: 'POST',
    headers: { 'Content-Type': encoded.headers.get('content-type')! },
    body: Buffer.from(await encoded.arrayBuffer()),
  });
  t.equal(multipart.status, 200);
  t.same(json(multipart.body), { title: 'report', upload: { file: 'data.bin', type: 'application/octet-stream', size: 300_000, sha256: patternHash(300_000) } });
});

t.test('cookies: two Set-Cookie headers out, a Cookie header in', async (t) => {
  const set = await fetchBuffer(`${proxy.url}/cookies/set`);
  t.same(set.headers['set-cookie'], ['session=abc123; Path=/; HttpOnly', 'theme=dark; Max-Age=3600; Path=/']);
  const read = await fetchBuffer(`${proxy.url}/cookies/read`, { headers: { Cookie: 'session=abc123; theme=dark' } });
  t.same(json(read.body), { session: 'abc123', theme: 'dark' });
});

t.test('a redirect', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/old`);
  t.equal(reply.status, 301);
  t.equal(reply.headers.location, '/users/1');
});

t.test("the app's notFound and onError handlers answer", async (t) => {
  const missing = await fetchBuffer(`${proxy.url}/nowhere`);
  t.equal(missing.status, 404);
  t.same(json(missing.body), { error: 'not found', path: '/nowhere' });
  const boom = await fetchBuffer(`${proxy.url}/boom`);
  t.equal(boom.status, 500);
  t.same(json(boom.body), { error: 'boom in a route' });
});

t.test('the URL the app sees, and the environ as c.env', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/whoami`, { headers: { Host: 'app.example:8080' } });
  t.match(json(reply.body), { url: 'http://app.example:8080/whoami', path: '/whoami', script: '', pathInfo: '/whoami', reqId: /^[0-9a-f]{32}$/ });
});

t.test('mounted under a prefix: Hono sees the whole path, SCRIPT_NAME says where the mount is', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/mounted/where`);
  t.equal(reply.status, 200);
  t.same(json(reply.body), { path: '/mounted/where', url: `${proxy.url}/mounted/where`, script: '/mounted', pathInfo: '/where' });
});

t.test('a streamed response arrives as it is produced', async (t) => {
  const res = await send(`${proxy.url}/ticker/complete?n=5`);
  t.equal(res.statusCode, 200);
  t.equal(res.headers['transfer-encoding'], 'chunked');
  const arrivals: number[] = [];
  let text = '';
  for await (const chunk of res) {
    arrivals.push(Date.now());
    text += (chunk as Buffer).toString();
  }
  t.equal(text, 'tick 0\ntick 1\ntick 2\ntick 3\ntick 4\n');
  t.ok(arrivals.length >= 2, `the ticks came in ${arrivals.length} pieces, not at once`);
});

t.test('a client that leaves mid-stream: the stream sees the abort', async (t) => {
  const before = await fetchBuffer(`${proxy.url}/ticker/left/aborted`);
  t.same(json(before.body), { aborted: false });
  const res = await send(`${proxy.url}/ticker/left`);
  await new Promise((resolve) => res.once('data', resolve));
  res.destroy();
  const aborted = async () => json((await fetchBuffer(`${proxy.url}/ticker/left/aborted`)).body).aborted === true;
  await until("Hono's onAbort to run", aborted);
  t.ok(await aborted(), "Hono's onAbort ran in the runner");
});

t.test('a 256 MiB streamed download to a client that stalls keeps memory flat', async (t) => {
  const bytes = 256 * MiB;
  const res = await send(`${proxy.url}/download?bytes=${bytes}`);
  t.equal(res.statusCode, 200);
  const { sha256, bytes: received } = await hashBody(res, { stallMs: 1000 });
  t.equal(received, bytes);
  t.equal(sha256, patternHash(bytes));
  t.ok(peakRss(workerPid) < 200 * MiB, `worker peak RSS ${Math.round(peakRss(workerPid) / MiB)} MiB`);
});

t.test('a 64 MiB upload hashed as it streams, read late', async (t) => {
  const bytes = 64 * MiB;
  const reply = await fetchBuffer(`${proxy.url}/upload-hash?stall=1000`, {
    method: 'POST',
    body: pattern(bytes) as unknown as AsyncIterable<Uint8Array>,
    headers: { 'Content-Length': bytes },
  });
  t.equal(reply.status, 200);
  t.same(json(reply.body), { bytes, sha256: patternHash(bytes) });
  t.ok(peakRss(workerPid) < 200 * MiB, `worker peak RSS ${Math.round(peakRss(workerPid) / MiB)} MiB`);
});

t.test('a chunked upload (no Content-Length) reaches the handler whole', async (t) => {
  async function* parts() {
    for (const part of pattern(1 * MiB)) {
      yield part;
      await pace(1); // a client that sends its body in pieces
    }
  }
  const reply = await fetchBuffer(`${proxy.url}/upload-hash`, { method: 'PUT', body: parts(), headers: { 'Transfer-Encoding': 'chunked' } });
  t.equal(reply.status, 404, 'PUT has no route: notFound');
  const post = await fetchBuffer(`${proxy.url}/upload-hash`, { method: 'POST', body: parts(), headers: { 'Transfer-Encoding': 'chunked' } });
  t.same(json(post.body), { bytes: 1 * MiB, sha256: patternHash(1 * MiB) });
});
