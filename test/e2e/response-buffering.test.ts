// tsgi_buffering (on by default, as nginx's proxy_buffering): the proxy takes a response off the
// runner as fast as the app produces it — in memory, then in an unlinked temporary file — and
// feeds a slow client at its own pace, so the app is free long before the client has read.
// Every test reads the whole body back and checks it byte for byte, and that no file is left.
import { mkdirSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import t from 'tap';
import { fetchBuffer, hashBody, pattern, patternHash, send } from '../helpers/http.js';
import { FIXTURES, startProxy, startRunner, tempDir, until } from '../helpers/processes.js';

const dir = tempDir(t);
const spool = join(dir, 'spool');
mkdirSync(spool);
const full = join(dir, 'full');
mkdirSync(full);
const runner = await startRunner(t, { app: join(FIXTURES, 'app.js'), socket: join(dir, 'app.sock') });
const proxy = await startProxy(
  t,
  dir,
  `
upstream app { server unix:${join(dir, 'app.sock')}; }
server {
    listen 127.0.0.1:0;
    tsgi_temp_path ${spool};
    location / { tsgi_pass app; }
    location /streamed/ { tsgi_pass app; tsgi_script_name /streamed; tsgi_buffering off; }
    location /memory/ { tsgi_pass app; tsgi_script_name /memory; tsgi_max_temp_file_size 0; tsgi_buffers 4 64k; tsgi_busy_buffers_size 128k; }
    location /capped/ { tsgi_pass app; tsgi_script_name /capped; tsgi_max_temp_file_size 1m; }
    location /nowhere/ { tsgi_pass app; tsgi_script_name /nowhere; tsgi_temp_path ${join(dir, 'missing')}; }
    location /impatient/ { tsgi_pass app; tsgi_script_name /impatient; send_timeout 1s; }
    location /impatient-memory/ {
        tsgi_pass app; tsgi_script_name /impatient-memory; send_timeout 1s;
        tsgi_max_temp_file_size 0; tsgi_buffers 4 16m; tsgi_busy_buffers_size 16m;
    }
    location /full/ {
        tsgi_pass app; tsgi_script_name /full;
        tsgi_temp_path ${full}; client_body_temp_path ${full}; client_max_body_size 64m;
    }
}
`,
);
const MiB = 1024 * 1024;
const SIZE = 8 * MiB;
/**
 * For the tests where the app must still be waiting: more than the kernel's socket buffers can
 * take for a client that does not read (a few MiB on loopback, and they grow under autotuning).
 */
const HELD = 24 * MiB;

/** The proxy's descriptors of temporary response files (gone from the directory, so "(deleted)"). */
function spooledFds(): string[] {
  const fds = join('/proc', String(proxy.proc.pid), 'fd');
  return readdirSync(fds)
    .map((fd) => join(fds, fd))
    .filter((fd) => {
      try {
        return readlinkSync(fd).startsWith(join(spool, 'tsgi-response-'));
      } catch {
        return false; // closed meanwhile
      }
    });
}
const spooled = () => spooledFds();
/** The sizes of those files, read through the descriptors (the only way left to them). */
const spooledSizes = () => spooledFds().map((fd) => statSync(fd).size);

let tags = 0;

/**
 * A GET of the pattern whose body the test does not read until it resumes it; `produced()`:
 * the app has logged that it handed over the last block of this very response.
 */
async function stalled(path: string): Promise<{ res: IncomingMessage; produced: () => boolean }> {
  const tag = `t${++tags}`;
  const res = await send(`${proxy.url}${path}&tag=${tag}`, { agent: false });
  res.pause();
  t.teardown(() => res.destroy());
  const prefix = `big produced ${tag} `;
  return { res, produced: () => runner.proc.logs.some((l) => String(l.msg).startsWith(prefix)) };
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('the app is done with a response long before a stalled client reads it', async (t) => {
  const { res, produced } = await stalled(`/big?bytes=${HELD}`);
  await until('the app to have produced the whole response', produced, 15_000);
  t.equal(spooled().length, 1, 'the part the client has not read waits in a temporary file');
  t.same(readdirSync(spool), [], 'the file is not in the directory: a killed proxy leaves nothing behind');
  const body = await hashBody(res);
  t.equal(res.statusCode, 200);
  t.same(body, { sha256: patternHash(HELD), bytes: HELD }, 'then the client reads every byte, in order');
  await until('the temporary file to be closed', () => spooled().length === 0);
});

t.test('a slow reader gets the response whole from the file, at its own pace', async (t) => {
  const res = await send(`${proxy.url}/big?bytes=${4 * MiB}`, { agent: false });
  const body = await hashBody(res, { pause: { everyBytes: 256 * 1024, ms: 15 } });
  t.same(body, { sha256: patternHash(4 * MiB), bytes: 4 * MiB });
  await until('no temporary file left', () => spooled().length === 0);
});

t.test('tsgi_buffering off: the app is held back until the client reads', async (t) => {
  const { res, produced } = await stalled(`/streamed/big?bytes=${HELD}`);
  await settle(800);
  t.notOk(produced(), 'the app still waits for credit');
  t.equal(spooled().length, 0, 'no temporary file');
  t.same(await hashBody(res), { sha256: patternHash(HELD), bytes: HELD });
});

t.test('X-Accel-Buffering from the app turns buffering off (and on) per response, and is not passed on', async (t) => {
  const { res, produced } = await stalled(`/big?bytes=${HELD}&accel=no`);
  t.equal(res.headers['x-accel-buffering'], undefined, 'the header is for the proxy only');
  await settle(800);
  t.notOk(produced(), 'streamed: the app waits for the client');
  t.same(await hashBody(res), { sha256: patternHash(HELD), bytes: HELD });

  const on = await stalled(`/streamed/big?bytes=${SIZE}&accel=yes`);
  await until('the app to have produced the response the location streams', on.produced, 15_000);
  t.same(await hashBody(on.res), { sha256: patternHash(SIZE), bytes: SIZE });
});

t.test('tsgi_max_temp_file_size 0: buffered in memory only, then the app is held back', async (t) => {
  const { res, produced } = await stalled(`/memory/big?bytes=${HELD}`);
  await settle(800);
  t.notOk(produced(), 'past the memory buffers the app waits');
  t.equal(spooled().length, 0, 'no temporary file');
  t.same(await hashBody(res), { sha256: patternHash(HELD), bytes: HELD });
});

t.test('tsgi_max_temp_file_size reached: the file stops growing and the app waits', async (t) => {
  const { res, produced } = await stalled(`/capped/big?bytes=${HELD}`);
  await until('a temporary file', () => spooled().length === 1);
  await settle(800);
  t.notOk(produced(), 'the app waits once 1m waits in the file');
  const [size] = spooledSizes();
  // 1m, plus what the runner had sent without credit when the limit was crossed (a window).
  t.ok(size! >= MiB && size! <= 3 * MiB, `the file holds 1m and at most a window more (${size} bytes)`);
  t.same(await hashBody(res), { sha256: patternHash(HELD), bytes: HELD });
  await until('the app to finish once the client read', produced);
  await until('no temporary file left', () => spooled().length === 0);
});

t.test('an unusable tsgi_temp_path: a warning, the app held back, the response whole', async (t) => {
  const { res } = await stalled(`/nowhere/big?bytes=${SIZE}`);
  await proxy.proc.waitForLog((l) => l.msg === 'response no longer buffered: temporary file failed' && String(l.reason).includes('ENOENT'));
  t.same(await hashBody(res), { sha256: patternHash(SIZE), bytes: SIZE }, 'no byte lost, none twice');
});

t.test('a client that leaves mid-response: the file is closed', async (t) => {
  const { res, produced } = await stalled(`/big?bytes=${SIZE}`);
  await until('the response in a temporary file', () => produced() && spooled().length === 1, 15_000);
  res.destroy();
  await until('the temporary file to be closed', () => spooled().length === 0);
  const again = await send(`${proxy.url}/big?bytes=${MiB}`, { agent: false });
  t.same(await hashBody(again), { sha256: patternHash(MiB), bytes: MiB }, 'the next response is fine');
});

t.test('a client that stops reading a buffered response is cut at send_timeout', async (t) => {
  // (The client itself sees the close only once it reads: the kernel sends the FIN after the
  // bytes already queued for it, as with nginx.)
  const { res } = await stalled(`/impatient/big?bytes=${HELD}`);
  await until('a temporary file', () => spooled().length === 1);
  const aborted = await proxy.proc.waitForLog((l) => l.msg === 'response aborted' && l.code === 'TSGI_CLIENT_TIMEOUT');
  t.match(aborted.reason, /send_timeout/);
  await until('the temporary file to be closed', () => spooled().length === 0);
  res.destroy();
});

t.test('a client that never reads the end of a response is cut at send_timeout too', async (t) => {
  // All of it fits the memory buffers, so the runner is never held back, and its last byte comes
  // alone, after the rest was credited: nothing waits for the client when the response ends,
  // only the bytes the kernel would not take are left.
  const timedOut = () => proxy.proc.logs.filter((l) => l.msg === 'response aborted' && l.code === 'TSGI_CLIENT_TIMEOUT').length;
  const before = timedOut();
  const res = await send(`${proxy.url}/impatient-memory/late-end?bytes=${HELD}&tag=late`, { agent: false });
  res.pause();
  t.teardown(() => res.destroy());
  await until('the app to send its last byte', () => runner.proc.logs.some((l) => String(l.msg).startsWith('late-end ending late ')));
  t.equal(spooled().length, 0, 'no temporary file: it is all in memory');
  await until('the proxy to give up on the client (send_timeout 1s)', () => timedOut() > before, 10_000);
  res.destroy();
});

t.test('a full disk: the response falls back to holding the runner back and arrives whole; so does an upload', async (t) => {
  // A 1 MiB tmpfs is a disk that fills (ENOSPC). A file size limit (RLIMIT_FSIZE) would be
  // simpler, but under tap's instrumentation its SIGXFSZ kills the process (Node ignores it).
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', full], { stdio: 'pipe' });
  } catch (err) {
    t.skip(`cannot mount a small tmpfs here (needs root): ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`, () => {});
    return;
  }
  t.teardown(() => execFileSync('umount', ['-l', full]));
  const { res } = await stalled(`/full/big?bytes=${SIZE}`);
  const warning = await proxy.proc.waitForLog((l) => l.msg === 'response no longer buffered: temporary file failed' && String(l.tempDir) === full);
  t.match(warning.reason, /ENOSPC|took/, 'the warning says why');
  t.same(await hashBody(res), { sha256: patternHash(SIZE), bytes: SIZE }, 'no byte lost, none twice');

  const upload = await fetchBuffer(`${proxy.url}/full/upload-hash`, { method: 'POST', body: Buffer.concat([...pattern(4 * MiB)]) });
  t.equal(upload.status, 200);
  t.same(JSON.parse(upload.body.toString()), { bytes: 4 * MiB, sha256: patternHash(4 * MiB) }, 'the upload streamed on, whole');
  await proxy.proc.waitForLog((l) => l.msg === 'request body streamed: no temporary file' && String(l.tempDir) === full);
  await until('no temporary file left', () => spooled().length === 0);
  t.same(readdirSync(full), [], 'and nothing on the disk');
});
