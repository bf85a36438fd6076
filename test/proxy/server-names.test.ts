// server_name precedence as tables: servers on one address, then Host → the server nginx
// would choose (named by its first server_name, or "default" for the default_server).
import t, { type Test } from 'tap';
import { parseConfig } from '../../proxy/config/load.js';
import type { ServerConfig } from '../../proxy/config/types.js';
import { listenGroups, VirtualHosts } from '../../proxy/router.js';
import { ServerNameError } from '../../proxy/config/errors.js';
import { ServerNameTable, asciiLower, normalizeHost, parseServerName } from '../../proxy/server-names.js';

/** The hosts of the first listen address of a config. */
function hosts(config: string): VirtualHosts {
  return listenGroups(parseConfig(config, 'names.conf'))[0]!.hosts;
}

function label(server: ServerConfig): string {
  return server.serverNames[0] === '_' ? 'default' : server.serverNames[0]!;
}

function check(t: Test, vhosts: VirtualHosts, table: Array<[host: string | undefined, expected: string]>): void {
  for (const [host, expected] of table) t.equal(label(vhosts.match(host)), expected, JSON.stringify(host));
}

const PRECEDENCE = `
server { listen 80; server_name "~^(?<name>.+)\\.example\\.net$"; }
server { listen 80; server_name ~^api\\d+\\.example\\.net$; }
server { listen 80; server_name www.*; }
server { listen 80; server_name www.example.*; }
server { listen 80; server_name *.sub.example.com; }
server { listen 80; server_name *.example.com; }
server { listen 80; server_name example.com www.example.com; }
server { listen 80; server_name .example.org; }
server { listen 80; server_name *.org; }
server { listen 80; server_name nohost ""; }
server { listen 80 default_server; server_name _; }
server { listen 80; server_name [::1] 192.168.1.1; }
`;

t.test("nginx's precedence: exact, longest leading *, longest trailing *, first regex, default", async (t) => {
  check(t, hosts(PRECEDENCE), [
    ['example.com', 'example.com'],
    ['www.example.com', 'example.com'], // exact beats *.example.com and www.example.*
    ['EXAMPLE.com:8080', 'example.com'],
    ['example.com.', 'example.com'], // the trailing dot is not part of the name
    ['foo.example.com', '*.example.com'],
    ['a.b.example.com', '*.example.com'], // "*" covers several labels
    ['sub.example.com', '*.example.com'], // *.sub.example.com needs one more label
    ['a.sub.example.com', '*.sub.example.com'], // the longest leading wildcard
    ['x.y.sub.example.com', '*.sub.example.com'],
    ['www.example.net', 'www.example.*'], // a trailing wildcard beats a matching regex
    ['www.example.co.uk', 'www.example.*'],
    ['www.example', 'www.*'], // www.example.* needs something after the dot
    ['www.other.com', 'www.*'],
    ['www.', 'default'],
    ['api12.example.net', '~^(?<name>.+)\\.example\\.net$'], // the first regex in config order
    ['API12.EXAMPLE.NET', '~^(?<name>.+)\\.example\\.net$'],
    ['x.example.net', '~^(?<name>.+)\\.example\\.net$'],
    ['example.org', '.example.org'], // the dot form matches the name itself...
    ['a.example.org', '.example.org'], // ...and every name below it, before shorter wildcards
    ['other.org', '*.org'],
    ['org', 'default'],
    ['unknown.test', 'default'],
    ['nohost', 'nohost'],
    [undefined, 'nohost'], // no Host: the server named ""
    ['', 'nohost'],
    ['[::1]:8080', '[::1]'],
    ['[::1]', '[::1]'],
    ['192.168.1.1', '[::1]'],
    ['192.168.1.1:80', '[::1]'],
  ]);
});

t.test('the two regexes in the other order: still the first in config order', async (t) => {
  const vhosts = hosts(`
server { listen 80; server_name ~^api\\d+\\.example\\.net$; }
server { listen 80; server_name "~^(?<name>.+)\\.example\\.net$"; }
server { listen 80; server_name ~^API; }`);
  check(t, vhosts, [
    ['api12.example.net', '~^api\\d+\\.example\\.net$'],
    ['x.example.net', '~^(?<name>.+)\\.example\\.net$'],
    // nginx compiles a regex with an upper-case letter case-insensitively (the Host is lower-cased)
    ['apix.test', '~^API'],
  ]);
});

t.test('without default_server the first server of the address; without "" no Host goes there too', async (t) => {
  check(t, hosts('server { listen 80; server_name a.test; } server { listen 80; server_name b.test; }'), [
    ['b.test', 'b.test'],
    ['c.test', 'a.test'],
    [undefined, 'a.test'],
  ]);
  // A server without server_name has the name "" (nginx since 0.8.48).
  check(t, hosts('server { listen 80; server_name a.test; } server { listen 80; }'), [[undefined, '']]);
});

t.test('a name claimed twice on one address belongs to the first server (nginx ignores the later)', async (t) => {
  const vhosts = hosts(`
server { listen 80; server_name first dup.test *.dup.test; }
server { listen 80; server_name second dup.test *.dup.test .dup.test; }`);
  check(t, vhosts, [
    ['dup.test', 'first'],
    ['x.dup.test', 'first'], // "*.dup.test" and ".dup.test" are the same wildcard to nginx
  ]);
});

t.test("servers on different addresses are separate, each address with its own default (nginx's docs)", async (t) => {
  const config = parseConfig(
    `server { listen 80; listen 8080 default_server; server_name example.net; }
     server { listen 80 default_server; listen 8080; server_name example.org; }
     server { listen 127.0.0.1:80; server_name only.local; }
     server { listen unix:/run/tsgi.sock; server_name example.org; }`,
    'ports.conf',
  );
  const groups = new Map(listenGroups(config).map((group) => [JSON.stringify(group.address), group.hosts]));
  const at = (address: object, host: string): string => label(groups.get(JSON.stringify(address))!.match(host));
  t.equal(groups.size, 4);
  t.equal(at({ kind: 'tcp', host: '0.0.0.0', port: 80 }, 'unknown'), 'example.org');
  t.equal(at({ kind: 'tcp', host: '0.0.0.0', port: 8080 }, 'unknown'), 'example.net');
  t.equal(at({ kind: 'tcp', host: '0.0.0.0', port: 80 }, 'example.net'), 'example.net');
  t.equal(at({ kind: 'tcp', host: '0.0.0.0', port: 80 }, 'only.local'), 'example.org', 'only.local listens elsewhere');
  t.equal(at({ kind: 'tcp', host: '127.0.0.1', port: 80 }, 'example.net'), 'only.local');
  t.equal(at({ kind: 'unix', path: '/run/tsgi.sock' }, 'example.net'), 'example.org');
});

t.test('a single server answers everything, whatever its names', async (t) => {
  check(t, hosts('server { listen 80; server_name ~^never$; }'), [
    ['anything', '~^never$'],
    [undefined, '~^never$'],
  ]);
  const noNames = new VirtualHosts([], parseConfig('server { listen 80; }', 'x.conf').servers[0]!);
  t.equal(noNames.match('x').serverNames[0], '');
});

t.test('parseServerName: the forms and the invalid ones', async (t) => {
  const forms: Array<[string, unknown]> = [
    ['example.com', { kind: 'exact', name: 'example.com' }],
    ['Example.COM', { kind: 'exact', name: 'example.com' }],
    ['', { kind: 'exact', name: '' }],
    ['_', { kind: 'exact', name: '_' }],
    ['*.example.com', { kind: 'leading', suffix: '.example.com', bare: false }],
    ['.example.com', { kind: 'leading', suffix: '.example.com', bare: true }],
    ['www.example.*', { kind: 'trailing', prefix: 'www.example.' }],
    ['~^a\\d$', { kind: 'regex', source: '^a\\d$', regex: /^a\d$/ }],
    ['~^A$', { kind: 'regex', source: '^A$', regex: /^A$/i }],
  ];
  for (const [text, expected] of forms) t.same(parseServerName(text), expected, text);
  for (const text of ['*', '*.', '.', '*example.com', 'w*.example.com', 'www.*.example.com', '*.example.*', 'a..b', '~', 'a\0b']) {
    t.throws(() => parseServerName(text), ServerNameError, JSON.stringify(text));
  }
});

t.test('a UTF-8 name (as bytes) keeps its non-ASCII bytes when lower-cased', async (t) => {
  const bytes = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');
  const table = new ServerNameTable<string>();
  table.add(parseServerName(bytes('ПРИМЕР.рф')), 'idn');
  t.equal(table.match(normalizeHost(bytes('ПРИМЕР.рф'))), 'idn');
  t.equal(asciiLower('ÀB\u00c9c'), 'Àb\u00c9c', 'only A-Z change');
  t.equal(normalizeHost('[::1'), '[::1', 'a broken IPv6 literal is left alone');
});
