// End to end on the pure-Python MessagePack codec (runner/python/tsgi_worker/pure_msgpack.py):
// tsgi-runner --python with an interpreter that cannot import `msgpack` (the `python3` on PATH,
// or $TSGI_TEST_PYTHON_NO_MSGPACK), serving test/fixtures/python/validated_app.py behind a real
// tsgi-proxy. Where every interpreter here has msgpack, the fallback is forced instead with
// TSGI_PURE_MSGPACK=1, which the runner passes on to its workers.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import t from 'tap';
import { fetchBuffer } from '../helpers/http.js';
import { fetchJson as json, PYTHON, pythonGroup } from '../helpers/python.js';

/** The interpreter's own path when it runs Python 3.8+, or null. */
function interpreter(command: string): string | null {
  const probe = spawnSync(command, ['-c', 'import sys; assert sys.version_info >= (3, 8); print(sys.executable)'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : null;
}

function hasMsgpack(python: string): boolean {
  return spawnSync(python, ['-c', 'import msgpack'], { encoding: 'utf8' }).status === 0;
}

function choose(): { python: string; how: string } | { skip: string } {
  const candidates = [process.env.TSGI_TEST_PYTHON_NO_MSGPACK, 'python3'].filter((c): c is string => !!c);
  for (const candidate of candidates) {
    const python = interpreter(candidate);
    if (python && !hasMsgpack(python)) return { python, how: `${python} cannot import msgpack` };
  }
  const forced = interpreter(PYTHON);
  if (forced) {
    process.env.TSGI_PURE_MSGPACK = '1'; // this file's own process: the runner and its workers inherit it
    return { python: forced, how: `every interpreter found has msgpack: ${forced} with TSGI_PURE_MSGPACK=1` };
  }
  return { skip: `no Python 3.8+ found (tried ${[...candidates, PYTHON].join(', ')})` };
}

const chosen = choose();
if ('skip' in chosen) t.plan(0, chosen.skip);
else fallback(chosen.python, chosen.how);

function fallback(python: string, how: string) {
  t.test('validated_app on the pure-Python codec', async (t) => {
    t.comment(how);
    const { runner, proxy } = await pythonGroup(t, 'validated_app:app', ['--threads', '4'], python);
    const line = await runner.proc.waitForLog((l) => l.msg === 'MessagePack codec');
    t.match(line, { codec: 'pure-python', level: 30, python }, 'the worker says which codec, at info');

    t.test('environ: every key a native string, non-ASCII header values and path bytes intact', async (t) => {
      const { status, value } = await json(`${proxy.url}/environ?a=1&b=%C3%A9`, { headers: { 'X-Latin': 'caf\u00e9 \u00ff', 'X-Long': 'v'.repeat(300) } });
      t.equal(status, 200, 'the validator found nothing to warn about');
      t.equal(value.native, true);
      t.match(value.strings, { REQUEST_METHOD: 'GET', PATH_INFO: '/environ', QUERY_STRING: 'a=1&b=%C3%A9', HTTP_X_LATIN: 'caf\u00e9 \u00ff', HTTP_X_LONG: 'v'.repeat(300) });
      const raw = await fetchBuffer(`${proxy.url}/raw-path/caf%C3%A9%FF`);
      t.same([...raw.body], [...Buffer.from('/raw-path/caf'), 0xc3, 0xa9, 0xff]);
    });

    t.test('uploads with bodies, fixed-length and chunked, beyond the flow-control window', async (t) => {
      for (const size of [0, 1, 65_536, 300_001]) {
        const body = Buffer.alloc(size, 0);
        for (let i = 0; i < size; i++) body[i] = (i * 7 + size) & 0xff;
        const sha256 = createHash('sha256').update(body).digest('hex');
        const fixed = await json(`${proxy.url}/upload?mode=read_n`, { method: 'POST', body });
        t.match([fixed.status, fixed.value], [200, { length: size, sha256 }], `${size} bytes, Content-Length`);
        async function* pieces() {
          for (let at = 0; at < body.length; at += 4099) yield body.subarray(at, at + 4099);
        }
        const chunked = await json(`${proxy.url}/upload?mode=readline`, { method: 'POST', body: pieces(), headers: { 'Transfer-Encoding': 'chunked' } });
        t.match([chunked.status, chunked.value], [200, { length: size, sha256 }], `${size} bytes, chunked`);
      }
    });

    t.test('50 concurrent requests with distinct bodies get their own answers', async (t) => {
      const replies = await Promise.all(
        Array.from({ length: 50 }, (_, i) => json(`${proxy.url}/upload?mode=iter`, { method: 'POST', body: `request ${i}\n`.repeat(i + 1), agent: false })),
      );
      t.same(
        replies.map((r) => [r.status, r.value.length]),
        Array.from({ length: 50 }, (_, i) => [200, `request ${i}\n`.length * (i + 1)]),
      );
    });

    t.test('a streamed response and an application error', async (t) => {
      const streamed = await fetchBuffer(`${proxy.url}/stream?size=1000000`);
      t.equal(streamed.status, 200);
      t.equal(streamed.headers['content-type'], 'application/octet-stream', 'the response head came through the fallback');
      t.equal(streamed.body.length, 1_000_000);
      t.equal((await fetchBuffer(`${proxy.url}/fail-before`)).status, 500);
    });
  });
}
