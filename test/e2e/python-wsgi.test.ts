// End to end: a Python WSGI app (test/fixtures/python/validated_app.py, under wsgiref's
// validator with its warnings as errors) in a Python worker of tsgi-runner --python, behind a
// real tsgi-proxy: the PEP 3333 server side. Every process is stopped by PID.
// (Supervision of Python workers: python-workers.test.ts.)
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import t from 'tap';
import { fetchBuffer, send } from '../helpers/http.js';
import { pace, peakRss, until } from '../helpers/processes.js';
import { fetchJson as json, pythonGroup, pythonMissing } from '../helpers/python.js';

const MiB = 1024 * 1024;
const missing = pythonMissing();
if (missing) t.plan(0, missing);
const group = (t: Parameters<typeof pythonGroup>[0], args: string[]) => pythonGroup(t, 'validated_app:app', args);

/** Reads `url` until `ok(body)` holds (close() runs after the response ended). */
async function readUntil(url: string, ok: (value: Record<string, number>) => boolean): Promise<Record<string, number>> {
  let value: Record<string, number> = {};
  await until(`${url} to show the expected counts`, async () => ok((value = JSON.parse((await fetchBuffer(url)).body.toString()) as Record<string, number>))).catch(() => undefined);
  return value;
}

t.test('one worker, 4 threads', async (t) => {
  const { runner, proxy } = await group(t, ['--threads', '4']);

  t.test('environ: PEP 3333 keys, native latin-1 strings, the wsgi flags', async (t) => {
    const { status, value } = await json(`${proxy.url}/environ?a=1`);
    t.equal(status, 200, 'the validator found nothing to warn about');
    t.equal(value.native, true, 'every str value is latin-1');
    t.match(value.strings, { REQUEST_METHOD: 'GET', PATH_INFO: '/environ', QUERY_STRING: 'a=1', SCRIPT_NAME: '', SERVER_PROTOCOL: 'HTTP/1.1', 'tsgi.request_id': /./ });
    t.same(value.flags, { 'wsgi.multithread': true, 'wsgi.multiprocess': false, 'wsgi.run_once': false, 'wsgi.input_terminated': true, 'wsgi.url_scheme': 'http' });
    t.same(value.version, [1, 0]);
    t.equal(value.file_wrapper, true);
  });

  t.test('non-ASCII path bytes round-trip', async (t) => {
    const reply = await fetchBuffer(`${proxy.url}/raw-path/caf%C3%A9%FF`);
    t.equal(reply.status, 200);
    t.same([...reply.body], [...Buffer.from('/raw-path/caf'), 0xc3, 0xa9, 0xff]);
  });

  t.test('a chunked upload through every wsgi.input method', async (t) => {
    const text = Array.from({ length: 3000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}\n`).join('') + 'no newline at the end';
    const body = Buffer.from(text);
    const sha256 = createHash('sha256').update(body).digest('hex');
    async function* pieces() {
      for (let at = 0; at < body.length; at += 777) yield body.subarray(at, at + 777);
    }
    for (const mode of ['read_n', 'readline', 'readline_limit', 'readlines', 'iter']) {
      const { status, value } = await json(`${proxy.url}/upload?mode=${mode}`, { method: 'POST', body: pieces(), headers: { 'Transfer-Encoding': 'chunked' } });
      t.equal(status, 200, mode);
      t.match(value, { length: body.length, sha256 }, `${mode}: the same bytes`);
    }
  });

  t.test('Expect: 100-continue uploads go through (the proxy answers 100 itself)', async (t) => {
    const body = 'x'.repeat(100_000);
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(proxy.port, '127.0.0.1');
      let seen = '';
      let sent = false;
      socket.setEncoding('latin1');
      socket.on('error', reject);
      socket.on('data', (chunk: string) => {
        seen += chunk;
        if (!sent && seen.startsWith('HTTP/1.1 100')) {
          sent = true;
          socket.write(body);
        }
        if (/\r\n\r\n\{.*\}$/s.test(seen)) {
          socket.end();
          resolve(seen);
        }
      });
      socket.write(`POST /upload?mode=read_n HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
    });
    t.match(reply, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/, 'a 100, then the response');
    t.match(reply, new RegExp(`"length": ${body.length}`));
  });

  t.test('write(), exc_info, close() once', async (t) => {
    const before = await json(`${proxy.url}/closes`);
    const written = await fetchBuffer(`${proxy.url}/write`);
    t.equal(written.body.toString(), 'written then returned');
    const replaced = await fetchBuffer(`${proxy.url}/exc-info-before`);
    t.equal(replaced.status, 503, 'exc_info before the head replaces it');
    t.equal(replaced.body.toString(), 'replaced by exc_info');
    const counted = await fetchBuffer(`${proxy.url}/counted`);
    t.equal(counted.body.toString(), 'ab');
    const after = await readUntil(`${proxy.url}/closes`, (v) => v.closes === (before.value.closes as number) + 2);
    t.equal(after.closes, (before.value.closes as number) + 2, 'close() ran once per response');
    // A negative check: a window in which a second close() would show.
    await pace(200);
    t.equal((await json(`${proxy.url}/closes`)).value.closes, after.closes, 'and never again');
  });

  const aborted = async (path: string): Promise<string> => {
    const res = await send(`${proxy.url}${path}`).catch(() => null);
    if (!res) return 'aborted';
    return new Promise((resolve) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve('complete'));
      res.on('error', () => resolve('aborted'));
      res.on('aborted', () => resolve('aborted'));
    });
  };

  t.test('an error before the head is a 500 logged with the request id', async (t) => {
    const reply = await fetchBuffer(`${proxy.url}/fail-before`);
    t.equal(reply.status, 500);
    const line = await runner.proc.waitForLog((l) => l.msg === 'application error' && l.path === '/fail-before');
    t.match(line, { level: 50, reqId: /./, headSent: false, err: { type: 'RuntimeError', message: 'failed before the head', stack: /Traceback/ } });
  });

  t.test('an error after the head aborts the response; exc_info after the head re-raises', async (t) => {
    t.equal(await aborted('/fail-after'), 'aborted');
    t.equal(await aborted('/exc-info-after'), 'aborted');
    await runner.proc.waitForLog((l) => l.msg === 'application error' && l.path === '/exc-info-after' && l.headSent === true);
  });

  t.test('wsgi.errors goes to the log with the request id', async (t) => {
    await fetchBuffer(`${proxy.url}/errors`);
    t.match(await runner.proc.waitForLog((l) => l.msg === 'a line for the log'), { reqId: /./, level: 50 });
  });

  t.test('file_wrapper: through the validator (read) and with sendfile', async (t) => {
    const size = 5 * MiB + 123;
    for (const path of ['/file', '/sendfile']) {
      const reply = await fetchBuffer(`${proxy.url}${path}?size=${size}`);
      t.equal(reply.status, 200, path);
      t.equal(reply.body.length, size, `${path}: every byte`);
      t.ok(reply.body.every((b, i) => b === (i & 0xff)), `${path}: the file's bytes`);
    }
    const capped = await fetchBuffer(`${proxy.url}/sendfile-head`);
    t.equal(capped.status, 200);
    t.equal(capped.body.length, 1000, 'sendfile stops at the Content-Length the app declared');
  });

  t.test('4 threads: 4 slow requests overlap', async (t) => {
    const replies = await Promise.all(Array.from({ length: 4 }, () => fetchBuffer(`${proxy.url}/sleep?s=1`, { agent: false })));
    t.same(replies.map((r) => r.status), [200, 200, 200, 200]);
    t.equal((await json(`${proxy.url}/closes`)).value.peak_sleeping, 4, 'all four were in the app at once');
  });

  t.test('200 concurrent uploads on 4 threads', async (t) => {
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => json(`${proxy.url}/upload?mode=readline`, { method: 'POST', body: `request ${i}\n`, agent: false })),
    );
    t.same(
      replies.map((r) => [r.status, r.value.length]),
      Array.from({ length: 200 }, (_, i) => [200, `request ${i}\n`.length]),
    );
  });

  t.test('a client that leaves: the app is closed', async (t) => {
    const before = (await json(`${proxy.url}/closes`)).value.cancelled_closes as number;
    const res = await send(`${proxy.url}/endless`);
    await new Promise((resolve) => res.once('data', resolve));
    res.destroy();
    const after = await readUntil(`${proxy.url}/closes`, (v) => v.cancelled_closes === before + 1);
    t.equal(after.cancelled_closes, before + 1, 'close() ran once');
  });

  t.test('256 MiB down and up, streamed with flat worker memory', async (t) => {
    const pid = Number((await fetchBuffer(`${proxy.url}/pid`)).body);
    const size = 256 * MiB;
    const res = await send(`${proxy.url}/stream?size=${size}`);
    let received = 0;
    for await (const chunk of res) received += (chunk as Buffer).length;
    t.equal(received, size, 'download complete');
    const block = Buffer.alloc(MiB, 0x79);
    async function* upload() {
      for (let i = 0; i < size / MiB; i++) yield block;
    }
    const { value } = await json(`${proxy.url}/sink`, { method: 'POST', body: upload(), headers: { 'Transfer-Encoding': 'chunked' } });
    t.equal(value.length, size, 'upload complete');
    const peak = peakRss(pid);
    t.ok(peak < 150 * MiB, `worker peak RSS ${Math.round(peak / MiB)} MiB`);
  });
});
