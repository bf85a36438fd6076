// Location precedence as tables: a config, then path → the location nginx would choose.
// Locations are written with loc(), which gives each a tsgi_pass and a TAG param; the table
// names the TAG expected, `301 URL` for nginx's trailing-slash redirect, or null for a 404.
import t, { type Test } from 'tap';
import { parseConfig } from '../../proxy/config/load.js';
import type { LocationConfig, ServerConfig } from '../../proxy/config/types.js';
import { LocationTree } from '../../proxy/locations.js';
import { matchLocation } from '../../proxy/router.js';

/** `location MATCH { tsgi_pass ...; tsgi_param TAG tag; NESTED... }` */
function loc(match: string, tag: string, ...nested: string[]): string {
  return `location ${match} { tsgi_pass unix:/t.sock; tsgi_param TAG ${tag}; ${nested.join(' ')} }`;
}

function server(...locations: string[]): ServerConfig {
  return parseConfig(`server { ${locations.join('\n')} }`, 'locations.conf').servers[0]!;
}

function tag(location: LocationConfig | null): string | null {
  if (!location) return null;
  if (location.return) return `${location.return.status} ${location.return.location ?? location.return.body}`;
  return location.params.find((p) => p.name === 'TAG')?.value ?? '(untagged)';
}

type Table = Array<[path: string, expected: string | null]>;

function check(t: Test, config: ServerConfig, table: Table): void {
  for (const [path, expected] of table) t.equal(tag(matchLocation(config, path)), expected, JSON.stringify(path));
}

t.test("nginx's documented example (the location directive)", async (t) => {
  const docs = server(
    loc('= /', 'A'),
    loc('/', 'B'),
    loc('/documents/', 'C'),
    loc('^~ /images/', 'D'),
    loc('~* \\.(gif|jpg|jpeg)$', 'E'),
  );
  check(t, docs, [
    ['/', 'A'],
    ['/index.html', 'B'],
    ['/documents/document.html', 'C'],
    ['/images/1.gif', 'D'],
    ['/documents/1.jpg', 'E'],
    // and around it
    ['/documents/1.JPEG', 'E'],
    ['/1.gif', 'E'],
    ['/IMAGES/1.GIF', 'E'],
    ['/images/', 'D'],
    ['/images/x.png', 'D'],
    ['/documents', '301 /documents/$is_args$args'],
    ['/images', '301 /images/$is_args$args'],
    ['/documentsX', 'B'],
    ['//', 'B'],
  ]);
});

t.test('the same locations in any order choose the same', async (t) => {
  const parts = [loc('~* \\.(gif|jpg|jpeg)$', 'E'), loc('^~ /images/', 'D'), loc('/documents/', 'C'), loc('/', 'B'), loc('= /', 'A')];
  const reversed = server(...parts);
  for (const [path, expected] of [
    ['/', 'A'],
    ['/index.html', 'B'],
    ['/documents/document.html', 'C'],
    ['/images/1.gif', 'D'],
    ['/documents/1.jpg', 'E'],
  ] as const) {
    t.equal(tag(matchLocation(reversed, path)), expected, path);
  }
});

t.test('longest prefix, ^~, and regexes in order of appearance', async (t) => {
  const config = server(
    loc('/', 'root'),
    loc('/api/', 'api'),
    loc('/api/v1/', 'v1'),
    loc('/api/v1/admin', 'admin'),
    loc('^~ /static/', 'static'),
    loc('~ \\.php$', 'php'),
    loc('~ ^/api/.*\\.php$', 'api-php'), // never reached: the first regex wins
    loc('~* \\.PHP$', 'PHP-ci'),
    loc('~ ^/static/', 'static-re'), // never reached either: ^~ above stops the regexes
  );
  check(t, config, [
    ['/', 'root'],
    ['/api/', 'api'],
    ['/api/x', 'api'],
    ['/api/v1/', 'v1'],
    ['/api/v1/x', 'v1'],
    ['/api/v1/admin', 'admin'],
    ['/api/v1/administrator', 'admin'], // a prefix, not a path segment
    ['/api/v1/x.php', 'php'],
    ['/x.php', 'php'],
    ['/x.PHP', 'PHP-ci'],
    ['/x.Php', 'PHP-ci'],
    ['/x.php/y', 'root'],
    ['/static/x.php', 'static'],
    ['/static/', 'static'],
    ['/apix', 'root'],
    ['/API/x', 'root'], // prefixes are case-sensitive
    ['/api', '301 /api/$is_args$args'],
    ['/api/v1', '301 /api/v1/$is_args$args'],
    ['/static', '301 /static/$is_args$args'],
  ]);
});

t.test('no location matches: null (404)', async (t) => {
  const config = server(loc('/api/', 'api'), loc('= /exact', 'exact'), loc('~ \\.txt$', 'txt'));
  check(t, config, [
    ['/', null],
    ['/other', null],
    ['/exact/', null],
    ['/exac', null],
    ['/exact', 'exact'],
    ['/x.txt', 'txt'],
    ['*', null],
  ]);
  t.equal(matchLocation(server(), '/'), null, 'a server without locations');
});

t.test('nested locations: searched inside the chosen prefix first, then its block, then outer regexes', async (t) => {
  const config = server(
    loc('/', 'root', loc('~ \\.json$', 'root-json')),
    loc(
      '/app/',
      'app',
      loc('= /app/exact', 'app-exact'),
      loc('/app/admin/', 'admin', loc('~ \\.txt$', 'admin-txt')),
      loc('~ \\.png$', 'app-png'),
    ),
    loc('^~ /files/', 'files', loc('~ \\.png$', 'files-png')),
    loc('~ \\.png$', 'png'),
    loc('~ \\.txt$', 'txt'),
    loc('~ \\.json$', 'json'),
  );
  check(t, config, [
    ['/x.json', 'root-json'], // nested regex of "/" before the server's regexes
    ['/app/x.json', 'json'], // "/app/" was chosen: the nested regex of "/" is not looked at
    ['/app/exact', 'app-exact'],
    ['/app/exact.png', 'app-png'],
    ['/app/admin/x.txt', 'admin-txt'],
    ['/app/admin/x.png', 'app-png'], // nested prefix "admin" remembered, then /app/'s regexes
    ['/app/admin/x', 'admin'],
    ['/app/x.txt', 'txt'], // nothing inside /app/ matched: the server's regexes
    ['/app/x', 'app'],
    ['/files/a.png', 'files-png'], // ^~ stops the server's regexes, not its own nested ones
    ['/files/a.txt', 'files'],
    ['/b.png', 'png'],
    ['/b', 'root'],
    ['/app/admin', '301 /app/admin/$is_args$args'],
  ]);
});

t.test('a nested ^~ stops only the regexes of its own block', async (t) => {
  const config = server(loc('/a/', 'a', loc('^~ /a/b/', 'ab'), loc('~ \\.css$', 'a-css')), loc('~ \\.php$', 'php'), loc('~ \\.css$', 'css'));
  check(t, config, [
    ['/a/b/x', 'ab'],
    // a-css, beside the ^~, is skipped; but the server's regexes still run ("/a/" is not ^~),
    // as in nginx, where noregex is read at each level from that level's own prefix.
    ['/a/b/x.css', 'css'],
    ['/a/b/x.php', 'php'],
    ['/a/x.css', 'a-css'],
  ]);
  const stopping = server(loc('^~ /a/', 'a', loc('/a/b/', 'ab')), loc('~ \\.php$', 'php'));
  check(t, stopping, [
    ['/a/b/x.php', 'ab'], // the outer ^~ stops the server's regexes even for a nested match
    ['/a/x.php', 'a'],
  ]);
});

t.test('regex locations with nested locations', async (t) => {
  const config = server(
    loc('/', 'root'),
    loc('~ ^/re/', 're', loc('~ \\.css$', 're-css'), loc('~ \\.CSS$', 're-CSS')),
    loc('~ /r', 'r', loc('/r/x/', 'rx')), // a prefix inside a regex must start with its source
  );
  check(t, config, [
    ['/re/a.css', 're-css'],
    ['/re/a.CSS', 're-CSS'],
    ['/re/a', 're'],
    ['/r/x/y', 'rx'],
    ['/r/y', 'r'],
    // Inside a regex location nginx serves /r/x by the "/r/x/" location instead of redirecting.
    ['/r/x', 'rx'],
  ]);
});

t.test("nginx's trailing-slash redirect, and what stops it", async (t) => {
  const config = server(
    loc('/', 'root'),
    loc('/app/', 'app'),
    loc('/exact/', 'exact-dir'),
    loc('= /exact', 'exact'),
    loc('/pre/', 'pre-dir'),
    loc('/pre', 'pre'),
    'location /ret/ { return 200 ret; }', // no tsgi_pass: no redirect
    loc('~ ^/app$', 'app-re'), // the redirect comes before regexes
    loc('= /only/', 'only-exact'),
    loc('^~ /stop/', 'stop'),
    'location /off/ { tsgi_pass unix:/t.sock; absolute_redirect off; }',
  );
  check(t, config, [
    ['/app', '301 /app/$is_args$args'],
    ['/app/', 'app'],
    ['/exact', 'exact'],
    ['/pre', 'pre'],
    ['/ret', 'root'],
    ['/ret/', '200 ret'],
    ['/only', '301 /only/$is_args$args'],
    ['/only/', 'only-exact'],
    ['/stop', '301 /stop/$is_args$args'],
  ]);
  t.same(matchLocation(config, '/app')?.return, { status: 301, location: '/app/$is_args$args', absolute: true });
  t.same(matchLocation(config, '/off')?.return, { status: 301, location: '/off/$is_args$args', absolute: false });
  t.equal(matchLocation(config, '/app')?.upstream, 'unix:/t.sock', 'the copy keeps the location settings');
  const special = server(loc('"/a b$c/"', 'odd'));
  t.same(matchLocation(special, '/a b$c')?.return?.location, '/a%20b%24c/$is_args$args', 'encoded for a URL, no stray $');
});

t.test('paths and URIs are byte strings: a UTF-8 location matches the decoded bytes', async (t) => {
  const config = server(loc('/café/', 'cafe'), loc('~ ^/naïve$', 'naive'), loc('~* ^/ÉTÉ$', 'ete'), loc('/', 'root'));
  const bytes = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');
  check(t, config, [
    [bytes('/café/menu'), 'cafe'],
    [bytes('/naïve'), 'naive'],
    [bytes('/ÉTÉ'), 'ete'],
    ['/café/menu', 'root'], // a path is never a UTF-16 string
  ]);
});

t.test('an empty prefix matches everything; "*" (OPTIONS *) only such a location', async (t) => {
  check(t, server(loc('""', 'all')), [
    ['*', 'all'],
    ['/x', 'all'],
  ]);
});

t.test('the tree is compiled once per server and can be used on its own', async (t) => {
  const config = server(loc('/a/', 'a'), loc('~ b$', 'b'));
  t.equal(matchLocation(config, '/a/x'), matchLocation(config, '/a/x'));
  const tree = new LocationTree(config.locations);
  t.equal(tag(tree.match('/a/b')), 'b');
  t.equal(tree.match('/a'), tree.match('/a'), 'the same redirect copy each time');
});
