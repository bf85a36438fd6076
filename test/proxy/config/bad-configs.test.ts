import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import t from 'tap';
import { CONFIG_ERROR_CODES, ConfigError, type ConfigErrorCode } from '../../../proxy/config/errors.js';
import { loadConfig, parseConfig } from '../../../proxy/config/load.js';

/**
 * Each case is a config with `▶` just before the place the error must point at (the marker is
 * removed before parsing), so positions are checked without counting columns by hand. A case
 * with several files (for `include`) gives them by name, the main one first as "bad.conf";
 * the marker is in the file the error must name.
 */
type Files = Record<string, string>;
type Case = [code: ConfigErrorCode, config: string | Files];

const MARK = '▶';

const LOC = 'location / { tsgi_pass 127.0.0.1:9000; }';

const cases: Case[] = [
  // Lexer
  ['E_UNTERMINATED_QUOTE', 'workers ▶"1;'],
  ['E_UNTERMINATED_QUOTE', "server {\n  server_name ▶'a;\n}\n"],
  ['E_UNEXPECTED_TOKEN', 'server { server_name "a"▶b; }'],
  ['E_UNEXPECTED_TOKEN', 'server { server_name "a"▶}'],

  // Parser
  ['E_UNEXPECTED_TOKEN', 'workers 1;\n▶}'],
  ['E_UNEXPECTED_TOKEN', '▶;'],
  ['E_UNEXPECTED_TOKEN', '▶{ }'],
  ['E_UNEXPECTED_TOKEN', `server { ${LOC} ▶; }`],
  ['E_UNEXPECTED_TOKEN', 'server { listen 80 ▶}'],
  ['E_UNEXPECTED_EOF', 'server {\n  listen 80;\n▶'],
  ['E_UNEXPECTED_EOF', 'workers 1▶'],
  ['E_UNEXPECTED_EOF', 'upstream a { server unix:/a; }\nserver { location / { tsgi_pass a; }\n  # no closing brace\n▶'],

  // Table lookups and shape
  ['E_UNKNOWN_DIRECTIVE', 'server {\n    ▶locaton / { tsgi_pass a; }\n}'],
  ['E_UNKNOWN_DIRECTIVE', '▶frobnicate on;'],
  ['E_UNKNOWN_DIRECTIVE', '▶"" x;'],
  ['E_NOT_ALLOWED_HERE', `server { ▶tsgi_pass a; ${LOC} }`],
  ['E_NOT_ALLOWED_HERE', '▶listen 80;'],
  ['E_NOT_ALLOWED_HERE', 'server { keepalive 2; }'.replace('keepalive', '▶keepalive')],
  ['E_NOT_ALLOWED_HERE', 'server { location / { tsgi_pass a; ▶server { } } }'],
  ['E_NOT_ALLOWED_HERE', 'upstream a { server unix:/a; ▶location / { } }'],
  ['E_NOT_ALLOWED_HERE', '▶return 200;'],
  ['E_NOT_ALLOWED_HERE', 'upstream a { server unix:/a; ▶tsgi_script_name /a; }'],
  ['E_NOT_ALLOWED_HERE', 'upstream a { server unix:/a; ▶upstream b { } }'],
  ['E_NOT_ALLOWED_HERE', 'server { location / { tsgi_pass a; ▶workers 2; } }'],
  ['E_NOT_ALLOWED_HERE', 'server { listen 80; ▶multi_accept off; }'],
  ['E_ARG_COUNT', 'server { ▶listen; }'],
  ['E_ARG_COUNT', '▶workers 1 2;'],
  ['E_ARG_COUNT', '▶server x { }'],
  ['E_ARG_COUNT', 'server { ▶location { } }'],
  ['E_ARG_COUNT', 'server { ▶location = /a /b { } }'],
  ['E_ARG_COUNT', '▶tsgi_param A;'],
  ['E_ARG_COUNT', 'upstream a { ▶server; }'],
  ['E_ARG_COUNT', '▶include;'],
  ['E_ARG_COUNT', 'server { ▶include a.conf b.conf; }'],
  ['E_ARG_COUNT', 'server { ▶return; }'],
  ['E_ARG_COUNT', 'server { ▶return 301 /a /b; }'],
  ['E_ARG_COUNT', 'server { location / { ▶tsgi_script_name; return 204; } }'],
  ['E_ARG_COUNT', '▶absolute_redirect on off;'],
  ['E_NO_OPENING_BRACE', '▶server;'],
  ['E_NO_OPENING_BRACE', '▶upstream a;'],
  ['E_NOT_TERMINATED', '▶workers 1 { }'],
  ['E_NOT_TERMINATED', 'upstream a { ▶server unix:/a { } }'],
  ['E_NOT_TERMINATED', '▶include a.conf { }'],
  ['E_NOT_TERMINATED', 'server { ▶return 204 { } }'],
  ['E_DUPLICATE', 'server {\n  client_max_body_size 1m;\n  ▶client_max_body_size 2m;\n}'],
  ['E_DUPLICATE', 'workers 1; ▶workers 2;'],
  ['E_DUPLICATE', 'upstream a { server unix:/a; keepalive 1; ▶keepalive 2; }'],
  ['E_DUPLICATE', 'server { location / { tsgi_pass a; ▶tsgi_pass b; } }'],
  ['E_DUPLICATE', 'tsgi_read_timeout 1s; ▶tsgi_read_timeout 2s;'],
  ['E_DUPLICATE', 'server { location / { return 204; tsgi_script_name /a; ▶tsgi_script_name /b; } }'],
  ['E_DUPLICATE', 'absolute_redirect on; ▶absolute_redirect off;'],
  ['E_DUPLICATE', { 'bad.conf': 'workers 1;\ninclude w.conf;', 'w.conf': '# the second one\n▶workers 2;' }],

  // Values
  ['E_INVALID_NUMBER', 'workers ▶0;'],
  ['E_INVALID_NUMBER', 'workers ▶-1;'],
  ['E_INVALID_NUMBER', 'workers ▶Auto;'],
  ['E_INVALID_NUMBER', 'upstream a { server unix:/a; keepalive ▶x; }'],
  ['E_INVALID_SIZE', 'server { client_max_body_size ▶10q; }'],
  ['E_INVALID_SIZE', 'client_max_body_size ▶"";'],
  ['E_INVALID_SIZE', 'server { location / { tsgi_pass 127.0.0.1:9000; tsgi_buffers 8 ▶0; } }'],
  // nginx's relations between the response buffers, checked where a location meets them.
  ['E_INVALID_SIZE', 'server { ▶location / { tsgi_pass 127.0.0.1:9000; tsgi_buffer_size 16k; } }'],
  ['E_INVALID_SIZE', 'tsgi_busy_buffers_size 32k;\nserver { ▶location / { tsgi_pass 127.0.0.1:9000; } }'],
  ['E_INVALID_SIZE', 'server { tsgi_max_temp_file_size 1k; ▶location / { tsgi_pass 127.0.0.1:9000; } }'],
  ['E_INVALID_TIME', 'server { location / { tsgi_pass a; tsgi_read_timeout ▶5x; } }'],
  ['E_INVALID_TIME', 'tsgi_connect_timeout ▶1s1m;'],
  ['E_INVALID_TIME', 'server { tsgi_send_timeout ▶-1; }'],
  ['E_INVALID_TIME', 'tsgi_read_timeout ▶25d;'],
  ['E_INVALID_TIME', 'server { location / { tsgi_pass a; tsgi_send_timeout ▶2147483648ms; } }'],
  ['E_INVALID_ADDRESS', 'server { listen ▶foo; }'],
  ['E_INVALID_ADDRESS', 'server { listen ▶127.0.0.1:99999; }'],
  ['E_INVALID_ADDRESS', 'server { listen ▶127.0.0.1:; }'],
  ['E_INVALID_ADDRESS', 'server { listen ▶::1:80; }'],
  ['E_INVALID_ADDRESS', 'server { listen ▶[zz]:80; }'],
  ['E_INVALID_ADDRESS', 'server { listen ▶[::1]80; }'],
  ['E_INVALID_ADDRESS', 'server { listen ▶unix:; }'],
  ['E_INVALID_ADDRESS', 'server { listen ▶-bad.host:80; }'],
  ['E_INVALID_ADDRESS', 'server { listen ▶"a b:80"; }'],
  ['E_INVALID_ADDRESS', 'upstream a { server ▶10.0.0.1; }'],
  ['E_INVALID_ADDRESS', 'upstream a { server ▶10.0.0.1:0; }'],
  ['E_INVALID_ADDRESS', 'upstream a { server ▶9000; }'],
  ['E_INVALID_ADDRESS', 'server { location / { tsgi_pass ▶[::1]; } }'],
  ['E_INVALID_ADDRESS', 'server { location / { tsgi_pass ▶host:http; } }'],
  ['E_INVALID_PARAMETER', 'upstream app {\n    server unix:/run/app.sock ▶weigth=3;\n}'],
  ['E_INVALID_PARAMETER', 'upstream a { server 10.0.0.7:9000 ▶bakup; }'],
  ['E_INVALID_PARAMETER', 'server { listen 443 ▶ssl; }'],
  ['E_INVALID_PARAMETER', 'server { listen 80 default_server ▶reuseport; }'],
  ['E_INVALID_PARAMETER', 'tsgi_param A b ▶if_empty;'],
  ['E_INVALID_PARAMETER', 'server { location ▶== /a { tsgi_pass a; } }'],
  ['E_INVALID_PARAMETER', 'server { location ▶!~ \\.php$ { tsgi_pass a; } }'],
  ['E_INVALID_PARAMETER', 'server { location ▶@named /a { tsgi_pass a; } }'],
  ['E_INVALID_FLAG', 'absolute_redirect ▶yes;'],
  ['E_INVALID_FLAG', 'multi_accept ▶8;'],
  ['E_INVALID_FLAG', 'server { location / { tsgi_pass a; tsgi_request_buffering ▶always; } }'],
  ['E_INVALID_FLAG', 'server { location / { return 301 /a; absolute_redirect ▶""; } }'],
  ['E_INVALID_REGEX', 'server { location ~ ▶^/(a { tsgi_pass a; } }'],
  ['E_INVALID_REGEX', 'server { location ~* ▶"\\.(png|jpg$" { tsgi_pass a; } }'],
  ['E_INVALID_REGEX', 'server { location ~▶^/glued(?i)x { tsgi_pass a; } }'],
  ['E_INVALID_REGEX', 'server {\n  location ~ ▶\\A/api { tsgi_pass a; }\n}'],
  ['E_INVALID_REGEX', 'server { location / { tsgi_pass a; location ~ ▶a++ { tsgi_pass a; } } }'],
  ['E_INVALID_REGEX', 'server { server_name example.com ▶~^www(\\d+; }'],
  ['E_INVALID_REGEX', 'server { server_name ▶"~^(?P<name>.+)$"; }'],
  ['E_INVALID_SERVER_NAME', 'server { server_name ▶www.*.example.com; }'],
  ['E_INVALID_SERVER_NAME', 'server { server_name ok.example.com ▶*example.com; }'],
  ['E_INVALID_SERVER_NAME', 'server { server_name ▶*.example.*; }'],
  ['E_INVALID_SERVER_NAME', 'server { server_name ▶*; }'],
  ['E_INVALID_SERVER_NAME', 'server { server_name ▶.; }'],
  ['E_INVALID_SERVER_NAME', 'server { server_name ▶a..example.com; }'],
  ['E_INVALID_SERVER_NAME', 'server { server_name ▶~; }'],
  ['E_INVALID_RETURN_CODE', 'server { return ▶abc; }'],
  ['E_INVALID_RETURN_CODE', 'server { return ▶/relative/needs/a/code; }'],
  ['E_INVALID_RETURN_CODE', 'server { return ▶https://example.com text; }'],
  ['E_INVALID_RETURN_CODE', 'server { location / { return ▶1000; } }'],
  ['E_INVALID_RETURN_CODE', 'server { location / { return ▶100; } }'],
  ['E_INVALID_RETURN_CODE', 'server { location / { return ▶-1; } }'],
  ['E_INVALID_SCRIPT_NAME', 'server { location /app/ { tsgi_pass a; tsgi_script_name ▶app; } }'],
  ['E_INVALID_SCRIPT_NAME', 'tsgi_script_name ▶"$prefix";'],
  ['E_INVALID_PARAMETER', 'upstream u { server 127.0.0.1:9000 ▶wieght=2; }'],
  ['E_INVALID_NUMBER', 'upstream u { server 127.0.0.1:9000 ▶weight=0; }'],
  ['E_INVALID_TIME', 'upstream u { server 127.0.0.1:9000 ▶fail_timeout=soon; }'],
  ['E_DUPLICATE', 'upstream u { least_conn; ▶ip_hash; server 127.0.0.1:9000; }'],
  ['E_INVALID_PARAMETER', 'upstream u { hash $uri; ▶server 127.0.0.1:9000 backup; server 127.0.0.1:9001; }'],
  ['E_INVALID_PARAMETER', 'upstream u { random ▶three; server 127.0.0.1:9000; }'],
  ['E_INVALID_PARAMETER', 'upstream u { hash $uri ▶ring; server 127.0.0.1:9000; }'],
  ['E_INVALID_PARAMETER', `server { ${LOC} tsgi_next_upstream error ▶http_418; }`],
  ['E_INVALID_PARAMETER', `server { ${LOC} tsgi_next_upstream ▶off error; }`],
  ['E_INVALID_PARAMETER', 'upstream u { health_check ▶every=5s; server 127.0.0.1:9000; }'],
  ['E_INVALID_TIME', 'upstream u { server 127.0.0.1:9000 ▶slow_start=fast; }'],
  ['E_INVALID_PARAMETER', 'upstream u { queue 10 ▶wait=5s; server 127.0.0.1:9000; }'],
  ['E_INVALID_NUMBER', 'upstream u { queue ▶0; server 127.0.0.1:9000; }'],
  ['E_UNKNOWN_VARIABLE', 'upstream u { hash ▶$nope; server 127.0.0.1:9000; }'],
  ['E_UNKNOWN_VARIABLE', 'server { location / { tsgi_pass 127.0.0.1:9000; tsgi_param X ▶"a $nope b"; } }'],
  ['E_UNKNOWN_VARIABLE', 'server { return 200 ▶"hello $nobody"; }'],
  ['E_UNKNOWN_VARIABLE', 'server { location / { return 302 ▶"https://${host/"; } }'],
  ['E_UNKNOWN_VARIABLE', 'server { location / { return ▶$schemes://example.com; } }'],
  ['E_UNKNOWN_VARIABLE', 'tsgi_param A ▶$1;'],
  ['E_UNSUPPORTED', 'server { location ▶@fallback { tsgi_pass a; } }'],

  // Whole-config checks
  ['E_UNKNOWN_UPSTREAM', 'server {\n  location / {\n    tsgi_pass   ▶foo;\n  }\n}'],
  ['E_UNKNOWN_UPSTREAM', 'upstream app { server unix:/a; }\nserver { location / { tsgi_pass ▶App; } }'],
  ['E_DUPLICATE_UPSTREAM', 'upstream app { server unix:/a; }\nupstream ▶app { server unix:/b; }'],
  ['E_EMPTY_UPSTREAM', '▶upstream app { keepalive 2; }'],
  ['E_EMPTY_UPSTREAM', 'upstream a { server unix:/a; }\n▶upstream b { }'],
  ['E_NO_TSGI_PASS', 'server {\n  ▶location / {\n    tsgi_read_timeout 1s;\n  }\n}'],
  ['E_NO_TSGI_PASS', 'server { ▶location = /x { } }'],
  ['E_NO_TSGI_PASS', 'server { location /a/ { tsgi_pass unix:/a; ▶location /a/b/ { tsgi_read_timeout 1s; } } }'],
  ['E_NO_TSGI_PASS', 'server { ▶location /a/ { location /a/b/ { tsgi_pass a; } } }'],
  ['E_DUPLICATE_LOCATION', `server { ${LOC} ▶location / { tsgi_pass unix:/b; } }`],
  ['E_DUPLICATE_LOCATION', 'server { location = /a { tsgi_pass unix:/a; } ▶location =/a { tsgi_pass unix:/a; } }'],
  ['E_DUPLICATE_LOCATION', 'server { location /a { return 204; } ▶location ^~ /a { return 204; } }'],
  ['E_DUPLICATE_LOCATION', 'server { location / { return 204; location /x { return 204; }\n    ▶location /x { return 204; } } }'],
  ['E_LOCATION_NESTING', 'server { location = /a { tsgi_pass unix:/a; ▶location /a/b { tsgi_pass unix:/a; } } }'],
  ['E_LOCATION_NESTING', 'server { location = /a { tsgi_pass unix:/a; ▶location ~ b { tsgi_pass unix:/a; } } }'],
  ['E_LOCATION_NESTING', 'server { location /a/ { tsgi_pass unix:/a; ▶location /b/ { tsgi_pass unix:/a; } } }'],
  ['E_LOCATION_NESTING', 'server { location ^~ /a/ { return 204; ▶location = /a { return 204; } } }'],
  ['E_LOCATION_NESTING', 'server { location ~ ^/a { return 204; ▶location /a/b { return 204; } } }'],
  ['E_DUPLICATE_LISTEN', 'server { listen 80; listen ▶0.0.0.0:80; }'],
  ['E_DUPLICATE_LISTEN', 'server { listen unix:/p.sock; listen ▶unix:/p.sock default_server; }'],
  ['E_DUPLICATE_LISTEN', 'server { listen localhost:80; listen ▶LOCALHOST:80; }'],
  [
    'E_DUPLICATE_DEFAULT_SERVER',
    'server { listen 8080 default_server; }\nserver { listen 127.0.0.1:9; listen *:8080 ▶default_server; }',
  ],

  // include: errors name the included file and its line
  ['E_FILE', 'server { include ▶no-such-dir/routes.conf; }'],
  ['E_FILE', { 'bad.conf': 'include sites/*.conf;', 'sites/a.conf': 'include ▶../missing.conf;' }],
  ['E_FILE', { 'bad.conf': 'include ▶conf.d;', 'conf.d/x.conf': '' }],
  ['E_INCLUDE_CYCLE', { 'bad.conf': 'workers 1;\ninclude ▶bad.conf;' }],
  ['E_INCLUDE_CYCLE', { 'bad.conf': 'include sub/a.conf;', 'sub/a.conf': 'include b.conf;', 'sub/b.conf': '# back to the start\ninclude ▶../bad.conf;' }],
  ['E_INCLUDE_CYCLE', { 'bad.conf': 'include d/*.conf;', 'd/x.conf': 'include ▶*.conf;' }],
  ['E_UNKNOWN_DIRECTIVE', { 'bad.conf': 'include a.conf;', 'a.conf': '\n\n  ▶frobnicate on;' }],
  ['E_NOT_ALLOWED_HERE', { 'bad.conf': 'server { include loc.conf; }', 'loc.conf': 'location / {\n  tsgi_pass unix:/a;\n  ▶workers 2;\n}' }],
  ['E_NOT_ALLOWED_HERE', { 'bad.conf': 'upstream a { server unix:/a; include more.conf; }', 'more.conf': '▶listen 80;' }],
  ['E_UNEXPECTED_TOKEN', { 'bad.conf': 'server { include a.conf; }', 'a.conf': 'location / { tsgi_pass unix:/a; }\n▶}' }],
  ['E_UNEXPECTED_EOF', { 'bad.conf': 'server { include a.conf; }', 'a.conf': 'location / {\n  tsgi_pass unix:/a;\n▶' }],
  ['E_UNKNOWN_UPSTREAM', { 'bad.conf': 'server { location / { include pass.conf; } }', 'pass.conf': 'tsgi_pass ▶nowhere;' }],
];

/** The file (name and text) holding the one marker, and its position there. */
function locateIn(files: Files): { file: string; text: string; line: number; column: number } {
  const marked = Object.entries(files).filter(([, text]) => text.includes(MARK));
  if (marked.length !== 1) throw new Error(`need exactly one ${MARK} in: ${JSON.stringify(files)}`);
  const [file, text] = marked[0]!;
  return { file, ...locate(text) };
}

/** Writes the files under a fresh directory (the marked one without its marker); returns it. */
function writeFiles(t: { teardown(fn: () => void): void }, files: Files, marked: string, unmarked: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-bad-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), name === marked ? unmarked : text);
  }
  return dir;
}

function locate(marked: string): { text: string; line: number; column: number } {
  const index = marked.indexOf(MARK);
  if (index < 0 || marked.indexOf(MARK, index + 1) >= 0) throw new Error(`need exactly one ${MARK}: ${marked}`);
  const before = marked.slice(0, index).split('\n');
  return {
    text: marked.slice(0, index) + marked.slice(index + 1),
    line: before.length,
    column: (before.at(-1) as string).length + 1,
  };
}

function configError(fn: () => unknown): ConfigError | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  return undefined;
}

for (const [code, config] of cases) {
  const title = typeof config === 'string' ? config.replace(MARK, '') : Object.keys(config).join(' + ');
  t.test(`${code}: ${JSON.stringify(title)}`, async (t) => {
    let error: ConfigError | undefined;
    let where: { file: string; line: number; column: number };
    if (typeof config === 'string') {
      const { text, line, column } = locate(config);
      error = configError(() => parseConfig(text, 'bad.conf'));
      where = { file: 'bad.conf', line, column };
    } else {
      const { file, text, line, column } = locateIn(config);
      const dir = writeFiles(t, config, file, text);
      error = configError(() => loadConfig(join(dir, Object.keys(config)[0]!)));
      where = { file: join(dir, file), line, column };
    }
    if (!error) return void t.fail('no ConfigError thrown');
    t.match({ code: error.code, file: error.file, line: error.line, column: error.column }, { code, ...where });
    t.ok(error.message.startsWith(`${where.file}:${where.line}:${where.column}: `), error.message);
  });
}

t.test('an unreadable file', async (t) => {
  const file = join(tmpdir(), 'tsgi-no-such-dir', 'x.conf');
  t.match(configError(() => loadConfig(file)), { code: 'E_FILE', file, line: 0, column: 0 });
});

t.test('every error code has at least one case', async (t) => {
  const covered = new Set<string>([...cases.map(([code]) => code), 'E_FILE']);
  t.same(CONFIG_ERROR_CODES.filter((code) => !covered.has(code)), []);
});

/** The wording operators see, for the cases the issue spells out. */
const messages: Array<[config: string, message: string]> = [
  ['}', 'm.conf:1:1: unexpected "}"'],
  ['server { listen 80', 'm.conf:1:19: unexpected end of file, expecting ";" or "}"'],
  ['server { locaton / { } }', 'm.conf:1:10: unknown directive "locaton" (did you mean "location"?)'],
  ['frobnicate on;', 'm.conf:1:1: unknown directive "frobnicate"'],
  ['server { tsgi_pass a; }', 'm.conf:1:10: "tsgi_pass" directive is not allowed here (it belongs in: location)'],
  ['location / { }', 'm.conf:1:1: "location" directive is not allowed here (it belongs in: server, location)'],
  ['server { location ~ ^/(a { } }', 'm.conf:1:21: invalid regex "^/(a" in "location": Unterminated group'],
  ['server { location ~ \\Z { } }', 'm.conf:1:21: invalid regex "\\Z" in "location": "\\Z" is PCRE syntax that tsgi\'s regular expressions do not support'],
  ['server { server_name w*.example.com; }', 'm.conf:1:22: server name "w*.example.com" is invalid (a "*" may only be the first or last label, as "*.example.com" or "www.example.*")'],
  ['server { server_name ~; }', 'm.conf:1:22: empty regex in server name "~"'],
  ['server { location = /a { location /a { } } }', 'm.conf:1:26: location "/a" cannot be inside the exact location "/a"'],
  ['server { location /a/ { location /b { } } }', 'm.conf:1:25: location "/b" is outside location "/a/"'],
  ['server { location /a/ { } }', 'm.conf:1:10: location "/a/" has no tsgi_pass (nor return)'],
  ['server { return 3xx; }', 'm.conf:1:17: invalid return code "3xx"'],
  ['absolute_redirect 1;', 'm.conf:1:19: invalid value "1" in "absolute_redirect" directive, it must be "on" or "off"'],
  ['tsgi_script_name app;', 'm.conf:1:18: "tsgi_script_name" must be empty or start with "/", not "app"'],
  ['tsgi_param X ${host;', 'm.conf:1:14: the closing bracket in "host" variable is missing in "tsgi_param"'],
  ['tsgi_read_timeout 30d;', 'm.conf:1:19: time "30d" in "tsgi_read_timeout" is too long (at most 24d20h31m23s647ms)'],
  ['include missing-tsgi.conf;', 'm.conf:1:9: cannot read included file "missing-tsgi.conf" (ENOENT)'],
  ['server { listen; }', 'm.conf:1:10: invalid number of arguments in "listen" directive'],
  ['client_max_body_size 1m; client_max_body_size 2m;', 'm.conf:1:26: "client_max_body_size" directive is duplicate'],
  ['client_max_body_size 10q;', 'm.conf:1:22: invalid size "10q" in "client_max_body_size"'],
  ['server { location / { tsgi_pass foo; } }', 'm.conf:1:33: host not found in upstream "foo" in "tsgi_pass"'],
  ['server { listen 1.2.3.4:99999; }', 'm.conf:1:17: invalid address "1.2.3.4:99999" in "listen" (invalid port)'],
  ['upstream a { server unix:/a weigth=3; }', 'm.conf:1:29: invalid parameter "weigth=3" in "server"'],
  ['upstream a { least_conn; random; server unix:/a; }', 'm.conf:1:26: load balancing method redefined by "random"'],
];

t.test('messages', async (t) => {
  for (const [config, message] of messages) t.equal(configError(() => parseConfig(config, 'm.conf'))?.message, message);
});
