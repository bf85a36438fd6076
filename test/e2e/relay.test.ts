// End to end: a real tsgi-runner and tsgi-proxy over a real Unix socket, driven over HTTP.
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { fetchBuffer, hashBody, pattern, patternHash, send } from '../helpers/http.js';
import { FIXTURES, pace, peakRss, simpleConfig, startProxy, startRunner, tempDir } from '../helpers/processes.js';

const dir = tempDir(t);
const socket = join(dir, 'app.sock');
const runner = await startRunner(t, { app: join(FIXTURES, 'app.js'), socket });
// Bodies stream here (the flow control both ways is what this file checks); buffered bodies
// are request-buffering.test.ts's.
const proxy = await startProxy(t, dir, simpleConfig(socket, { server: 'client_max_body_size 300m; tsgi_request_buffering off;', location: 'tsgi_read_timeout 2s;' }));
const MiB = 1024 * 1024;

t.test('hello', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/hello`);
  t.equal(reply.status, 200);
  t.equal(reply.headers['content-type'], 'text/plain');
  t.equal(reply.headers['content-length'], '12');
  t.equal(reply.body.toString(), 'Hello World!');
});

t.test('the environ reaches the app', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/environ?a=1&b=%20`, { headers: { 'X-Custom': 'yes', Cookie: 'a=1' } });
  const environ = JSON.parse(reply.body.toString());
  t.match(environ, {
    REQUEST_METHOD: 'GET',
    PATH_INFO: '/environ',
    QUERY_STRING: 'a=1&b=%20',
    SCRIPT_NAME: '',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REMOTE_ADDR: '127.0.0.1',
    HTTP_X_CUSTOM: 'yes',
    HTTP_COOKIE: 'a=1',
    'wsgi.url_scheme': 'http',
  });
  t.match(environ['tsgi.request_id'], /^[0-9a-f]{32}$/);
  const access = await proxy.proc.waitForLog((l) => l.msg === 'access' && l.reqId === environ['tsgi.request_id']);
  t.match(access, { method: 'GET', status: 200, upstream: `unix:${socket}` });
});

t.test('body echo, fixed length', async (t) => {
  const body = Buffer.from('x'.repeat(100_000));
  const reply = await fetchBuffer(`${proxy.url}/echo`, { method: 'POST', body, headers: { 'Content-Type': 'text/plain' } });
  t.equal(reply.status, 200);
  t.equal(reply.headers['x-had-content-length'], 'yes');
  t.ok(reply.body.equals(body), 'same bytes back');
});

t.test('body echo, chunked upload', async (t) => {
  const parts = [Buffer.from('first '), Buffer.from('second '), Buffer.alloc(70_000, 'z'), Buffer.from(' last')];
  async function* chunks() {
    for (const part of parts) {
      yield part;
      await pace(5); // each piece in its own packet
    }
  }
  const reply = await fetchBuffer(`${proxy.url}/echo`, { method: 'PUT', body: chunks(), headers: { 'Transfer-Encoding': 'chunked' } });
  t.equal(reply.status, 200);
  t.equal(reply.headers['x-had-content-length'], 'no', 'no CONTENT_LENGTH for a chunked upload');
  t.equal(reply.headers['transfer-encoding'], 'chunked', 'chunked back when the app gives no length');
  t.ok(reply.body.equals(Buffer.concat(parts)));
});

t.test('a 256 MiB response to a client that stalls keeps memory flat', async (t) => {
  const bytes = 256 * MiB;
  const res = await send(`${proxy.url}/big?bytes=${bytes}`);
  t.equal(res.statusCode, 200);
  // One second without reading: without backpressure the runner would push it all into the proxy.
  const { sha256, bytes: received } = await hashBody(res, { stallMs: 1000 });
  t.equal(received, bytes);
  t.equal(sha256, patternHash(bytes), 'sha256 of the body matches the pattern');
  t.ok(peakRss(proxy.proc.pid) < 200 * MiB, `proxy peak RSS ${Math.round(peakRss(proxy.proc.pid) / MiB)} MiB`);
  t.ok(peakRss(runner.proc.pid) < 200 * MiB, `runner peak RSS ${Math.round(peakRss(runner.proc.pid) / MiB)} MiB`);
});

t.test('slow and fast downloads on one runner connection: every byte of each right', async (t) => {
  // Response bytes go to clients as views of the proxy's one read buffer; a slow client's
  // queued writes must never see it overwritten by the next read.
  const slow = 8 * MiB;
  const fast = 32 * MiB;
  const get = async (bytes: number, pause?: { everyBytes: number; ms: number }) => hashBody(await send(`${proxy.url}/big?bytes=${bytes}`), { pause });
  const results = await Promise.all([
    ...[0, 1, 2].map(() => get(slow, { everyBytes: 256 * 1024, ms: 20 })),
    ...[0, 1, 2].map(() => get(fast)),
  ]);
  const want = (bytes: number) => ({ bytes, sha256: patternHash(bytes) });
  t.same(results, [want(slow), want(slow), want(slow), want(fast), want(fast), want(fast)]);
});

t.test('a download to a client that keeps falling behind: every byte right', async (t) => {
  // Alone on the runner connection, the response is read 1 MiB at a time into a bulk buffer;
  // each time the client is behind, that buffer stays with its queued writes and comes back for
  // later reads once they are written (upstream/connection.ts): a buffer read into too early
  // would show here as wrong bytes.
  // Stalls long enough for the client's socket to fill while the runner still has credit, so
  // reads keep coming while the buffer's views wait.
  const bytes = 64 * MiB;
  const result = await hashBody(await send(`${proxy.url}/big?bytes=${bytes}`), { pause: { everyBytes: 8 * MiB, ms: 100 } });
  t.same(result, { bytes, sha256: patternHash(bytes) });
});

t.test('a 256 MiB upload to an app that reads late keeps memory flat', async (t) => {
  const bytes = 256 * MiB;
  const reply = await fetchBuffer(`${proxy.url}/upload-hash?stall=1000`, {
    method: 'POST',
    body: pattern(bytes) as unknown as AsyncIterable<Uint8Array>,
    headers: { 'Content-Length': bytes },
  });
  t.equal(reply.status, 200);
  t.same(JSON.parse(reply.body.toString()), { bytes, sha256: patternHash(bytes) });
  t.ok(peakRss(proxy.proc.pid) < 200 * MiB, `proxy peak RSS ${Math.round(peakRss(proxy.proc.pid) / MiB)} MiB`);
  t.ok(peakRss(runner.proc.pid) < 200 * MiB, `runner peak RSS ${Math.round(peakRss(runner.proc.pid) / MiB)} MiB`);
});

t.test('an app that answers without reading a large body', async (t) => {
  // The runner tells the proxy to stop sending; the proxy discards the rest, so the client gets
  // the answer instead of a reset, and the connection stays usable.
  const reply = await fetchBuffer(`${proxy.url}/hello`, { method: 'POST', body: Buffer.alloc(8 * MiB, 'x') });
  t.equal(reply.status, 200);
  t.equal(reply.body.toString(), 'Hello World!');
  t.equal((await fetchBuffer(`${proxy.url}/hello`)).status, 200);
});

t.test('one chunk far larger than the window goes out whole', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/one-big-chunk?bytes=${5 * MiB}`);
  t.equal(reply.status, 200);
  t.equal(reply.body.length, 5 * MiB);
  t.ok(reply.body.every((b) => b === 0x61));
});

t.test('a client that stops reading for longer than tsgi_read_timeout still gets everything', async (t) => {
  // The runner is held back by flow control meanwhile; that silence is not its fault.
  const bytes = 32 * MiB;
  const res = await send(`${proxy.url}/big?bytes=${bytes}`);
  const { sha256, bytes: received } = await hashBody(res, { stallMs: 3000 });
  t.equal(received, bytes);
  t.equal(sha256, patternHash(bytes));
});

t.test('a client leaving an app that waits between chunks: close() runs at once', async (t) => {
  const res = await send(`${proxy.url}/silent`);
  await new Promise((resolve) => res.once('data', resolve));
  const left = Date.now();
  res.destroy();
  await runner.proc.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('app close()') && (l.time as number) >= left);
  // The app would wait for good: seconds on a busy machine still mean "at once".
  t.ok(Date.now() - left < 10_000, `close() within ${Date.now() - left} ms`);
});

t.test('an odd thrown value after the head aborts the response and the runner lives on', async (t) => {
  // Cut before or after the head reached the client, depending on timing; never complete.
  const res = await send(`${proxy.url}/throw-odd`).catch(() => null);
  const outcome = !res ? 'aborted' : await new Promise<string>((resolve) => {
    res.on('data', () => undefined);
    res.on('end', () => resolve('complete'));
    res.on('error', () => resolve('aborted'));
    res.on('aborted', () => resolve('aborted'));
  });
  t.equal(outcome, 'aborted');
  t.ok(runner.proc.running, 'runner still running');
  t.equal((await fetchBuffer(`${proxy.url}/hello`)).status, 200);
});

t.test('methods a web framework would not know and paths its router would refuse still go through our rules', async (t) => {
  const propfind = await fetchBuffer(`${proxy.url}/environ`, { method: 'PROPFIND' });
  t.equal(propfind.status, 200);
  t.equal(JSON.parse(propfind.body.toString()).REQUEST_METHOD, 'PROPFIND');
  const bad = await fetchBuffer(`${proxy.url}/%zz`);
  t.equal(bad.status, 400);
  t.equal(bad.body.toString(), '400 Bad Request\n');
  await proxy.proc.waitForLog((l) => l.msg === 'access' && l.uri === '/%zz' && l.status === 400);
});

t.test('more headers than the environ may carry: 431', async (t) => {
  const headers: Record<string, string> = {};
  for (let i = 0; i < 600; i++) headers[`X-H${i}`] = '1';
  const reply = await fetchBuffer(`${proxy.url}/hello`, { headers });
  t.equal(reply.status, 431);
});

t.test('200 concurrent requests', async (t) => {
  const replies = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      fetchBuffer(`${proxy.url}/echo`, { method: 'POST', body: `request ${i}`, agent: false }),
    ),
  );
  t.same(
    replies.map((r) => [r.status, r.body.toString()]),
    Array.from({ length: 200 }, (_, i) => [200, `request ${i}`]),
  );
});

t.test('a client that disconnects mid-response: the app is closed', async (t) => {
  const res = await send(`${proxy.url}/drip?ms=10`);
  const reqId = await new Promise<string>((resolve) => {
    res.once('data', () => resolve(''));
  });
  void reqId;
  res.destroy();
  const closed = await runner.proc.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('app close()'));
  const finallyRan = await runner.proc.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('generator finally'));
  t.ok(closed && finallyRan, 'close() and the generator finally ran');
  const access = await proxy.proc.waitForLog((l) => l.msg === 'access' && l.uri === '/drip?ms=10');
  t.match(access, { aborted: true, code: 'TSGI_CLIENT_CLOSED' });
});

t.test('an app that throws before the head: 500', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/throw-before`);
  t.equal(reply.status, 500);
  t.equal(reply.body.toString(), 'Internal Server Error\n');
  const logged = await runner.proc.waitForLog((l) => l.msg === 'application error' && l.path === '/throw-before');
  t.match(logged, { method: 'GET', headSent: false, err: { message: 'boom before the head' } });
  t.match(logged.reqId, /^[0-9a-f]{32}$/);
});

t.test('an app that throws after the head: the response is aborted, not passed off as complete', async (t) => {
  const res = await send(`${proxy.url}/throw-after`);
  t.equal(res.statusCode, 200);
  const outcome = await new Promise<string>((resolve) => {
    res.on('data', () => undefined);
    res.on('end', () => resolve('complete'));
    res.on('error', () => resolve('aborted'));
    res.on('aborted', () => resolve('aborted'));
  });
  t.equal(outcome, 'aborted');
  await runner.proc.waitForLog((l) => l.msg === 'application error' && l.path === '/throw-after' && l.headSent === true);
});

t.test('an invalid header from the app never reaches the client', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/bad-header`);
  t.equal(reply.status, 500);
  t.notOk(reply.headers['injected']);
  t.notOk(reply.headers['x-evil']);
});

t.test('read timeout: 504 and the request is cancelled in the runner', async (t) => {
  const started = Date.now();
  const reply = await fetchBuffer(`${proxy.url}/slow?ms=60000`);
  t.equal(reply.status, 504);
  const elapsed = Date.now() - started;
  t.ok(elapsed >= 1900 && elapsed < 20_000, `answered after ${elapsed} ms (tsgi_read_timeout 2s, the app 60 s)`);
  const logged = await proxy.proc.waitForLog((l) => l.msg === 'request failed' && l.code === 'TSGI_UPSTREAM_TIMEOUT');
  t.equal(logged.status, 504);
  await runner.proc.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('app close()'));
});

t.test('a streamed response keeps the read timeout alive between chunks', async (t) => {
  const res = await send(`${proxy.url}/drip?ms=500`);
  let chunks = 0;
  await new Promise<void>((resolve) => {
    res.on('data', () => {
      if (++chunks === 6) resolve();
    });
  });
  res.destroy();
  t.equal(chunks, 6, 'six chunks 500 ms apart (3 s) under a 2 s read timeout');
});

t.test('oversized bodies: 413', async (t) => {
  const small = await startProxy(t, dir, simpleConfig(socket, { server: 'client_max_body_size 1k;' }));
  const declared = await fetchBuffer(`${small.url}/echo`, { method: 'POST', body: Buffer.alloc(2000) });
  t.equal(declared.status, 413, 'declared Content-Length over the limit');
  async function* growing() {
    for (let i = 0; i < 10; i++) {
      yield Buffer.alloc(500, 'a');
      await pace(5); // each piece in its own packet
    }
  }
  // /upload-hash reads the whole body before answering (as an app that parses a form would), so
  // no head has gone out when the limit is crossed. (An app that streams its answer while the
  // body arrives has sent 200 by then; that response is aborted instead.)
  const chunked = await fetchBuffer(`${small.url}/upload-hash`, { method: 'POST', body: growing(), headers: { 'Transfer-Encoding': 'chunked' } }).catch(
    (err: Error) => ({ status: -1, error: err.message }),
  );
  t.equal(chunked.status, 413, 'chunked body growing past the limit');
  const fits = await fetchBuffer(`${small.url}/echo`, { method: 'POST', body: Buffer.alloc(1000, 'b') });
  t.equal(fits.status, 200);
  t.equal(fits.body.length, 1000);
});

t.test('no matching location: 404', async (t) => {
  const narrow = await startProxy(
    t,
    dir,
    `upstream app { server unix:${socket}; }
     server { listen 127.0.0.1:0; location /only/ { tsgi_pass app; } }`,
  );
  const reply = await fetchBuffer(`${narrow.url}/elsewhere`);
  t.equal(reply.status, 404);
  const ok = await fetchBuffer(`${narrow.url}/only/x`);
  t.equal(ok.status, 404, 'the app itself answers 404 for its unknown route');
  t.equal(ok.body.toString(), 'no route /only/x');
});

t.test('HEAD and 204 carry no body', async (t) => {
  const head = await fetchBuffer(`${proxy.url}/hello`, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.body.length, 0);
  const empty = await fetchBuffer(`${proxy.url}/empty`);
  t.equal(empty.status, 204);
  t.equal(empty.body.length, 0);
});

t.test('custom status and reason pass through', async (t) => {
  const res = await send(`${proxy.url}/status?code=418`);
  t.equal(res.statusCode, 418);
  t.equal(res.statusMessage, 'Custom Reason');
  res.resume();
});

t.test('malformed HTTP gets 400 from the proxy', async (t) => {
  const answer = await new Promise<string>((resolve) => {
    const sock = connect(proxy.port, '127.0.0.1');
    let text = '';
    sock.on('data', (d) => (text += d.toString('latin1')));
    sock.on('close', () => resolve(text));
    sock.on('error', () => resolve(text));
    sock.write('GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab');
  });
  t.match(answer, /^HTTP\/1\.1 400 /);
});
