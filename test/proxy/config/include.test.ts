import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { glob, globSegment } from '../../../proxy/config/include.js';
import { loadConfig, parseConfig } from '../../../proxy/config/load.js';

/** Writes `files` (name → text) under a fresh directory; returns the directory. */
function tree(t: Test, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-include-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const PASS = 'tsgi_pass unix:/a.sock;';

t.test('directives of an included file take its place, in the including block', async (t) => {
  const dir = tree(t, {
    'main.conf': 'workers 2;\ninclude common.conf;\nserver {\n  listen 8080;\n  include locations/*.conf;\n}\n',
    'common.conf': 'client_max_body_size 5m;\ntsgi_param FROM common;\n',
    'locations/b-api.conf': `location /api/ { ${PASS} include ../params/api.conf; }`,
    'locations/a-root.conf': `location / { ${PASS} }`,
    'locations/.hidden.conf': 'this is not config;',
    'locations/notes.txt': 'nor is this;',
    'params/api.conf': 'tsgi_param FROM api;',
  });
  const config = loadConfig(join(dir, 'main.conf'));
  t.equal(config.workers, 2);
  const [root, api] = config.servers[0]!.locations;
  t.equal(root!.uri, '/', 'a-root.conf before b-api.conf: globs are sorted');
  t.equal(api!.uri, '/api/');
  t.equal(root!.clientMaxBodySize, 5 * 1024 * 1024);
  t.same(root!.params, [{ name: 'FROM', value: 'common', ifNotEmpty: false }]);
  t.same(api!.params, [{ name: 'FROM', value: 'api', ifNotEmpty: false }], 'relative to the including file');
});

t.test('a mask that matches nothing is fine; the same file may be included twice', async (t) => {
  const dir = tree(t, {
    'main.conf': 'include none/*.conf;\ninclude empty-dir/*.conf;\nserver { include loc.conf; }\nserver { listen 81; include loc.conf; }',
    'empty-dir/readme': '',
    'loc.conf': `location / { ${PASS} }`,
  });
  const config = loadConfig(join(dir, 'main.conf'));
  t.equal(config.servers.length, 2);
  t.equal(config.servers[1]!.locations[0]!.uri, '/');
});

t.test('absolute paths, wildcards in directories, classes', async (t) => {
  const dir = tree(t, {
    'sites-a/x.conf': 'server { listen 1; }',
    'sites-b/y.conf': 'server { listen 2; }',
    'sites-c/z.txt': 'server { listen 3; }',
    'q1.conf': 'server { listen 4; }',
    'q22.conf': 'server { listen 5; }',
  });
  const config = parseConfig(`include ${dir}/sites-[ab]/*.conf; include ${dir}/q?.conf;`, join(dir, 'inline.conf'));
  t.same(
    config.servers.map((s) => s.listen[0]!.address),
    [1, 2, 4].map((port) => ({ kind: 'tcp', host: '0.0.0.0', port })),
  );
});

t.test('a cycle through a symlink is still a cycle', async (t) => {
  const dir = tree(t, { 'main.conf': 'include link.conf;' });
  symlinkSync(join(dir, 'main.conf'), join(dir, 'link.conf'));
  t.throws(() => loadConfig(join(dir, 'main.conf')), { code: 'E_INCLUDE_CYCLE', file: join(dir, 'main.conf'), line: 1, column: 9 });
});

t.test('the cycle message shows the chain', async (t) => {
  const dir = tree(t, { 'a.conf': 'include b.conf;', 'b.conf': 'include a.conf;' });
  const a = join(dir, 'a.conf');
  const b = join(dir, 'b.conf');
  t.throws(() => loadConfig(a), { message: `${b}:1:9: "${a}" includes itself (through ${a} → ${b} → ${a})` });
});

t.test('glob: sorted matches, hidden names only when asked for', async (t) => {
  const dir = tree(t, { 'b.conf': '', 'a.conf': '', 'a-b/c.conf': '', 'a/c.conf': '', '.h.conf': '', 'x[1].conf': '' });
  t.same(glob('*.conf', dir), [join(dir, 'a.conf'), join(dir, 'b.conf'), join(dir, 'x[1].conf')]);
  t.same(glob('.*.conf', dir), [join(dir, '.h.conf')]);
  t.same(glob('*/c.conf', dir), [join(dir, 'a-b/c.conf'), join(dir, 'a/c.conf')], 'sorted by whole path, as glob(3)');
  t.same(glob('x\\[1\\].conf', dir), [join(dir, 'x[1].conf')], 'an escaped "[" is literal');
  t.same(glob('x[[]1].conf', dir), [join(dir, 'x[1].conf')], 'a class can hold "["');
  t.same(glob('nothing/*', dir), []);
  t.same(glob('b.conf/*', dir), [], 'a file is not a directory');
});

t.test('globSegment', async (t) => {
  const cases: Array<[pattern: string, name: string, matches: boolean]> = [
    ['*', 'abc', true],
    ['*', '.abc', false],
    ['.*', '.abc', true],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['[abc]x', 'bx', true],
    ['[!abc]x', 'bx', false],
    ['[^abc]x', 'dx', true],
    ['[a-c]', 'b', true],
    ['[]]', ']', true],
    ['[!]]', 'a', true],
    ['a[', 'a[', true],
    ['a\\*', 'a*', true],
    ['a\\*', 'ab', false],
    ['(x).+', '(x).+', true],
    ['*.conf', 'a.conf.bak', false],
  ];
  for (const [pattern, name, matches] of cases) t.equal(globSegment(pattern)(name), matches, `${pattern} ~ ${name}`);
});
