// A real Django project (Debian's python3-django, test/fixtures/python/django_site) behind real
// tsgi-proxy and `tsgi-runner --python` processes, with a fresh sqlite database migrated at
// setup: the admin login a Django user tries first, CSRF, sessions, streaming and JSON.
// Static files are not covered: the proxy does not serve them yet.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { fetchBuffer, send, type Reply, type RequestOptions } from '../helpers/http.js';
import { childEnv, startProxy, startRunner, tempDir } from '../helpers/processes.js';
import { PYTHON, PYTHON_APPS } from '../helpers/python.js';

const PASSWORD = 'correct horse battery staple';

/** The cookies a browser would send back: each Set-Cookie replaces or (when expired) removes its name. */
class Jar {
  private readonly cookies = new Map<string, string>();

  take(reply: Reply): this {
    for (const line of reply.headers['set-cookie'] ?? []) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line) || /max-age=0\b/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return this;
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  header(): Record<string, string> {
    return this.cookies.size ? { Cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {};
  }
}

/** The project's database, migrated, with a superuser: as an operator prepares it before starting the app. */
function prepareDatabase(env: NodeJS.ProcessEnv): void {
  const django = (...args: string[]) => {
    const run = spawnSync(PYTHON, ['-m', 'django', ...args], { cwd: PYTHON_APPS, env, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`django-admin ${args.join(' ')} failed (${run.status}): ${run.stderr}`);
  };
  django('migrate', '--noinput', '-v', '0');
  django('createsuperuser', '--noinput', '--username', 'admin', '--email', 'admin@example.com');
}

async function main(): Promise<void> {
  const dir = tempDir(t);
  // Read by the settings, and inherited by the runner and its Python worker.
  process.env.TSGI_DJANGO_DATA = dir;
  process.env.DJANGO_SETTINGS_MODULE = 'django_site.settings';
  prepareDatabase({ ...childEnv(), DJANGO_SUPERUSER_PASSWORD: PASSWORD });

  const socket = join(dir, 'django.sock');
  const runner = await startRunner(t, {
    app: 'django_site.wsgi:application',
    socket,
    args: ['--python', '--python-executable', PYTHON, '--chdir', PYTHON_APPS, '--threads', '4'],
  });
  const proxy = await startProxy(
    t,
    dir,
    `
  upstream django { server unix:${socket}; }
  server {
      listen 127.0.0.1:0;
      location / { tsgi_pass django; }
      location /site/ { tsgi_pass django; tsgi_script_name /site; }
  }
  `,
  );

  const json = (reply: Reply) => JSON.parse(reply.body.toString()) as Record<string, unknown>;
  const get = (path: string, jar: Jar, options: RequestOptions = {}) =>
    fetchBuffer(`${proxy.url}${path}`, { ...options, headers: { ...jar.header(), ...options.headers } }).then((reply) => (jar.take(reply), reply));
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

  /** GET the login page: the csrftoken cookie, and the token of its form. */
  async function loginPage(jar: Jar): Promise<string> {
    const page = await get('/admin/login/?next=/admin/', jar);
    const token = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec(page.body.toString())?.[1];
    if (page.status !== 200 || !token || !jar.get('csrftoken')) throw new Error(`no login form with a CSRF token: ${page.status} ${page.body.toString().slice(0, 300)}`);
    return token;
  }

  t.test('admin login with CSRF, then the admin as a logged-in user', async (t) => {
    const jar = new Jar();
    const anonymous = await get('/admin/', jar);
    t.equal(anonymous.status, 302, 'the admin sends an anonymous user to its login page');
    t.equal(anonymous.headers.location, '/admin/login/?next=/admin/');

    const token = await loginPage(jar);
    const anonymousCsrf = jar.get('csrftoken');
    const wrong = await get('/admin/login/?next=/admin/', jar, {
      method: 'POST',
      headers: FORM,
      body: form({ csrfmiddlewaretoken: token, username: 'admin', password: 'wrong', next: '/admin/' }),
    });
    t.equal(wrong.status, 200, 'a wrong password shows the form again');
    t.match(wrong.body.toString(), /Please enter the correct username and password/);
    t.notOk(jar.get('sessionid'), 'and logs nobody in');

    const login = await get('/admin/login/?next=/admin/', jar, {
      method: 'POST',
      headers: FORM,
      body: form({ csrfmiddlewaretoken: token, username: 'admin', password: PASSWORD, next: '/admin/' }),
    });
    t.equal(login.status, 302, login.body.toString().slice(0, 300));
    t.equal(login.headers.location, '/admin/');
    t.ok(jar.get('sessionid'), 'a session cookie');
    t.not(jar.get('csrftoken'), anonymousCsrf, 'login rotates the CSRF cookie');

    const index = await get('/admin/', jar);
    t.equal(index.status, 200);
    t.match(index.headers['content-type'], /^text\/html/);
    t.match(index.body.toString(), /Site administration/);
    t.match(index.body.toString(), /<strong>admin<\/strong>/, 'welcomes the user by name');
    t.equal(index.headers['x-frame-options'], 'DENY', "the middleware's headers pass through");

    const users = await get('/admin/auth/user/', jar);
    t.equal(users.status, 200);
    t.match(users.body.toString(), /admin@example\.com/, 'a page read from the database');

    const visit = await get('/visits/', jar);
    t.same(json(visit), { visits: 1, user: 'admin' }, 'the same session in a view of the app');

    const logout = await get('/admin/logout/', jar);
    t.equal(logout.status, 200);
    t.equal((await get('/admin/', jar)).status, 302, 'logged out: back to the login page');
  });

  t.test('a session persists across requests', async (t) => {
    const jar = new Jar();
    t.same(json(await get('/visits/', jar)), { visits: 1, user: null });
    const session = jar.get('sessionid');
    t.ok(session, 'the session cookie');
    t.same(json(await get('/visits/', jar)), { visits: 2, user: null });
    t.same(json(await get('/visits/', jar)), { visits: 3, user: null });
    t.equal(jar.get('sessionid'), session, 'one session throughout');
    t.same(json(await get('/visits/', new Jar())), { visits: 1, user: null }, 'another client has its own');
  });

  t.test('a POST without the CSRF token is refused with 403', async (t) => {
    const jar = new Jar();
    const noToken = await get('/admin/login/', jar, { method: 'POST', headers: FORM, body: form({ username: 'admin', password: PASSWORD }) });
    t.equal(noToken.status, 403, 'no cookie, no token');
    t.match(noToken.body.toString(), /CSRF verification failed/);
    t.notOk(jar.get('sessionid'));

    const token = await loginPage(jar);
    const cookieOnly = await get('/admin/login/', jar, { method: 'POST', headers: FORM, body: form({ username: 'admin', password: PASSWORD }) });
    t.equal(cookieOnly.status, 403, 'the cookie without the form token');
    const forged = await get('/admin/login/', jar, { method: 'POST', headers: FORM, body: form({ csrfmiddlewaretoken: 'x'.repeat(64), username: 'admin', password: PASSWORD }) });
    t.equal(forged.status, 403, 'a token that does not match the cookie');
    t.notOk(jar.get('sessionid'));

    const body = JSON.stringify({ numbers: [1, 2, 39], name: 'é' });
    const bare = await get('/api/echo/', jar, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    t.equal(bare.status, 403, 'an API view refuses a POST without the X-CSRFToken header');
    const withHeader = await get('/api/echo/', jar, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRFToken': token }, body });
    t.equal(withHeader.status, 201, 'and accepts it with the header');
    t.same(json(withHeader), { received: { numbers: [1, 2, 39], name: 'é' }, total: 42 });
  });

  t.test('a StreamingHttpResponse arrives in order and whole', async (t) => {
    const n = 2000;
    const size = 100;
    const res = await send(`${proxy.url}/stream/?n=${n}&size=${size}`);
    t.equal(res.statusCode, 200);
    t.equal(res.headers['transfer-encoding'], 'chunked', 'no length: streamed');
    t.equal(res.headers['content-length'], undefined);
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const lines = Buffer.concat(chunks).toString().split('\n');
    t.equal(lines.pop(), '', 'ends with a whole line');
    t.equal(lines.length, n, 'every line');
    const dots = '.'.repeat(size);
    const firstWrong = lines.findIndex((line, i) => line !== `line ${i} of ${n} ${dots}`);
    t.equal(firstWrong, -1, 'each line in its place');
  });

  t.test('a JSON view: routing, query string, reverse(), under a prefix', async (t) => {
    const jar = new Jar();
    const item = await get('/api/items/41/?tag=a&tag=b%C3%A9', jar);
    t.equal(item.status, 200);
    t.equal(item.headers['content-type'], 'application/json');
    t.same(json(item), {
      id: 41,
      name: 'item 41',
      tags: ['a', 'bé'],
      path: '/api/items/41/',
      path_info: '/api/items/41/',
      reversed: '/api/items/42/',
      absolute: `http://127.0.0.1:${proxy.port}/api/items/41/?tag=a&tag=b%C3%A9`,
    });
    t.equal(item.headers['content-length'], String(item.body.length));

    const prefixed = json(await get('/site/api/items/7/', jar));
    t.match(prefixed, { path: '/site/api/items/7/', path_info: '/api/items/7/', reversed: '/site/api/items/8/' }, 'SCRIPT_NAME reaches reverse()');

    const slash = await get('/api/items/7', jar);
    t.equal(slash.status, 301, 'APPEND_SLASH redirects');
    t.equal(slash.headers.location, '/api/items/7/');
    const missing = await get('/api/items/x/', jar);
    t.equal(missing.status, 404);
    t.equal((await get('/api/echo/', jar)).status, 405, 'a GET to a POST-only view');
    t.notOk(runner.proc.logs.some((l) => Number(l.level) >= 50), 'nothing logged at error level');
    t.equal(runner.proc.stderr, '', 'nothing on stderr');
  });
}

const probe = spawnSync(PYTHON, ['-c', 'import django, msgpack'], { encoding: 'utf8' });
if (probe.status !== 0) t.plan(0, `${PYTHON} cannot import django and msgpack (apt-get install python3-django python3-msgpack; .ci/run does)`);
else await main();
