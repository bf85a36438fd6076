// A real Flask app (Debian's python3-flask) behind real tsgi-proxy and `tsgi-runner --python`
// processes: what a Flask user checks first when moving from uWSGI or gunicorn.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { fetchBuffer, hashBody, pattern, patternHash, send, type Reply } from '../helpers/http.js';
import { FIXTURES, peakRss, startProxy, startRunner, tempDir } from '../helpers/processes.js';

const PYTHON = '/usr/bin/python3';
const probe = spawnSync(PYTHON, ['-c', 'import flask, msgpack'], { encoding: 'utf8' });
if (probe.status !== 0) t.plan(0, `${PYTHON} cannot import flask and msgpack (apt-get install python3-flask python3-msgpack; .ci/run does)`);
else await main();

async function main(): Promise<void> {
  const MiB = 1024 * 1024;
  // Large enough that about a quarter of it held at once breaks the bounds below, small enough to
  // stay quick (1 GiB took 46 s of the suite).
  const BIG = 256 * MiB;
  const dir = tempDir(t);
  const socket = join(dir, 'flask.sock');
  const runner = await startRunner(t, {
    app: 'flask_app:app',
    socket,
    args: ['--python', '--python-executable', PYTHON, '--chdir', join(FIXTURES, 'python'), '--threads', '4'],
  });
  const proxy = await startProxy(
    t,
    dir,
    `
  upstream flask { server unix:${socket}; }
  server {
      listen 127.0.0.1:0;
      client_max_body_size 512m;
      location / { tsgi_pass flask; tsgi_read_timeout 60s; }
      location /shop/ { tsgi_pass flask; tsgi_script_name /shop; }
  }
  `,
  );

  const json = (reply: Reply) => JSON.parse(reply.body.toString()) as Record<string, unknown>;

  t.test('routing and JSON', async (t) => {
    const hello = await fetchBuffer(`${proxy.url}/`);
    t.equal(hello.status, 200);
    t.equal(hello.body.toString(), 'Hello from Flask');
    t.match(hello.headers['content-type'], /^text\/html/);

    const user = await fetchBuffer(`${proxy.url}/user/ann`);
    t.equal(user.headers['content-type'], 'application/json');
    t.same(json(user), { user: 'ann', url: '/user/ann', external: `http://127.0.0.1:${proxy.port}/user/ann`, script_name: '', path: '/user/ann' });

    const posted = await fetchBuffer(`${proxy.url}/json`, { method: 'POST', body: JSON.stringify({ numbers: [1, 2, 39], name: 'é' }), headers: { 'Content-Type': 'application/json' } });
    t.equal(posted.status, 201);
    t.same(json(posted), { received: { numbers: [1, 2, 39], name: 'é' }, total: 42 });
  });

  t.test('url_for under a prefix (SCRIPT_NAME)', async (t) => {
    const user = json(await fetchBuffer(`${proxy.url}/shop/user/bob`));
    t.same(user, { user: 'bob', url: '/shop/user/bob', external: `http://127.0.0.1:${proxy.port}/shop/user/bob`, script_name: '/shop', path: '/user/bob' });
    const login = await fetchBuffer(`${proxy.url}/shop/login?name=bob`);
    t.equal(login.status, 302);
    t.match(login.headers.location, /^(http:\/\/127\.0\.0\.1:\d+)?\/shop\/whoami$/, 'the redirect stays under the prefix');
  });

  t.test('forms and multipart file uploads', async (t) => {
    const form = await fetchBuffer(`${proxy.url}/form`, { method: 'POST', body: 'a=1&a=2&b=caf%C3%A9', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    t.same(json(form), { fields: { a: ['1', '2'], b: ['café'] } });

    const big = Buffer.alloc(3 * MiB + 17, 7);
    const body = new FormData();
    body.append('note', 'two files');
    body.append('file', new Blob([big], { type: 'application/octet-stream' }), 'big.bin');
    body.append('file', new Blob(['plain text'], { type: 'text/plain' }), 'small.txt');
    const reply = await fetch(`${proxy.url}/upload`, { method: 'POST', body });
    t.equal(reply.status, 200);
    const { createHash } = await import('node:crypto');
    const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
    t.same(await reply.json(), {
      note: 'two files',
      files: [
        { field: 'file', filename: 'big.bin', type: 'application/octet-stream', sha256: sha(big) },
        { field: 'file', filename: 'small.txt', type: 'text/plain', sha256: sha('plain text') },
      ],
    });
  });

  t.test('cookies, sessions and redirects', async (t) => {
    const login = await fetchBuffer(`${proxy.url}/login?name=zoé`);
    t.equal(login.status, 302);
    t.match(login.headers.location, /\/whoami$/);
    const cookies = login.headers['set-cookie'] ?? [];
    t.equal(cookies.length, 2, 'both Set-Cookie headers arrive separately');
    t.ok(cookies.some((c) => /^session=/.test(c)), 'the session cookie');
    t.ok(cookies.some((c) => /^theme=dark; HttpOnly/.test(c)), 'the plain cookie');
    const jar = cookies.map((c) => c.split(';')[0]).join('; ');

    const me = await fetchBuffer(`${proxy.url}/whoami`, { headers: { Cookie: jar } });
    t.same(json(me), { user: 'zoé', theme: 'dark' });
    const anonymous = await fetchBuffer(`${proxy.url}/whoami`);
    t.same(json(anonymous), { user: null, theme: null });

    const logout = await fetchBuffer(`${proxy.url}/logout`, { headers: { Cookie: jar } });
    t.equal(logout.status, 303);
    t.ok((logout.headers['set-cookie'] ?? []).some((c) => /^theme=; Expires=Thu, 01 Jan 1970/.test(c)), 'the cookie is deleted');
  });

  t.test('a response streamed from a generator', async (t) => {
    const res = await send(`${proxy.url}/stream?n=4`);
    t.equal(res.statusCode, 200);
    t.equal(res.headers['transfer-encoding'], 'chunked', 'no length: streamed');
    const chunks: string[] = [];
    for await (const chunk of res) chunks.push(String(chunk));
    t.equal(chunks.join(''), 'line 0 of 4\nline 1 of 4\nline 2 of 4\nline 3 of 4\n');
  });

  t.test('error handlers', async (t) => {
    const missing = await fetchBuffer(`${proxy.url}/nowhere`);
    t.equal(missing.status, 404);
    t.same(json(missing), { error: 'not found', path: '/nowhere' });
    const forbidden = await fetchBuffer(`${proxy.url}/forbidden`);
    t.equal(forbidden.status, 403);
    const boom = await fetchBuffer(`${proxy.url}/boom`);
    t.equal(boom.status, 500);
    t.same(json(boom), { error: 'internal', cause: 'ValueError' }, "Flask's own handler answers, not the server");
    // Flask logs the traceback to wsgi.errors; the worker writes it as one log entry.
    const logged = await runner.proc.waitForLog((l) => /ValueError: the view failed/.test(String(l.msg)));
    t.equal(logged.level, 50, 'at error level');
  });

  t.test('256 MiB streamed down and up with flat memory', async (t) => {
    const { pid } = json(await fetchBuffer(`${proxy.url}/pid`)) as { pid: number };
    // The proxy's peak so far (the uploads above, tap's coverage loader): what it may grow by.
    const proxyBefore = peakRss(proxy.proc.pid);
    const down = await send(`${proxy.url}/download?bytes=${BIG}`);
    t.equal(down.statusCode, 200);
    t.equal(down.headers['content-length'], String(BIG));
    const expected = patternHash(BIG);
    const received = await hashBody(down);
    t.same(received, { sha256: expected, bytes: BIG }, 'every byte of the download');

    const up = await fetchBuffer(`${proxy.url}/upload-hash`, {
      method: 'POST',
      body: pattern(BIG) as unknown as AsyncIterable<Uint8Array>,
      headers: { 'Content-Length': BIG, 'Content-Type': 'application/octet-stream' },
    });
    t.equal(up.status, 200);
    t.same(json(up), { sha256: expected, bytes: BIG }, 'every byte of the upload');

    // Holding about a sixth of the body at once breaks either bound (the worker peaks at ~35
    // MiB; the proxy grows by ~7 here, past the peak of the uploads above). Both bodies pass
    // through temporary files (buffering is on): before their copies and the pieces read back
    // were counted for a young collection (proxy/young-gc.ts) it grew by 37–38, and once by 68
    // on a busy CI machine, as far as V8's own limit for memory outside its heap lets it.
    // (No body byte passes through the runner's master: the workers serve the socket it bound.)
    const worker = peakRss(pid);
    t.ok(worker < 100 * MiB, `python worker peak RSS ${Math.round(worker / MiB)} MiB`);
    const grown = peakRss(proxy.proc.pid) - proxyBefore;
    t.ok(grown < 40 * MiB, `proxy peak RSS grew by ${Math.round(grown / MiB)} MiB`);
  });
}
