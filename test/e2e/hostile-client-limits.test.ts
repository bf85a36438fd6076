// Issue #6: the limits a client meets, each with its status, over raw sockets against a real
// proxy and runner: head sizes (414/431), header count, body size mid-stream (413, the
// runner's stream cancelled), slow heads and bodies (408), idle and worn-out keep-alive
// connections (closed).
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { exchangeRaw, openRaw } from '../helpers/raw.js';
import { FIXTURES, pace, simpleConfig, startProxy, startRunner, tempDir, until, type LogLine } from '../helpers/processes.js';

const dir = tempDir(t);
const socket = join(dir, 'app.sock');
const runner = await startRunner(t, { app: join(FIXTURES, 'recording-app.js'), socket });
const proxy = await startProxy(
  t,
  dir,
  simpleConfig(socket, {
    server: `client_header_timeout 1s; keepalive_timeout 1s; keepalive_requests 3;
             large_client_header_buffers 2 2k; client_max_headers 10;
             client_body_timeout 1s; client_max_body_size 10k;
             lingering_timeout 1s; lingering_time 3s;
             # The limits as they apply to a body streamed to the app (request-buffering.test.ts
             # checks them on a buffered one).
             tsgi_request_buffering off;`,
  }),
);
const HOST = 'Host: tsgi.test\r\n';

const logged = (code: string, after: number) => (l: LogLine) => l.code === code && (l.msg === 'client error' || l.msg === 'request failed') && proxy.proc.logs.indexOf(l) >= after;
const appSaw = (what: 'saw' | 'complete' | 'cut', uri: string) => runner.proc.logs.some((l) => l.msg === `${what} POST ${uri}`);

async function refused(t: Test, request: string, status: number, code: string): Promise<void> {
  const before = proxy.proc.logs.length;
  const reply = await exchangeRaw(proxy.port, Buffer.from(request, 'latin1'));
  t.match(reply.text, new RegExp(`^HTTP/1\\.1 ${status} `), `${status}`);
  t.ok(reply.closed, 'connection closed');
  await proxy.proc.waitForLog(logged(code, before));
}

t.test('large_client_header_buffers 2 2k: request line 414, header line 431, head 431', async (t) => {
  await refused(t, `GET /${'a'.repeat(2100)} HTTP/1.1\r\n${HOST}\r\n`, 414, 'TSGI_URI_TOO_LONG');
  await refused(t, `GET /${'a'.repeat(5000)} HTTP/1.1\r\n${HOST}\r\n`, 414, 'TSGI_URI_TOO_LONG');
  await refused(t, `GET / HTTP/1.1\r\n${HOST}X-Big: ${'b'.repeat(2100)}\r\n\r\n`, 431, 'TSGI_HEADERS_TOO_LARGE');
  await refused(t, `GET / HTTP/1.1\r\n${HOST}X-1: ${'c'.repeat(1900)}\r\nX-2: ${'c'.repeat(1900)}\r\nX-3: ${'c'.repeat(1900)}\r\n\r\n`, 431, 'TSGI_HEADERS_TOO_LARGE');
  const fits = await exchangeRaw(proxy.port, Buffer.from(`GET /${'a'.repeat(1900)} HTTP/1.1\r\n${HOST}X-Ok: ${'d'.repeat(1900)}\r\nConnection: close\r\n\r\n`));
  t.match(fits.text, /^HTTP\/1\.1 200 /, 'a head within the bounds passes');
});

t.test('client_max_headers 10', async (t) => {
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `X-N${i}: ${i}\r\n`).join('');
  await refused(t, `GET / HTTP/1.1\r\n${HOST}${lines(10)}\r\n`, 431, 'TSGI_HEADERS_TOO_LARGE');
  const fits = await exchangeRaw(proxy.port, Buffer.from(`GET / HTTP/1.1\r\n${HOST}${lines(8)}Connection: close\r\n\r\n`));
  t.match(fits.text, /^HTTP\/1\.1 200 /, '10 lines (Host and Connection included) pass');
});

t.test('a chunked body growing past client_max_body_size: 413, the runner stream cancelled', async (t) => {
  const before = proxy.proc.logs.length;
  const client = await openRaw(proxy.port);
  t.teardown(() => client.destroy());
  let text = '';
  client.setEncoding('latin1').on('data', (d: string) => (text += d));
  client.write(`POST /grows HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n`);
  const chunk = `2000\r\n${'x'.repeat(0x2000)}\r\n`; // 8 KiB
  client.write(chunk);
  await runner.proc.waitForLog((l) => l.msg === 'saw POST /grows');
  client.write(chunk); // 16 KiB > 10k
  const line = await proxy.proc.waitForLog(logged('TSGI_BODY_TOO_LARGE', before));
  t.match(line.reason, /client_max_body_size/);
  await until('the head of the answer', () => text.includes('\r\n\r\n'));
  t.match(text, /^HTTP\/1\.1 413 [^]*\r\nConnection: close\r\n/i);
  await until('the app to see its body cut', () => appSaw('cut', '/grows'));
  t.notOk(appSaw('complete', '/grows'), 'the app never saw the end of the body');
});

/** A client that goes on sending after the proxy's FIN: what it read, and when. */
async function uploader(t: Test) {
  const client = await openRaw(proxy.port, true);
  t.teardown(() => client.destroy());
  const seen = { text: '', answeredAt: 0, endedAt: 0, closedAt: 0 };
  client.setEncoding('latin1').on('data', (d: string) => ((seen.text += d), (seen.answeredAt ||= performance.now())));
  client.on('end', () => (seen.endedAt = performance.now()));
  client.on('close', () => (seen.closedAt = performance.now()));
  client.on('error', () => undefined); // a write after the close: the close is what is checked
  return { client, seen };
}

const ANSWER_413 = /^HTTP\/1\.1 413 [^]*\r\nConnection: close\r\n[^]*\r\n413 Content Too Large\n$/i;

t.test('a body over client_max_body_size sent slowly: the whole 413, the connection closed once the body ended', async (t) => {
  const { client, seen } = await uploader(t);
  client.write(`POST /slow-413 HTTP/1.1\r\n${HOST}Content-Length: 30000\r\n\r\n`);
  for (let i = 0; i < 9; i++) {
    client.write('x'.repeat(3000));
    await pace(30); // a slow uploader
  }
  await until('the whole answer', () => ANSWER_413.test(seen.text));
  t.equal(seen.endedAt, 0, 'the connection stays open for the rest of the body');
  client.write('x'.repeat(3000) + `GET /after-413 HTTP/1.1\r\n${HOST}\r\n`);
  await until('the FIN once the body has ended', () => seen.endedAt > 0);
  t.match(seen.text, ANSWER_413, 'nothing after the 413: the GET pipelined after the body is not answered');
  client.end();
  await until('the connection to close', () => seen.closedAt > 0);
  // One runner connection, streams in order: once the app logged a later request, it would
  // have logged the GET before it.
  const sync = await exchangeRaw(proxy.port, Buffer.from(`POST /sync-413 HTTP/1.1\r\n${HOST}Content-Length: 0\r\nConnection: close\r\n\r\n`));
  t.match(sync.text, /^HTTP\/1\.1 200 /);
  await until('the app to see the next request', () => appSaw('complete', '/sync-413'));
  t.notOk(runner.proc.logs.some((l) => String(l.msg).includes('/after-413')), 'the app never saw the pipelined GET');
});

t.test('lingering_timeout 1s: a body that stops after the 413 is cut 1 s later', async (t) => {
  const { client, seen } = await uploader(t);
  client.write(`POST /stops-413 HTTP/1.1\r\n${HOST}Content-Length: 30000\r\n\r\n${'x'.repeat(1000)}`);
  await until('the connection to be cut', () => seen.endedAt > 0, 10_000);
  t.match(seen.text, ANSWER_413);
  const ms = seen.endedAt - seen.answeredAt;
  // Measured from when the test read the 413, which trails the proxy's timer: a loose lower
  // bound (cut at once would be the failure), and an upper one well clear of the 3 s
  // lingering_time the next test checks.
  t.ok(ms >= 500 && ms < 2500, `cut ${Math.round(ms)} ms after the answer`);
});

t.test('lingering_time 3s: a body that trickles on is cut 3 s after the 413', async (t) => {
  const { client, seen } = await uploader(t);
  client.write(`POST /trickles-413 HTTP/1.1\r\n${HOST}Content-Length: 30000\r\n\r\n`);
  while (seen.endedAt === 0 && seen.closedAt === 0) {
    client.write('x'.repeat(50)); // more often than lingering_timeout, far too slowly to end
    await pace(200);
  }
  t.match(seen.text, ANSWER_413);
  const ms = (seen.endedAt || seen.closedAt) - seen.answeredAt;
  // Not at the 1 s lingering_timeout (the trickle keeps resetting it), and cut at all.
  t.ok(ms >= 2000 && ms < 30_000, `cut ${Math.round(ms)} ms after the answer`);
});

t.test('client_header_timeout 1s: a head that never ends gets 408 and the connection closes', async (t) => {
  const before = proxy.proc.logs.length;
  const reply = await exchangeRaw(proxy.port, Buffer.from(`GET /slow-head HTTP/1.1\r\n${HOST}X-Partial: `));
  t.match(reply.text, /^HTTP\/1\.1 408 /);
  t.ok(reply.closed);
  t.ok(reply.ms >= 900 && reply.ms < 10_000, `closed after ${Math.round(reply.ms)} ms`);
  const line = await proxy.proc.waitForLog(logged('TSGI_CLIENT_TIMEOUT', before));
  t.equal(line.parser, 'ERR_HTTP_REQUEST_TIMEOUT');
  const silent = await exchangeRaw(proxy.port, Buffer.alloc(0));
  t.ok(silent.closed && silent.ms < 10_000, 'a connection that sends nothing is closed too');
});

t.test('client_body_timeout 1s: a body that stalls gets 408, the app never sees its end', async (t) => {
  const before = proxy.proc.logs.length;
  const reply = await exchangeRaw(proxy.port, Buffer.from(`POST /stalls HTTP/1.1\r\n${HOST}Content-Length: 100\r\n\r\nonly this`));
  t.match(reply.text, /^HTTP\/1\.1 408 /);
  t.ok(reply.ms >= 900 && reply.ms < 10_000, `after ${Math.round(reply.ms)} ms`);
  await proxy.proc.waitForLog(logged('TSGI_CLIENT_TIMEOUT', before));
  // The runner's log is another process's stream: waited for, not read at once.
  await until('the app to log the request', () => appSaw('saw', '/stalls'), 10_000).catch(() => undefined);
  t.ok(appSaw('saw', '/stalls'));
  t.notOk(appSaw('complete', '/stalls'));
});

t.test('keepalive_timeout 1s closes an idle connection; keepalive_requests 3 ends one after 3', async (t) => {
  const idle = await exchangeRaw(proxy.port, Buffer.from(`GET /idle HTTP/1.1\r\n${HOST}\r\n`));
  t.match(idle.text, /^HTTP\/1\.1 200 [^]*Keep-Alive: timeout=1/);
  t.ok(idle.closed && idle.ms >= 900 && idle.ms < 10_000, `idle connection closed after ${Math.round(idle.ms)} ms`);
  // On a proxy whose idle timeout is long, so a close at once cannot be the timeout's.
  const worn = await startProxy(t, dir, simpleConfig(socket, { server: 'keepalive_timeout 120s; keepalive_requests 3;' }));
  const four = `GET /one HTTP/1.1\r\n${HOST}\r\n`.repeat(3) + `GET /fourth HTTP/1.1\r\n${HOST}\r\n`;
  const reply = await exchangeRaw(worn.port, Buffer.from(four));
  t.equal(reply.text.match(/HTTP\/1\.1 200 /g)?.length, 3, 'three answers');
  t.match(reply.text.slice(reply.text.lastIndexOf('HTTP/1.1 200')), /\r\nConnection: close\r\n/i, 'the third says close');
  t.ok(reply.closed && reply.ms < 12_000, `and the connection closes at once (${Math.round(reply.ms)} ms, not 120 s)`);
  // One runner connection, streams in order: once the app logged a later request, it would
  // have logged the fourth before it.
  const sync = await exchangeRaw(worn.port, Buffer.from(`POST /after-fourth HTTP/1.1\r\n${HOST}Content-Length: 0\r\nConnection: close\r\n\r\n`));
  t.match(sync.text, /^HTTP\/1\.1 200 /);
  await until('the app to see the next request', () => appSaw('complete', '/after-fourth'));
  t.notOk(runner.proc.logs.some((l) => String(l.msg).endsWith(' /fourth')), 'the request pipelined after the last one never reached the app');
});

t.test('keepalive_timeout 0: no keep-alive at all', async (t) => {
  const off = await startProxy(t, dir, simpleConfig(socket, { server: 'keepalive_timeout 0;' }));
  const reply = await exchangeRaw(off.port, Buffer.from(`GET /once HTTP/1.1\r\n${HOST}\r\n`));
  t.match(reply.text, /^HTTP\/1\.1 200 [^]*\r\nConnection: close\r\n/i);
  t.ok(reply.closed && reply.ms < 5000);
});

t.test('a reload changes the limits of the listening socket it keeps', async (t) => {
  const { writeFileSync } = await import('node:fs');
  const reloaded = await startProxy(t, dir, simpleConfig(socket, { server: 'client_max_headers 50;' }));
  const lines = Array.from({ length: 20 }, (_, i) => `X-N${i}: ${i}\r\n`).join('');
  const request = Buffer.from(`GET / HTTP/1.1\r\n${HOST}${lines}Connection: close\r\n\r\n`);
  t.match((await exchangeRaw(reloaded.port, request)).text, /^HTTP\/1\.1 200 /, '22 lines under 50');
  const port = reloaded.port;
  writeFileSync(reloaded.configFile, simpleConfig(socket, { server: 'client_max_headers 10; client_header_timeout 1s;' }).replace('127.0.0.1:0', `127.0.0.1:${port}`));
  const mark = reloaded.proc.logs.length;
  reloaded.proc.child.kill('SIGHUP');
  await reloaded.proc.waitForLog((l) => l.msg === 'configuration reloaded' && reloaded.proc.logs.indexOf(l) >= mark);
  t.match((await exchangeRaw(port, request)).text, /^HTTP\/1\.1 431 /, 'over the new limit of 10');
  const slow = await exchangeRaw(port, Buffer.from(`GET / HTTP/1.1\r\n${HOST}`));
  t.match(slow.text, /^HTTP\/1\.1 408 /, 'the new client_header_timeout');
  t.ok(slow.ms < 10_000, `after ${Math.round(slow.ms)} ms`);
});
