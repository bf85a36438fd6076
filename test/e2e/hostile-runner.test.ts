// End to end against a hostile runner: test/fixtures/hostile-runner.js, a separate process that
// writes the wire by hand, shares an upstream with a real tsgi-runner behind a real tsgi-proxy.
// Whatever it sends, a client gets a clean 502/504 or an aborted response (never a forged
// header, never a body passed off as complete), the failure is logged once with its request
// id, a broken connection is closed with a coded GOAWAY, the other runner's requests go on
// untouched, and the proxy's memory stays bounded while it is flooded.
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import { ErrorCode } from '../../protocol/index.js';
import { fetchBuffer, hashBody, pattern, patternHash, send } from '../helpers/http.js';
import { FIXTURES, Proc, rss, spawnNode, startProxy, startRunner, tempDir, until, type LogLine } from '../helpers/processes.js';

const dir = tempDir(t);
const hostileSocket = join(dir, 'hostile.sock');
const goodSocket = join(dir, 'good.sock');

const hostile = new Proc(spawnNode(join(FIXTURES, 'hostile-runner.js'), [hostileSocket]));
t.teardown(async () => {
  if (hostile.running) process.kill(hostile.pid, 'SIGKILL');
  await hostile.exited;
});
await hostile.waitForLog((l) => l.msg === 'hostile runner ready');
await startRunner(t, { app: join(FIXTURES, 'app.js'), socket: goodSocket });

// One upstream, both runners; `to` picks the server (hash), nothing is retried elsewhere and
// neither server is ever taken out, so each request lands where the test sends it.
// A long fuzz run (TSGI_FUZZ_CASES) may take its time.
t.setTimeout(Math.max(120_000, Number(process.env.TSGI_FUZZ_CASES ?? 0) * 2));
const proxy = await startProxy(
  t,
  dir,
  `upstream mixed {
     hash $arg_to;
     server unix:${hostileSocket} max_fails=0;
     server unix:${goodSocket} max_fails=0;
   }
   server {
     listen 127.0.0.1:0;
     location / {
       tsgi_pass mixed;
       tsgi_next_upstream off;
       # Streamed: a client that does not read holds the runner back, and a runner that sends
       # past its window is caught (buffered, the proxy would keep granting credit).
       tsgi_buffering off;
       tsgi_read_timeout 3s;
       tsgi_send_timeout 1s;
       client_max_body_size 0;
     }
     # The unknown-type flood answers only after 256 MiB: seconds on a busy machine, and
     # frames of no stream do not count as reads for this request's timeout.
     location /flood-unknown {
       tsgi_pass mixed;
       tsgi_next_upstream off;
       tsgi_read_timeout 120s;
     }
   }`,
);

/** A `to` value that the hash sends to each runner. */
async function keys(): Promise<{ bad: string; good: string }> {
  const found: { bad?: string; good?: string } = {};
  for (let k = 0; k < 64 && !(found.bad && found.good); k++) {
    const reply = await fetchBuffer(`${proxy.url}/pid?to=${k}`);
    if (reply.body.toString().startsWith('hostile:')) found.bad ??= String(k);
    else if (reply.status === 200) found.good ??= String(k);
  }
  if (!found.bad || !found.good) throw new Error(`no key found for both servers: ${JSON.stringify(found)}`);
  return found as { bad: string; good: string };
}
const to = await keys();
let nonce = 0;
/** A URL to the hostile runner, unique so its log lines can be found. */
const bad = (path: string, query = '') => `${proxy.url}${path}?to=${to.bad}&n=${++nonce}${query}`;

/** The proxy's access line for a request, then every line with its request id. */
async function linesOf(url: string): Promise<LogLine[]> {
  const uri = url.slice(proxy.url.length);
  const access = await proxy.proc.waitForLog((l) => l.msg === 'access' && l.uri === uri);
  return proxy.proc.logs.filter((l) => l.reqId === access.reqId);
}

type Outcome = 'complete' | 'aborted';
/** Reads a response to its end: complete, or cut (the client can tell). */
function outcomeOf(res: IncomingMessage): Promise<Outcome> {
  return new Promise((resolve) => {
    res.on('data', () => undefined);
    res.on('end', () => resolve(res.complete ? 'complete' : 'aborted'));
    res.on('error', () => resolve('aborted'));
    res.on('aborted', () => resolve('aborted'));
  });
}

const goaways = (code: ErrorCode) => hostile.logs.filter((l) => l.msg === 'goaway' && l.code === code).length;
async function waitForGoaway(code: ErrorCode, before: number): Promise<boolean> {
  return until(`GOAWAY ${ErrorCode[code]}`, () => goaways(code) > before).then(() => true, () => false);
}

t.test('a well-behaved answer from the same process passes', async (t) => {
  const reply = await fetchBuffer(bad('/ok'));
  t.equal(reply.status, 200);
  t.equal(reply.body.toString(), 'fine');
});

const INVALID_HEADS = [
  ['/crlf-value', 'CR LF in a header value'],
  ['/lf-value', 'a bare LF in a header value'],
  ['/nul-value', 'NUL in a header value'],
  ['/high-value', 'a character above 0xFF in a value'],
  ['/space-name', 'a space in a header name'],
  ['/colon-name', 'a colon in a header name'],
  ['/empty-name', 'an empty header name'],
  ['/crlf-reason', 'CR LF in the reason phrase'],
  ['/status-600', 'status 600'],
  ['/status-99', 'status 99'],
  ['/status-100', 'a 100 as the final status'],
  ['/status-101', 'a 101 (no tunnel to switch to)'],
  ['/status-199', 'a 199 as the final status'],
  ['/hop-connection', 'Connection'],
  ['/hop-keep-alive', 'Keep-Alive'],
  ['/hop-transfer-encoding', 'Transfer-Encoding'],
  ['/hop-upgrade', 'Upgrade'],
  ['/hop-trailer', 'Trailer'],
  ['/two-lengths', 'two different Content-Lengths'],
  ['/signed-length', 'a negative Content-Length'],
  ['/length-on-204', 'a Content-Length on a 204'],
] as const;

for (const [path, why] of INVALID_HEADS) {
  t.test(`invalid head (${why}): 502, logged once with the request id, never forwarded`, async (t) => {
    const url = bad(path);
    const reply = await fetchBuffer(url);
    t.equal(reply.status, 502);
    t.equal(reply.body.toString(), '502 Bad Gateway\n');
    for (const name of ['x-evil', 'set-cookie', 'x-injected', 'upgrade', 'trailer']) t.notOk(reply.headers[name], `no ${name}`);
    t.not(reply.headers.connection, 'close', 'the runner did not choose the client connection');
    t.not(reply.headers['keep-alive'], 'timeout=5', "nor its keep-alive (the proxy's own is fine)");
    const lines = await linesOf(url);
    const failed = lines.filter((l) => l.msg === 'request failed');
    t.equal(failed.length, 1, 'one failure line');
    t.equal(failed[0]?.code, 'TSGI_INVALID_RESPONSE');
    t.match(failed[0]?.reason, /invalid response head/);
  });
}

for (const path of ['/not-msgpack', '/not-a-map', '/headers-not-pairs']) {
  t.test(`a RESPONSE payload that is not a head (${path}): 502 with a protocol code`, async (t) => {
    const url = bad(path);
    const reply = await fetchBuffer(url);
    t.equal(reply.status, 502);
    const failed = (await linesOf(url)).filter((l) => l.msg === 'request failed');
    t.equal(failed.length, 1);
    t.equal(failed[0]?.code, 'TSGI_UPSTREAM_PROTOCOL');
  });
}

for (const [path, why] of [
  ['/too-long', 'more body than Content-Length, in one frame'],
  ['/too-long-later', 'more body than Content-Length, later'],
  ['/too-short', 'less body than Content-Length, then the end'],
  ['/short-then-close', 'less body than Content-Length, then the connection drops'],
  ['/chunked-then-close', 'a chunked body, then the connection drops'],
  ['/second-response', 'a second RESPONSE after part of the body'],
  ['/second-response-before-body', 'a second RESPONSE before the body'],
  ['/app-error-after-head', 'CANCEL APP_ERROR after the head'],
] as const) {
  t.test(`${why}: aborted, never passed off as complete`, async (t) => {
    const url = bad(path);
    const res = await send(url).catch(() => null);
    const outcome = res ? await outcomeOf(res) : 'aborted';
    t.equal(outcome, 'aborted');
    const lines = await linesOf(url);
    t.ok(lines.some((l) => l.msg === 'access' && l.aborted === true), 'the access line says aborted');
    t.equal(lines.filter((l) => l.msg === 'response aborted' || l.msg === 'request failed').length, 1, 'logged once');
  });
}

t.test('connection errors: coded GOAWAY, 502, and the other runner of the upstream is untouched', async (t) => {
  // A long download from the good runner, read slowly, spans every broken connection below.
  const size = 24 * 1024 * 1024;
  const download = send(`${proxy.url}/big?bytes=${size}&to=${to.good}`).then((res) => hashBody(res, { stallMs: 300 }));
  const cases: Array<[string, ErrorCode, string?]> = [
    ['/garbage', ErrorCode.FRAME_SIZE_ERROR],
    ['/unknown-stream', ErrorCode.PROTOCOL_ERROR],
    ['/oversized', ErrorCode.FRAME_SIZE_ERROR],
    ['/request-from-runner', ErrorCode.PROTOCOL_ERROR],
    ['/over-window', ErrorCode.FLOW_CONTROL_ERROR, 'mb=64'],
  ];
  for (const [path, code, query] of cases) {
    const before = goaways(code);
    const url = bad(path, query ? `&${query}` : '');
    if (path === '/over-window') {
      // Not reading: the proxy cannot pass the body on, so the window runs out.
      const res = await send(url);
      res.pause();
      t.ok(await waitForGoaway(code, before), `${path}: GOAWAY ${ErrorCode[code]}`);
      res.resume();
      t.equal(await outcomeOf(res), 'aborted', `${path}: the response is aborted`);
    } else {
      t.equal((await fetchBuffer(url)).status, 502, `${path}: 502`);
      t.ok(await waitForGoaway(code, before), `${path}: GOAWAY ${ErrorCode[code]}`);
    }
    t.ok((await linesOf(url)).some((l) => l.msg === 'request failed' || l.msg === 'response aborted'), `${path}: logged`);
  }
  const data = await fetchBuffer(bad('/data-before-head'));
  t.equal(data.status, 502, 'DATA before RESPONSE: 502');
  const got = await download;
  t.equal(got.bytes, size, 'the download from the other runner completed');
  t.equal(got.sha256, patternHash(size), 'byte for byte');
  t.equal((await fetchBuffer(bad('/ok'))).status, 200, 'the hostile runner is reconnected to');
});

t.test('a runner that stops inside a frame: the request is cut at its deadline, the connection replaced', async (t) => {
  const url = bad('/partial-frame');
  // The head was passed on (node:http sends it with the first body byte): so it is a cut.
  const res = await send(url).catch(() => null);
  t.equal(res ? await outcomeOf(res) : 'aborted', 'aborted', 'the response is cut at tsgi_read_timeout');
  const lost = await proxy.proc.waitForLog((l) => l.msg === 'connection to runner lost' && /middle of a frame/.test(String(l.reason)));
  t.match(lost.reason, /TIMEOUT/, 'closed with GOAWAY TIMEOUT');
  t.equal((await fetchBuffer(bad('/ok'))).status, 200, 'the next request is served on a new connection');
});

/** Samples the proxy's RSS every 50 ms while `work` runs; returns the peak. */
async function peakWhile<T>(work: () => Promise<T>): Promise<{ peak: number; result: T }> {
  let peak = rss(proxy.proc.pid);
  const timer = setInterval(() => (peak = Math.max(peak, rss(proxy.proc.pid))), 50);
  try {
    const result = await work();
    return { peak: Math.max(peak, rss(proxy.proc.pid)), result };
  } finally {
    clearInterval(timer);
  }
}

const MiB = 1024 * 1024;
// Generous: the proxy's heap moves by tens of MiB on its own; an unbounded buffer would take
// hundreds (each flood below is 64–256 MiB).
const GROWTH_BOUND = 96 * MiB;

t.test('floods: the proxy skips or refuses them with bounded memory', async (t) => {
  const base = rss(proxy.proc.pid);
  t.comment(`proxy RSS before the floods: ${(base / MiB).toFixed(1)} MiB`);

  const unknown = await peakWhile(() => fetchBuffer(bad('/flood-unknown', '&mb=256')));
  t.equal(unknown.result.status, 200, '256 MiB of unknown frame types skipped, then the answer');
  t.equal(unknown.result.body.toString(), 'survived');

  const floodsSeen = hostile.logs.filter((l) => l.msg === 'flooded').length;
  const closed = await peakWhile(async () => {
    const reply = await fetchBuffer(bad('/flood-closed', '&mb=256'));
    await until('the flood to be written', () => hostile.logs.filter((l) => l.msg === 'flooded').length > floodsSeen);
    return reply;
  });
  t.equal(closed.result.status, 200, 'answered, then 256 MiB of DATA for the ended stream ignored');
  t.equal((await fetchBuffer(bad('/ok'))).status, 200, 'that connection still serves');

  const pingUrl = bad('/ping-flood', '&mb=64');
  const ping = await peakWhile(() => fetchBuffer(pingUrl));
  // Which comes first depends on the machine's speed: the unsent answers passing their bound,
  // or this request's tsgi_read_timeout (then the connection that reads nothing is closed).
  t.ok([502, 504].includes(ping.result.status), `a runner that floods PINGs and reads no answer: ${ping.result.status}`);
  const lost = await proxy.proc.waitForLog((l) => l.msg === 'connection to runner lost' && /not reading|read nothing/.test(String(l.reason)));
  t.match(lost.reason, /FLOW_CONTROL_ERROR|TIMEOUT/, `closed with a code: ${String(lost.reason)}`);

  // A runner that granted a 2 GiB window and then reads nothing: the upload must not pile up.
  const uploadUrl = bad('/stop-reading');
  const upload = await peakWhile(() => fetchBuffer(uploadUrl, { method: 'PUT', body: pattern(192 * MiB, 1024 * 1024), headers: { 'Content-Length': 192 * MiB } }).catch(() => null));
  if (upload.result) t.equal(upload.result.status, 504, 'the upload to a runner that stopped reading: 504');
  else t.pass('the upload was cut (the proxy answered 504 and closed while the client was still sending)');
  const failed = (await linesOf(uploadUrl)).filter((l) => l.msg === 'request failed');
  t.equal(failed[0]?.code, 'TSGI_UPSTREAM_TIMEOUT', 'logged as a timeout');
  await proxy.proc.waitForLog((l) => l.msg === 'connection to runner lost' && /TIMEOUT/.test(String(l.reason)));
  t.pass('the connection that read nothing was closed with GOAWAY TIMEOUT');

  for (const [what, peak] of [['unknown types', unknown.peak], ['closed stream', closed.peak], ['PINGs', ping.peak], ['upload', upload.peak]] as const) {
    t.comment(`peak RSS during the ${what} flood: ${(peak / MiB).toFixed(1)} MiB`);
    t.ok(peak - base < GROWTH_BOUND, `${what}: RSS grew by ${((peak - base) / MiB).toFixed(1)} MiB (bound ${GROWTH_BOUND / MiB})`);
  }
  t.equal((await fetchBuffer(bad('/ok'))).status, 200, 'the hostile runner still gets a connection');
  t.equal((await fetchBuffer(`${proxy.url}/hello?to=${to.good}`)).status, 200, 'and the good one still serves');
});

t.test('fuzz over a real socket: random frames on a stream end in a clean answer or an abort', async (t) => {
  // TSGI_FUZZ_CASES counts decoder cases (test/protocol/fuzz.test.ts); one in 100 here.
  const cases = Math.max(150, Math.floor(Number(process.env.TSGI_FUZZ_CASES ?? 0) / 100));
  const first = Number(process.env.TSGI_SEED ?? Date.now() % 1e6);
  t.comment(`${cases} cases from seed ${first} (TSGI_SEED=${first} replays them)`);
  const tally: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < cases) {
      const seed = first + next++;
      const res = await send(bad('/fuzz', `&seed=${seed}`)).catch(() => null);
      const key = !res ? 'aborted before the head' : `${res.statusCode} ${await outcomeOf(res)}`;
      tally[key] = (tally[key] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: 2 }, worker));
  t.comment(JSON.stringify(tally));
  for (const key of Object.keys(tally)) t.match(key, /^(aborted before the head|[2-5]\d\d (complete|aborted))$/, key);
  const internal = proxy.proc.logs.filter((l) => /internal error/.test(String(l.msg)));
  t.same(internal.map((l) => l.err ?? l.reason), [], 'nothing but coded protocol errors');
  t.ok(proxy.proc.running, 'the proxy is alive');
  // A case writes its last bytes 2 ms after its answer, which the client may already have:
  // judge the connections only once every case the runner began is over. (Not every case
  // reaches it: one whose connection an earlier case broke is answered 502 by the proxy.)
  const count = (msg: string) => hostile.logs.filter((l) => l.msg === msg).length;
  await until('every fuzz case begun to end', () => count('fuzz case over') >= count('fuzz case begun'));
  // What the last cases left behind is for the proxy to clear, one broken connection per
  // failed try: bytes not read yet that break the protocol (502: that connection is gone by
  // the time the client has the answer), or a frame that never completes (504 at
  // tsgi_read_timeout, then the proxy closes the connection). Then the runner is served again.
  let status = 0;
  for (let attempt = 0; attempt < 4 && status !== 200; attempt++) {
    const seen = proxy.proc.logs.length;
    const url = bad('/ok');
    status = (await fetchBuffer(url)).status;
    if (status === 200) break;
    const failure = (await linesOf(url)).find((l) => l.msg === 'request failed');
    t.comment(`${status} after the fuzz: ${String(failure?.code)} ${String(failure?.reason)}`);
    // Only a connection the fuzz left broken may fail a request, never the proxy itself.
    t.match(failure?.code, /^TSGI_UPSTREAM_(PROTOCOL|LOST|TIMEOUT|UNREACHABLE|REFUSED)$/, `a broken connection's failure: ${String(failure?.code)}`);
    if (status === 504) await until('the stuck connection to be closed', () => proxy.proc.logs.slice(seen).some((l) => l.msg === 'connection to runner lost' && /middle of a frame/.test(String(l.reason))));
  }
  t.equal(status, 200, 'and still serves the fuzzed runner');
});
