// The lane (proxy/lane/) answers byte for byte what node:http's server answers: the same
// requests, on raw connections, to two proxies in front of one runner — one as shipped, one
// with TSGI_LANE=off — and the two replies compared whole (only the Date field's value may
// differ). Requests the lane serves, requests it hands over at once or after serving some,
// timing cases (a request pipelined while an answer is written, a head in two packets), and
// bodies with a length — in the head's packet or after it, read whole or left unread — with
// request buffering on (the default) and off (the lane lends its reads to the relay).
import { join } from 'node:path';
import t from 'tap';
import { exchangeRawPieces, openRaw } from '../helpers/raw.js';
import { fetchBuffer } from '../helpers/http.js';
import { FIXTURES, simpleConfig, startProxy, startRunner, tempDir } from '../helpers/processes.js';

const dir = tempDir(t);
const socket = join(dir, 'app.sock');
await startRunner(t, { app: join(FIXTURES, 'app.js'), socket });
/** One proxy as shipped and one with TSGI_LANE=off, on the same configuration. */
async function pair(config: string): Promise<{ lane: { port: number }; node: { port: number } }> {
  const lane = await startProxy(t, dir, config);
  process.env.TSGI_LANE = 'off';
  const node = await startProxy(t, dir, config).finally(() => delete process.env.TSGI_LANE);
  return { lane, node };
}
const buffered = await pair(simpleConfig(socket, { server: 'keepalive_timeout 30s;' }));
// Bodies streamed to the runner as they are read: the lane lends its reads (shared-read.ts).
const streamedConfig = simpleConfig(socket, { server: 'keepalive_timeout 30s;', location: 'tsgi_request_buffering off;' });
const streamed = await pair(streamedConfig);
// The same without the shared read (as on a Node that lacks it): bodies through 'data' events.
process.env.TSGI_SHARED_READ = 'off';
const unshared = { lane: await startProxy(t, dir, streamedConfig).finally(() => delete process.env.TSGI_SHARED_READ), node: streamed.node };

const H = 'Host: lane.test\r\n';
const CLOSE = 'Connection: close\r\n';
const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\n${H}${extra}\r\n`;
/** A request with a body of `length` bytes (`body`'s by default), `body` sent with the head. */
const post = (path: string, body: string, extra = '', length = body.length, method = 'POST') =>
  `${method} ${path} HTTP/1.1\r\n${H}Content-Type: application/octet-stream\r\nContent-Length: ${length}\r\n${extra}\r\n${body}`;
/** Every byte value, in a body over one read of the proxy's buffer. */
const BIG = Array.from({ length: 300_000 }, (_, i) => String.fromCharCode((i * 31) % 256)).join('');

/** Each case: the pieces written (each its own packet, `gapMs` apart); the last ends the connection. */
const cases: Array<{ name: string; pieces: string[]; gapMs?: number }> = [
  { name: 'a GET', pieces: [get('/hello', CLOSE)] },
  { name: 'GETs one after another on a kept connection', pieces: [get('/hello'), get('/status?code=201'), get('/hello', CLOSE)], gapMs: 100 },
  { name: 'HEAD', pieces: [`HEAD /hello HTTP/1.1\r\n${H}${CLOSE}\r\n`] },
  { name: 'a 204', pieces: [get('/empty', CLOSE)] },
  { name: 'an answer without a length (chunked)', pieces: [get('/status?code=404', CLOSE)] },
  { name: 'a large answer with its length', pieces: [get('/big?bytes=300000', CLOSE)] },
  // Every byte value, in the one string the lane writes a small answer and its head as.
  { name: 'a small binary answer with its length', pieces: [get('/big?bytes=700'), get('/big?bytes=8192', CLOSE)], gapMs: 100 },
  { name: "the app's 404", pieces: [get('/nothing-here', CLOSE)] },
  { name: 'an invalid head from the app (502)', pieces: [get('/bad-header', CLOSE)] },
  { name: 'an app that throws before its head (502)', pieces: [get('/throw-before', CLOSE)] },
  { name: 'an answer cut after its head', pieces: [get('/throw-after')] },
  { name: 'a target the proxy refuses (400)', pieces: [get('/a/../../etc', CLOSE)] },
  { name: 'an absolute-form target', pieces: [`GET http://other.test/hello HTTP/1.1\r\n${H}${CLOSE}\r\n`] },
  { name: 'two GETs in one packet', pieces: [get('/hello') + get('/status?code=202', CLOSE)] },
  { name: 'a POST after a served GET', pieces: [get('/hello'), `POST /echo HTTP/1.1\r\n${H}Content-Type: text/plain\r\nContent-Length: 5\r\n${CLOSE}\r\nhello`], gapMs: 100 },
  { name: 'a head in two packets', pieces: ['GET /hello HTTP/1.1\r\nHo', `st: lane.test\r\n${CLOSE}\r\n`], gapMs: 50 },
  { name: 'a GET pipelined while an answer is written', pieces: [get('/slow?ms=300'), get('/hello', CLOSE)], gapMs: 100 },
  { name: 'a POST pipelined while an answer is written', pieces: [get('/slow?ms=300'), `POST /echo HTTP/1.1\r\n${H}Content-Length: 2\r\n${CLOSE}\r\nhi`], gapMs: 100 },
  { name: 'Expect: 100-continue', pieces: [`GET /hello HTTP/1.1\r\n${H}Expect: 100-continue\r\n${CLOSE}\r\n`] },
  { name: 'HTTP/1.0', pieces: ['GET /hello HTTP/1.0\r\nHost: lane.test\r\n\r\n'] },
  { name: 'a bad request line', pieces: ['GET /a b HTTP/1.1\r\n\r\n'] },
  { name: 'Connection: close on the second of two', pieces: [get('/status?code=200'), get('/empty', CLOSE)], gapMs: 100 },
  // Bodies with a length: whole in the head's read, or read past the parser in later ones.
  { name: 'a POST whose body comes with its head', pieces: [post('/echo', 'hello', CLOSE)] },
  { name: 'a POST whose body comes after its head, in pieces', pieces: [post('/echo', '', '', 11), 'hello', ' world'], gapMs: 50 },
  { name: 'a large body echoed', pieces: [post('/echo', '', '', BIG.length), BIG.slice(0, 1000), BIG.slice(1000) + get('/hello', CLOSE)], gapMs: 50 },
  { name: 'a body the app does not read (the rest dropped), then a GET', pieces: [post('/status?code=201', '', '', 70_000), BIG.slice(0, 70_000), get('/hello', CLOSE)], gapMs: 50 },
  { name: 'the end of a body and the next request in one packet', pieces: [post('/echo', 'abc', '', 6), 'def' + get('/hello', CLOSE)], gapMs: 50 },
  { name: 'a body, then a request pipelined while its answer is written', pieces: [post('/slow?ms=300', 'x', '', 1), get('/hello', CLOSE)], gapMs: 100 },
  { name: 'PUT, PATCH and DELETE with bodies, OPTIONS without', pieces: [post('/echo', 'put', '', 3, 'PUT'), post('/echo', 'patch', '', 5, 'PATCH'), post('/echo', 'd', '', 1, 'DELETE'), `OPTIONS /status HTTP/1.1\r\n${H}${CLOSE}\r\n`], gapMs: 50 },
  { name: 'an empty body with a length of 0', pieces: [post('/echo', '', CLOSE, 0)] },
  { name: 'a GET with a body', pieces: [post('/echo', 'ab', CLOSE, 2, 'GET')] },
  { name: 'Expect: 100-continue, the body after the interim answer', pieces: [post('/echo', '', 'Expect: 100-continue\r\n', 5), 'hello' + get('/hello', CLOSE)], gapMs: 50 },
  { name: 'an expectation node:http refuses (417)', pieces: [post('/echo', 'x', 'Expect: something\r\n' + CLOSE, 1)] },
];

/** What the client saw, with the Date fields' values (the only part that may differ) blanked. */
async function reply(port: number, pieces: string[], gapMs: number): Promise<string> {
  const got = await exchangeRawPieces(
    port,
    pieces.map((piece) => Buffer.from(piece, 'latin1')),
    gapMs,
  );
  return got.text.replace(/\r\nDate: [^\r]*\r\n/g, '\r\nDate: -\r\n');
}

for (const { name, pieces, gapMs = 20 } of cases) {
  t.test(name, async (t) => {
    const setups = [['request bodies buffered', buffered], ['request bodies streamed', streamed], ['streamed, read through events', unshared]] as const;
    for (const [how, { lane, node }] of setups) {
      const [fromLane, fromNode] = await Promise.all([reply(lane.port, pieces, gapMs), reply(node.port, pieces, gapMs)]);
      t.ok(fromNode.startsWith('HTTP/1.1 '), `${how}: node:http answered`);
      t.equal(fromLane, fromNode, `${how}: the same bytes from the lane as from node:http`);
    }
  });
}

t.test('a client that resets its connection once answered 408 (a silent new connection) leaves the proxy serving', async (t) => {
  const quick = await startProxy(t, dir, simpleConfig(socket, { server: 'client_header_timeout 1s;' }));
  const silent = await openRaw(quick.port);
  let text = '';
  silent.on('error', () => undefined);
  silent.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
    // The proxy lingers on the connection after its answer; the client cuts it hard.
    if (text.includes('\r\n\r\n')) silent.resetAndDestroy();
  });
  await new Promise((resolve) => silent.once('close', resolve));
  t.match(text, /^HTTP\/1\.1 408 /);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const after = await fetchBuffer(`${quick.url}/hello`);
  t.equal(after.status, 200, 'the proxy still answers');
});
