// Issue #6: the hostile-request corpus (test/proxy/hostile/cases) against a real proxy and
// runner. Each case is sent as raw bytes on its own connection; the proxy must answer the
// expected status, close the connection, log the expected line exactly once, and the app
// must never see the request (nor anything smuggled inside it).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { FIXTURES, ROOT, simpleConfig, startProxy, startRunner, tempDir, until, type LogLine } from '../helpers/processes.js';
import { exchangeRaw, exchangeRawPieces } from '../helpers/raw.js';

interface Expected {
  description: string;
  status: number;
  log: { msg: string; code: string; reason: string; parser?: string };
}

const CASES = join(ROOT, 'test/proxy/hostile/cases');
const names = readdirSync(CASES).filter((f) => f.endsWith('.http')).map((f) => f.slice(0, -'.http'.length)).sort();

/** Cases whose error lies in a chunked body: once cut, their head may reach the app first. */
const SPLIT_BODY_CASES = names.filter((n) => /chunk|trailer/.test(n));

const dir = tempDir(t);
const socket = join(dir, 'app.sock');
const runner = await startRunner(t, { app: join(FIXTURES, 'recording-app.js'), socket });
const proxy = await startProxy(t, dir, simpleConfig(socket));

/** The lines that say why a request was refused (not the access lines). */
const refusals = (l: LogLine) => l.msg === 'client error' || l.msg === 'request failed';

t.test('corpus layout', async (t) => {
  t.ok(names.length >= 50, `${names.length} cases`);
  for (const name of names) {
    t.match(name, /^\d{3}-[a-z0-9-]+$/, `${name} is named NNN-short-name`);
    t.doesNotThrow(() => JSON.parse(readFileSync(join(CASES, `${name}.json`), 'utf8')), `${name}.json exists and parses`);
  }
});

for (const name of names) {
  const raw = readFileSync(join(CASES, `${name}.http`));
  const expected = JSON.parse(readFileSync(join(CASES, `${name}.json`), 'utf8')) as Expected;
  t.test(`${name}: ${expected.description}`, async (t) => {
    const before = proxy.proc.logs.length;
    const reply = await exchangeRaw(proxy.port, raw);
    t.match(reply.text, new RegExp(`^HTTP/1\\.1 ${expected.status} `), `answered ${expected.status}`);
    t.ok(reply.closed, 'the proxy closed the connection');
    t.match(reply.text, /\r\nConnection: close\r\n/i, 'and said so');
    const line = await proxy.proc.waitForLog((l) => refusals(l) && proxy.proc.logs.indexOf(l) >= before);
    t.match(line, { msg: expected.log.msg, code: expected.log.code, status: expected.status }, 'the log line');
    t.match(String(line.reason), new RegExp(expected.log.reason), 'with the reason');
    if (expected.log.parser) t.equal(line.parser, expected.log.parser, "with llhttp's code");
    const ours = proxy.proc.logs.slice(before).filter(refusals);
    t.equal(ours.length, 1, 'logged once');
  });
}

/**
 * The same corpus again, each request cut at two seeded random points and sent in three
 * writes 30 ms apart, so the parser meets every case across packet boundaries. The status, the
 * close and the single log line must not change. (One exception, documented: a request line
 * too long for the whole head is told from a long header by the last packet only, so once cut
 * it may get 431 instead of 414.)
 */
t.test('split into three packets', async (t) => {
  let seed = 0x6b1d;
  const next = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
  for (const name of names) {
    const raw = readFileSync(join(CASES, `${name}.http`));
    const expected = JSON.parse(readFileSync(join(CASES, `${name}.json`), 'utf8')) as Expected;
    const cuts = [1 + next(raw.length - 1), 1 + next(raw.length - 1)].sort((a, b) => a - b);
    const pieces = [raw.subarray(0, cuts[0]), raw.subarray(cuts[0], cuts[1]), raw.subarray(cuts[1])];
    const before = proxy.proc.logs.length;
    const reply = await exchangeRawPieces(proxy.port, pieces, 30);
    const statuses = expected.log.parser === 'HPE_HEADER_OVERFLOW' && expected.status === 414 ? '414|431' : String(expected.status);
    t.match(reply.text, new RegExp(`^HTTP/1\\.1 (${statuses}) `), `${name} cut at ${cuts.join(', ')}: ${expected.status}`);
    t.ok(reply.closed, `${name}: closed`);
    await proxy.proc.waitForLog((l) => refusals(l) && proxy.proc.logs.indexOf(l) >= before);
    await new Promise((resolve) => setTimeout(resolve, 50)); // a second line would come now
    t.equal(proxy.proc.logs.slice(before).filter(refusals).length, 1, `${name}: logged once`);
  }
});

/** Near misses that are valid HTTP: being strict must not mean refusing these. */
const VALID: Array<[string, string]> = [
  ['HTTP/1.0 without Host', 'GET /valid/1 HTTP/1.0\r\n\r\n'],
  ['Transfer-Encoding in capitals', 'POST /valid/2 HTTP/1.1\r\nHost: tsgi.test\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
  ['a tab before a value, obs-text in it', 'GET /valid/3 HTTP/1.1\r\nHost: tsgi.test\r\nX-Text:\tcaf\xe9\r\nConnection: close\r\n\r\n'],
  ['chunk extensions and a trailer', 'POST /valid/4 HTTP/1.1\r\nHost: tsgi.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;name=value\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n'],
  ['Content-Length: 0 on a GET', 'GET /valid/5 HTTP/1.1\r\nHost: tsgi.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'],
];

t.test('valid near misses are served', async (t) => {
  for (const [what, request] of VALID) {
    const reply = await exchangeRaw(proxy.port, Buffer.from(request, 'latin1'));
    t.match(reply.text, /^HTTP\/1\.[01] 200 /, what);
  }
  const pipelined = await exchangeRaw(
    proxy.port,
    Buffer.from('POST /valid/6 HTTP/1.1\r\nHost: tsgi.test\r\nContent-Length: 4\r\n\r\nabcdGET /valid/7 HTTP/1.1\r\nHost: tsgi.test\r\nConnection: close\r\n\r\n'),
  );
  t.equal(pipelined.text.match(/HTTP\/1\.1 200 /g)?.length, 2, 'a request after a Content-Length body is the next request, as framed');
  for (let i = 1; i <= 7; i++) {
    await runner.proc.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('complete ') && l.msg.endsWith(` /valid/${i}`));
  }
});

/**
 * Valid HTTP that llhttp's strict mode refuses where nginx serves it (README, "Not yet", says
 * why it stays so): pinned here, so that a Node whose parser starts to accept them is noticed.
 */
const REFUSED_BY_LLHTTP: Array<[what: string, request: string, parser: string]> = [
  ['whitespace before a chunk extension', 'POST /limit/1 HTTP/1.1\r\nHost: tsgi.test\r\nTransfer-Encoding: chunked\r\n\r\n3 ;name=value\r\nabc\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
  ['whitespace after its ";"', 'POST /limit/2 HTTP/1.1\r\nHost: tsgi.test\r\nTransfer-Encoding: chunked\r\n\r\n3; name=value\r\nabc\r\n0\r\n\r\n', 'HPE_STRICT'],
  ['whitespace around its "="', 'POST /limit/3 HTTP/1.1\r\nHost: tsgi.test\r\nTransfer-Encoding: chunked\r\n\r\n3;name = value\r\nabc\r\n0\r\n\r\n', 'HPE_STRICT'],
  ['an extension method (any token, RFC 9110 §9.1)', 'BREW /limit/4 HTTP/1.1\r\nHost: tsgi.test\r\n\r\n', 'HPE_INVALID_METHOD'],
  ['a method in lower case (methods are case-sensitive tokens)', 'get /limit/5 HTTP/1.1\r\nHost: tsgi.test\r\n\r\n', 'HPE_INVALID_METHOD'],
];

t.test("known limits: llhttp's strict mode refuses these with 400", async (t) => {
  for (const [what, request, parser] of REFUSED_BY_LLHTTP) {
    const before = proxy.proc.logs.length;
    const reply = await exchangeRaw(proxy.port, Buffer.from(request, 'latin1'));
    t.match(reply.text, /^HTTP\/1\.1 400 /, what);
    const line = await proxy.proc.waitForLog((l) => l.msg === 'client error' && proxy.proc.logs.indexOf(l) >= before);
    t.equal(line.parser, parser, `${what}: ${parser}`);
  }
});

t.test('garbage pipelined after a valid request: its answer first, then 400', async (t) => {
  const before = proxy.proc.logs.length;
  const reply = await exchangeRaw(proxy.port, Buffer.from('GET /valid/8 HTTP/1.1\r\nHost: tsgi.test\r\n\r\nGET /hostile/pipelined HTTP/1.1\r\nHost: tsgi.test\r\nX-A : b\r\n\r\n'));
  t.match(reply.text, /^HTTP\/1\.1 200 [^]*\{"path":"\/valid\/8"[^]*HTTP\/1\.1 400 /, '200 for the valid one, then 400');
  t.ok(reply.closed);
  await proxy.proc.waitForLog((l) => refusals(l) && proxy.proc.logs.indexOf(l) >= before);
  t.equal(proxy.proc.logs.slice(before).filter(refusals).length, 1, 'logged once');
});

t.test('none of them reached the app', async (t) => {
  // A normal request after the corpus: once the app logged it, anything sent before it has
  // been logged too (one runner connection, streams in order).
  const reply = await exchangeRaw(proxy.port, Buffer.from('GET /after-the-corpus HTTP/1.1\r\nHost: tsgi.test\r\nConnection: close\r\n\r\n'));
  t.match(reply.text, /^HTTP\/1\.1 200 /);
  await runner.proc.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('complete GET /after-the-corpus'));
  const hostile = (l: LogLine) => typeof l.msg === 'string' && l.msg.includes('/hostile');
  // Sent whole, no hostile request reaches the app. Cut into packets, a request whose chunked
  // body turns out malformed in a later packet has been started by then: the app sees its head
  // (and then the cancellation), but never the end of its body, and nothing smuggled in it.
  const count = (prefix: string) => runner.proc.logs.filter((l) => hostile(l) && String(l.msg).startsWith(prefix)).length;
  await until('each started hostile request to see its body cut', () => count('cut POST ') >= count('saw POST '));
  const seen = runner.proc.logs.filter(hostile).map((l) => l.msg as string);
  const started = seen.filter((msg) => msg.startsWith('saw POST '));
  const cut = seen.filter((msg) => msg.startsWith('cut POST '));
  t.same(seen.filter((msg) => !started.includes(msg) && !cut.includes(msg)), [], 'no hostile request completed, nothing smuggled was seen');
  t.ok(started.length <= SPLIT_BODY_CASES.length, `only requests with a body were started (${started.join('; ') || 'none'})`);
  t.same(cut.map((msg) => msg.slice(4)), started.map((msg) => msg.slice(4)), 'and each of those saw its body cut');
});
