// The typed config the routing directives build: locations (modifiers, regexes, nesting,
// inheritance), server names, tsgi_script_name, return, and the byte-string form of values.
import { hostname } from 'node:os';
import t from 'tap';
import { parseConfig } from '../../../proxy/config/load.js';

const S = 1000;
const bytes = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

t.test('every location modifier, glued or not; regexes compiled once, ~* case-insensitively', async (t) => {
  const config = parseConfig(
    `server {
       location = /a { return 204; }
       location =/b { return 204; }
       location ^~ /c/ { return 204; }
       location ^~/d/ { return 204; }
       location ~ ^/e$ { return 204; }
       location ~^/f$ { return 204; }
       location ~* \\.png$ { return 204; }
       location ~*\\.gif$ { return 204; }
       location "~" { return 204; }
       location /g { return 204; }
     }`,
    'm.conf',
  );
  t.same(
    config.servers[0]!.locations.map((l) => [l.modifier, l.uri, l.regex]),
    [
      ['=', '/a', undefined],
      ['=', '/b', undefined],
      ['^~', '/c/', undefined],
      ['^~', '/d/', undefined],
      ['~', '^/e$', /^\/e$/],
      ['~', '^/f$', /^\/f$/],
      ['~*', '\\.png$', /\.png$/i],
      ['~*', '\\.gif$', /\.gif$/i],
      ['', '~', undefined], // one argument "~" is a prefix, as in nginx
      ['', '/g', undefined],
    ],
  );
});

t.test('nested locations inherit from the location around them, not its tsgi_pass or return', async (t) => {
  const config = parseConfig(
    `tsgi_read_timeout 10s;
     server {
       tsgi_param LEVEL server;
       location /app/ {
         tsgi_pass unix:/app.sock;
         tsgi_read_timeout 20s;
         tsgi_script_name /app;
         location /app/slow/ { tsgi_pass unix:/app.sock; tsgi_read_timeout 90s; }
         location ~ \\.json$ {
           tsgi_pass unix:/json.sock;
           tsgi_param LEVEL json;
           location ~ ^/app/x { return 404; }
         }
       }
     }`,
    'n.conf',
  );
  const app = config.servers[0]!.locations[0]!;
  t.match(app, { uri: '/app/', upstream: 'unix:/app.sock', readTimeoutMs: 20 * S, scriptName: '/app' });
  const [slow, json] = app.locations;
  t.match(slow, { uri: '/app/slow/', readTimeoutMs: 90 * S, scriptName: '/app', params: [{ name: 'LEVEL', value: 'server' }] });
  t.match(json, { modifier: '~', upstream: 'unix:/json.sock', readTimeoutMs: 20 * S, params: [{ name: 'LEVEL', value: 'json' }] });
  t.match(json!.locations[0], { upstream: '', return: { status: 404 }, readTimeoutMs: 20 * S, params: [{ name: 'LEVEL', value: 'json' }] });
  t.equal(json!.locations[0]!.locations.length, 0);
  t.same([...config.upstreams.keys()], ['unix:/app.sock', 'unix:/json.sock']);
});

t.test('the same prefix may appear once per block, and again in a nested block', async (t) => {
  const config = parseConfig('server { location / { return 204; location /x { return 204; } } location /x { return 204; } location = /x { return 204; } }', 'd.conf');
  t.equal(config.servers[0]!.locations.length, 3);
  // Regexes are never duplicates (nginx: the first one wins).
  t.doesNotThrow(() => parseConfig('server { location ~ a { return 204; } location ~ a { return 204; } }', 'r.conf'));
});

t.test('tsgi_script_name: default, inherited, byte string', async (t) => {
  const config = parseConfig(
    `tsgi_script_name /top;
     server {
       location / { tsgi_pass unix:/a.sock; }
       location /café/ { tsgi_pass unix:/a.sock; tsgi_script_name /café; }
       location /none/ { tsgi_pass unix:/a.sock; tsgi_script_name ""; }
     }
     server { listen 81; tsgi_script_name /srv/; location / { tsgi_pass unix:/a.sock; } }`,
    's.conf',
  );
  t.same(
    config.servers.flatMap((s) => s.locations.map((l) => [l.uri, l.scriptName])),
    [
      ['/', '/top'],
      [bytes('/café/'), bytes('/café')],
      ['/none/', ''],
      ['/', '/srv/'],
    ],
  );
  t.equal(parseConfig('server { location / { return 204; } }', 'x.conf').servers[0]!.locations[0]!.scriptName, '');
});

t.test('tsgi_param names and values are the bytes of their UTF-8', async (t) => {
  const config = parseConfig('tsgi_param GRÜSSE "héllo $host ✓"; server { location / { tsgi_pass unix:/a.sock; } }', 'p.conf');
  t.same(config.servers[0]!.locations[0]!.params, [{ name: bytes('GRÜSSE'), value: bytes('héllo $host ✓'), ifNotEmpty: false }]);
  for (const { name, value } of config.servers[0]!.locations[0]!.params) {
    t.ok([...name + value].every((ch) => ch.charCodeAt(0) <= 0xff), 'no code point above 255');
  }
});

t.test('server names as the server keeps them', async (t) => {
  const config = parseConfig(
    'server { server_name Example.COM *.Example.com .example.org WWW.example.* "~^API\\d+$" $hostname $HOSTNAME "" bücher.de; }',
    'n.conf',
  );
  const host = hostname().replace(/[A-Z]/g, (c) => c.toLowerCase());
  t.same(config.servers[0]!.serverNames, [
    'example.com',
    '*.example.com',
    '.example.org',
    'www.example.*',
    '~^API\\d+$',
    host,
    host,
    '',
    bytes('bücher.de'),
  ]);
});

t.test('listen: default_server, and its old spelling "default"', async (t) => {
  const config = parseConfig('server { listen 80 default; listen 81 default_server; listen 82; }', 'l.conf');
  t.same(
    config.servers[0]!.listen.map((l) => l.defaultServer),
    [true, true, false],
  );
  t.throws(() => parseConfig('server { listen 80 default; } server { listen *:80 default_server; }', 'l.conf'), {
    code: 'E_DUPLICATE_DEFAULT_SERVER',
    column: 52,
  });
});

t.test('include is allowed in every block, upstream too', async (t) => {
  t.doesNotThrow(() => parseConfig('include none-*.conf; upstream u { server unix:/a; include none-*.conf; } server { include none-*.conf; location / { include none-*.conf; return 204; } }', 'i.conf'));
});

t.test('messages show a location as written, not as bytes', async (t) => {
  t.throws(() => parseConfig('server { location /café/ { return 204; } location /café/ { return 204; } }', 'u.conf'), {
    message: 'u.conf:1:42: duplicate location "/café/"',
  });
});
