// tsgi_request_buffering (on by default, as nginx's proxy_request_buffering): a body is read
// whole before any runner hears of its request — in memory, then in an unlinked temporary
// file — so a slow uploader never holds an app worker. The streaming path (off) is what the
// relay and hostile-client-limits tests check.
import { mkdirSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { fetchBuffer, pattern, patternHash } from '../helpers/http.js';
import { openRaw } from '../helpers/raw.js';
import { FIXTURES, startProxy, startRunner, tempDir, until } from '../helpers/processes.js';

const dir = tempDir(t);
const spool = join(dir, 'spool');
mkdirSync(spool);
const recording = await startRunner(t, { app: join(FIXTURES, 'recording-app.js'), socket: join(dir, 'rec.sock') });
await startRunner(t, { app: join(FIXTURES, 'app.js'), socket: join(dir, 'app.sock') });
const proxy = await startProxy(
  t,
  dir,
  `
upstream rec { server unix:${join(dir, 'rec.sock')}; }
upstream app { server unix:${join(dir, 'app.sock')}; }
server {
    listen 127.0.0.1:0;
    client_max_body_size 64m;
    client_body_buffer_size 16k;
    client_body_temp_path ${spool};
    location / { tsgi_pass app; }
    location /rec/ { tsgi_pass rec; }
    location /small/ { tsgi_pass rec; client_max_body_size 10k; }
    location /nowhere/ { tsgi_pass app; tsgi_script_name /nowhere; client_body_temp_path ${join(dir, 'missing')}; }
}
`,
);
const MiB = 1024 * 1024;
const HOST = 'Host: tsgi.test\r\n';
const appSaw = (what: string, uri: string) => recording.proc.logs.some((l) => l.msg === `${what} ${uri}`);

/** The proxy's open files that are temporary bodies in the spool directory. */
function spooled(): string[] {
  const fds = join('/proc', String(proxy.proc.pid), 'fd');
  return readdirSync(fds)
    .map((fd) => {
      try {
        return readlinkSync(join(fds, fd));
      } catch {
        return ''; // closed meanwhile
      }
    })
    .filter((target) => target.startsWith(join(spool, 'tsgi-body-')));
}

/** A raw POST whose body the test writes itself; resolves the answer's text when the proxy closes or answers whole. */
async function rawPost(path: string, head: string) {
  const client = await openRaw(proxy.port);
  t.teardown(() => client.destroy());
  let text = '';
  client.setEncoding('latin1').on('data', (d: string) => (text += d));
  client.write(`POST ${path} HTTP/1.1\r\n${HOST}${head}\r\n`);
  return { client, text: () => text };
}

t.test('a slow upload reaches the app only once it is whole; others are served meanwhile', async (t) => {
  const post = await rawPost('/rec/slow', 'Content-Length: 40000\r\n');
  post.client.write('a'.repeat(20_000));
  // Evidence that the proxy read the first half: past 16k it spilled to a file.
  await until('the proxy to have read the first half', () => spooled().length === 1);
  const probe = await fetchBuffer(`${proxy.url}/rec/probe`);
  t.equal(probe.status, 200, 'a request on another connection is answered meanwhile');
  t.notOk(appSaw('saw POST', '/rec/slow'), 'the app has not been called with half a body');
  post.client.write('b'.repeat(20_000));
  await until('the answer', () => post.text().includes('"bytes":40000'));
  // The app's log lines come through the runner's pipe, which may lag behind the answer.
  await until('the app to log the whole body', () => appSaw('saw POST', '/rec/slow') && appSaw('complete POST', '/rec/slow'));
  t.pass('then the app got it whole');
});

t.test('a chunked upload reaches the app with CONTENT_LENGTH, as nginx sends it', async (t) => {
  async function* chunks() {
    yield Buffer.alloc(3000, 'x');
    yield Buffer.alloc(4000, 'y');
  }
  const reply = await fetchBuffer(`${proxy.url}/environ`, { method: 'POST', body: chunks(), headers: { 'Transfer-Encoding': 'chunked' } });
  t.equal(reply.status, 200);
  t.equal(JSON.parse(reply.body.toString()).CONTENT_LENGTH, '7000');
});

t.test('past client_body_buffer_size the body is in an unlinked file; nothing is left after', async (t) => {
  const bytes = MiB;
  const post = await rawPost('/upload-hash', `Content-Length: ${bytes}\r\n`);
  const body = Buffer.concat([...pattern(bytes)]);
  post.client.write(body.subarray(0, bytes / 2));
  // Created, then unlinked at once: wait for the second step, which no read may see undone.
  await until('a temporary body file open in the proxy, removed from the directory', () => spooled().length === 1 && spooled()[0]!.endsWith(' (deleted)'));
  t.same(readdirSync(spool), [], 'the directory stays empty');
  post.client.write(body.subarray(bytes / 2));
  await until('the answer', () => post.text().includes('"sha256"'));
  t.match(post.text(), new RegExp(`"bytes":${bytes},"sha256":"${patternHash(bytes)}"`), 'the app read every byte in order');
  await until('the file to be closed', () => spooled().length === 0);
});

t.test('a client that leaves mid-upload takes its temporary file with it', async (t) => {
  const post = await rawPost('/upload-hash', `Content-Length: ${MiB}\r\n`);
  post.client.write(Buffer.alloc(MiB / 2, 'z'));
  await until('a temporary body file open in the proxy', () => spooled().length === 1);
  post.client.destroy();
  await until('the file to be closed', () => spooled().length === 0);
  t.same(readdirSync(spool), []);
});

t.test('an unusable client_body_temp_path: the body is streamed instead, whole', async (t) => {
  const bytes = 2 * MiB;
  const before = proxy.proc.logs.length;
  const reply = await fetchBuffer(`${proxy.url}/nowhere/upload-hash`, { method: 'POST', body: Buffer.concat([...pattern(bytes)]) });
  t.equal(reply.status, 200);
  t.same(JSON.parse(reply.body.toString()), { bytes, sha256: patternHash(bytes) });
  const warning = await proxy.proc.waitForLog((l) => l.msg === 'request body streamed: no temporary file' && proxy.proc.logs.indexOf(l) >= before);
  t.match(warning.reason, /ENOENT/);
});

t.test('a chunked body growing past client_max_body_size: 413, and no runner ever heard of it', async (t) => {
  const post = await rawPost('/small/grows', 'Transfer-Encoding: chunked\r\n');
  const chunk = `2000\r\n${'x'.repeat(0x2000)}\r\n`; // 8 KiB each, 10k allowed
  post.client.write(chunk + chunk);
  await until('the answer', () => post.text().includes('\r\n\r\n'));
  t.match(post.text(), /^HTTP\/1\.1 413 /);
  const probe = await fetchBuffer(`${proxy.url}/rec/after-413`);
  t.equal(probe.status, 200);
  await until('the app to see the probe', () => appSaw('saw GET', '/rec/after-413'));
  t.notOk(appSaw('saw POST', '/small/grows'), 'the app was never called');
});

t.test('tsgi_request_buffering off streams: the app is called before the body ends', async (t) => {
  const off = await startProxy(
    t,
    dir,
    `
upstream rec { server unix:${join(dir, 'rec.sock')}; }
server { listen 127.0.0.1:0; tsgi_request_buffering off; location / { tsgi_pass rec; } }
`,
  );
  const client = await openRaw(off.port);
  t.teardown(() => client.destroy());
  client.write(`POST /streamed HTTP/1.1\r\n${HOST}Content-Length: 20000\r\n\r\n${'a'.repeat(10_000)}`);
  await until('the app to be called with half a body', () => appSaw('saw POST', '/streamed'));
  t.notOk(appSaw('complete POST', '/streamed'));
  client.write('b'.repeat(10_000));
  await until('the app to read it all', () => appSaw('complete POST', '/streamed'));
});

