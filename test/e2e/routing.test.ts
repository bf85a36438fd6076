// End to end: nginx's routing rules through a real tsgi-proxy and tsgi-runner. The app (written
// to a temp dir) answers every path with its environ as JSON, and every server and location of
// the config tags the environ with tsgi_param, so each answer shows where the request went.
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startProxy, startRunner, tempDir } from '../helpers/processes.js';

const APP = `
export default function app(environ, startResponse) {
  startResponse('200 OK', [['Content-Type', 'application/json']]);
  const plain = Object.fromEntries(Object.entries(environ).filter(([, v]) => typeof v !== 'object'));
  return [JSON.stringify(plain)];
}
`;

const dir = tempDir(t);
writeFileSync(join(dir, 'environ-app.mjs'), APP);
const socket = join(dir, 'app.sock');
await startRunner(t, { app: join(dir, 'environ-app.mjs'), socket });

/** A location that passes to the app and tags the environ (tsgi_param lists are not merged). */
function loc(match: string, route: string, server: string, ...extra: string[]): string {
  return `location ${match} { tsgi_pass app; tsgi_param SERVER ${server}; tsgi_param ROUTE ${route}; ${extra.join(' ')} }`;
}

const config = `
upstream app { server unix:${socket}; }

server {
    listen 127.0.0.1:0;
    server_name "~^(?<name>.+)\\.example\\.net$" ~^api\\d+\\.;
    ${loc('/', 'root', 'regex')}
}
server {
    listen 127.0.0.1:0;
    server_name www.example.*;
    ${loc('/', 'root', 'trailing')}
}
server {
    listen 127.0.0.1:0;
    server_name *.example.com;
    ${loc('/', 'root', 'leading')}
}
server {
    listen 127.0.0.1:0;
    server_name example.com www.example.com "";
    ${loc('/', 'root', 'exact')}
}
server {
    listen 127.0.0.1:0 default_server;
    server_name routes.test;

    ${loc('= /', 'A', 'routes')}
    ${loc('/', 'B', 'routes')}
    ${loc('/documents/', 'C', 'routes')}
    ${loc('^~ /images/', 'D', 'routes')}
    ${loc('~* \\.(gif|jpg|jpeg)$', 'E', 'routes')}
    ${loc('/api/', 'api', 'routes', loc('~ \\.json$', 'api-json', 'routes'), loc('/api/v1/', 'v1', 'routes'))}
    ${loc('~ \\.json$', 'json', 'routes')}
    ${loc('/app/', 'mounted', 'routes', 'tsgi_script_name /app;')}
    location = /health { return 200 "ok $host\\n"; }
    location /old/ { return 301 /new$is_args$args; }
    location /gone { return 410; }
}
server {
    listen 127.0.0.1:0;
    server_name redirect.test;
    return 308 https://example.org$request_uri;
    ${loc('/', 'never', 'redirect')}
}
`;

const proxy = await startProxy(t, dir, config);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** GET with a Host header; a timeout so a request the proxy never answers fails the test. */
function get(path: string, host: string, timeoutMs = 5000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxy.port, path, headers: { Host: host }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('latin1') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer to ${host}${path} in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function environ(path: string, host: string): Promise<Record<string, string>> {
  const answer = await get(path, host);
  if (answer.status !== 200) throw new Error(`${host}${path}: ${answer.status} ${answer.body}`);
  return JSON.parse(answer.body) as Record<string, string>;
}

t.test('server_name precedence through the Host header', async (t) => {
  const table: Array<[host: string, server: string]> = [
    ['example.com', 'exact'],
    ['www.example.com', 'exact'],
    ['EXAMPLE.com.', 'exact'],
    ['foo.example.com', 'leading'],
    ['a.b.example.com', 'leading'],
    ['www.example.net', 'trailing'],
    ['www.example.org', 'trailing'],
    ['shop.example.net', 'regex'],
    ['api7.test', 'regex'],
    ['routes.test', 'routes'],
    ['unknown.test', 'routes'], // the default_server
  ];
  for (const [host, server] of table) t.equal((await environ('/x', `${host}:${proxy.port}`)).SERVER, server, host);
});

t.test('a request without Host goes to the server named ""', async (t) => {
  const raw = await new Promise<string>((resolve, reject) => {
    // No half-close: a client that shuts its side down may be taken for one that went away.
    const conn = connect(proxy.port, '127.0.0.1', () => conn.write('GET /x HTTP/1.0\r\n\r\n'));
    conn.setTimeout(5000, () => conn.destroy(new Error('no answer in 5 s')));
    let text = '';
    conn.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
    conn.on('end', () => resolve(text));
    conn.on('error', reject);
  });
  t.match(raw, /^HTTP\/1\.[01] 200/);
  t.match(raw, /"SERVER":"exact"/);
});

t.test('location precedence', async (t) => {
  const table: Array<[path: string, route: string]> = [
    ['/', 'A'],
    ['/index.html', 'B'],
    ['/documents/document.html', 'C'],
    ['/images/1.gif', 'D'],
    ['/documents/1.jpg', 'E'],
    ['/documents/1.JPG', 'E'],
    ['/api/x', 'api'],
    ['/api/x.json', 'api-json'], // the nested regex first
    ['/api/v1/x.json', 'api-json'],
    ['/api/v1/x', 'v1'],
    ['/other.json', 'json'],
    ['/images/a.json', 'D'],
    // Locations match the percent-decoded path, as in nginx.
    ['/images%2F1.gif', 'D'],
    ['/%64ocuments/x', 'C'],
  ];
  for (const [path, route] of table) t.equal((await environ(path, 'routes.test')).ROUTE, route, path);
});

// The subtests below need proxy/dispatch.ts to apply LocationConfig.scriptName, `return`
// (returnResponse) and ServerConfig.return; until then they fail.

t.test('an app mounted with tsgi_script_name sees SCRIPT_NAME and the rest in PATH_INFO', async (t) => {
  const env = await environ('/app/users/42?x=1', 'routes.test');
  t.match(env, { ROUTE: 'mounted', SCRIPT_NAME: '/app', PATH_INFO: '/users/42', QUERY_STRING: 'x=1', REQUEST_URI: '/app/users/42?x=1' });
  const root = await environ('/app/', 'routes.test');
  t.match(root, { SCRIPT_NAME: '/app', PATH_INFO: '/' });
  const elsewhere = await environ('/index.html', 'routes.test');
  t.match(elsewhere, { SCRIPT_NAME: '', PATH_INFO: '/index.html' });
});

t.test('return: text, redirect with variables, bare status', async (t) => {
  const health = await get('/health', 'Routes.Test:1234');
  t.match(health, { status: 200, body: 'ok routes.test\n' });
  t.equal(health.headers['content-type'], 'text/plain');
  const old = await get('/old/page?a=1', 'routes.test');
  t.equal(old.status, 301);
  t.equal(old.headers.location, `http://routes.test:${proxy.port}/new?a=1`);
  t.equal((await get('/gone', 'routes.test')).status, 410);
});

t.test("nginx's trailing-slash redirect for a tsgi_pass location", async (t) => {
  const answer = await get('/documents?page=2', 'routes.test');
  t.equal(answer.status, 301);
  t.equal(answer.headers.location, `http://routes.test:${proxy.port}/documents/?page=2`);
});

t.test('a server-level return answers every path', async (t) => {
  for (const path of ['/', '/x?y=1']) {
    const answer = await get(path, 'redirect.test');
    t.equal(answer.status, 308, path);
    t.equal(answer.headers.location, `https://example.org${path}`, path);
  }
});

/** Raw bytes on one connection, read until the proxy closes it (a client may send absolute-form). */
function rawExchange(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = connect(proxy.port, '127.0.0.1', () => conn.write(text));
    conn.setTimeout(5000, () => conn.destroy(new Error('no answer in 5 s')));
    let reply = '';
    conn.setEncoding('latin1').on('data', (chunk: string) => (reply += chunk));
    conn.on('end', () => resolve(reply));
    conn.on('error', reject);
  });
}

t.test('an absolute-form target: its host chooses the server and is $host and HTTP_HOST (RFC 9112 §3.2.2)', async (t) => {
  const reply = await rawExchange('GET http://WWW.Example.com/x%20y?q=1 HTTP/1.1\r\nHost: routes.test\r\nConnection: close\r\n\r\n');
  t.match(reply, /^HTTP\/1\.1 200 /);
  const env = JSON.parse(/\{[^]*\}/.exec(reply)![0]) as Record<string, string>; // one chunk
  t.match(env, { SERVER: 'exact', PATH_INFO: '/x y', QUERY_STRING: 'q=1', HTTP_HOST: 'WWW.Example.com', SERVER_NAME: 'example.com' });
  t.equal(env.REQUEST_URI, 'http://WWW.Example.com/x%20y?q=1', 'REQUEST_URI as received');
  const health = await rawExchange('GET http://Routes.Test/health HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n');
  t.match(health, /^HTTP\/1\.1 200 [^]*\r\n\r\nok routes\.test\n$/, '$host');
  const old = await rawExchange('GET https://routes.test/old/page?a=1 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n');
  t.match(old, new RegExp(`^HTTP/1\\.1 301 [^]*\\r\\nLocation: http://routes\\.test:${proxy.port}/new\\?a=1\\r\\n`), 'a redirect to its host');
  const redirect = await rawExchange('GET http://redirect.test/x?y=1 HTTP/1.1\r\nHost: routes.test\r\nConnection: close\r\n\r\n');
  t.match(redirect, /^HTTP\/1\.1 308 [^]*\r\nLocation: https:\/\/example\.org\/x\?y=1\r\n/, '$request_uri without the scheme and host, as nginx');
  const ftp = await rawExchange('GET ftp://routes.test/x HTTP/1.1\r\nHost: routes.test\r\n\r\n');
  t.match(ftp, /^HTTP\/1\.1 400 /, 'only http and https');
});

/** A port free on every address right now (the proxy binds it next; nothing else should race for it). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

t.test('listen PORT beside listen 127.0.0.1:PORT: one wildcard socket, servers chosen by local address', async (t) => {
  const port = await freePort();
  const both = await startProxy(
    t,
    dir,
    `upstream app { server unix:${socket}; }
     server { listen *:${port}; ${loc('/', 'root', 'wildcard')} }
     server { listen 127.0.0.1:${port}; ${loc('/', 'root', 'loopback')} }`,
  );
  const ask = (address: string) =>
    new Promise<Record<string, string>>((resolve, reject) => {
      const req = request({ host: address, port: both.port, path: '/x', headers: { Host: 'any.test' }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('latin1')) as Record<string, string>));
      });
      req.on('error', reject);
      req.end();
    });
  t.equal(both.port, port);
  t.match(await ask('127.0.0.1'), { SERVER: 'loopback', SERVER_PORT: String(port) }, 'the address of its own listen');
  t.match(await ask('127.0.0.2'), { SERVER: 'wildcard', SERVER_PORT: String(port) }, 'any other address: the wildcard servers');
});
