import { join } from 'node:path';
import { tmpdir } from 'node:os';
import t from 'tap';
import { CONFIG_ERROR_CODES, ConfigError, type ConfigErrorCode } from '../../../proxy/config/errors.js';
import { loadConfig, parseConfig } from '../../../proxy/config/load.js';

/**
 * Each case is a config with `▶` just before the place the error must point at (the marker is
 * removed before parsing), so positions are checked without counting columns by hand.
 */
type Case = [code: ConfigErrorCode, config: string];

const MARK = '▶';

const LOC = 'location / { tsgi_pass 127.0.0.1:9000; }';

const cases: Case[] = [
  // Lexer
  ['E_UNTERMINATED_QUOTE', 'workers ▶"1;'],
  ['E_UNTERMINATED_QUOTE', "server {\n  server_name ▶'a;\n}\n"],
  ['E_UNEXPECTED_TOKEN', 'server { server_name "a"▶b; }'],

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
  ['E_NOT_ALLOWED_HERE', 'server { location / { ▶location /a { } } }'],
  ['E_NOT_ALLOWED_HERE', 'upstream a { server unix:/a; ▶upstream b { } }'],
  ['E_NOT_ALLOWED_HERE', 'server { location / { tsgi_pass a; ▶workers 2; } }'],
  ['E_ARG_COUNT', 'server { ▶listen; }'],
  ['E_ARG_COUNT', '▶workers 1 2;'],
  ['E_ARG_COUNT', '▶server x { }'],
  ['E_ARG_COUNT', 'server { ▶location { } }'],
  ['E_ARG_COUNT', 'server { ▶location = /a /b { } }'],
  ['E_ARG_COUNT', '▶tsgi_param A;'],
  ['E_ARG_COUNT', 'upstream a { ▶server; }'],
  ['E_NO_OPENING_BRACE', '▶server;'],
  ['E_NO_OPENING_BRACE', '▶upstream a;'],
  ['E_NOT_TERMINATED', '▶workers 1 { }'],
  ['E_NOT_TERMINATED', 'upstream a { ▶server unix:/a { } }'],
  ['E_DUPLICATE', 'server {\n  client_max_body_size 1m;\n  ▶client_max_body_size 2m;\n}'],
  ['E_DUPLICATE', 'workers 1; ▶workers 2;'],
  ['E_DUPLICATE', 'upstream a { server unix:/a; keepalive 1; ▶keepalive 2; }'],
  ['E_DUPLICATE', 'server { location / { tsgi_pass a; ▶tsgi_pass b; } }'],
  ['E_DUPLICATE', 'tsgi_read_timeout 1s; ▶tsgi_read_timeout 2s;'],

  // Values
  ['E_INVALID_NUMBER', 'workers ▶0;'],
  ['E_INVALID_NUMBER', 'workers ▶-1;'],
  ['E_INVALID_NUMBER', 'workers ▶Auto;'],
  ['E_INVALID_NUMBER', 'upstream a { server unix:/a; keepalive ▶x; }'],
  ['E_INVALID_SIZE', 'server { client_max_body_size ▶10q; }'],
  ['E_INVALID_SIZE', 'client_max_body_size ▶"";'],
  ['E_INVALID_TIME', 'server { location / { tsgi_pass a; tsgi_read_timeout ▶5x; } }'],
  ['E_INVALID_TIME', 'tsgi_connect_timeout ▶1s1m;'],
  ['E_INVALID_TIME', 'server { tsgi_send_timeout ▶-1; }'],
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
  ['E_INVALID_PARAMETER', 'upstream app {\n    server unix:/run/app.sock ▶weight=3;\n}'],
  ['E_INVALID_PARAMETER', 'upstream a { server 10.0.0.7:9000 ▶backup; }'],
  ['E_INVALID_PARAMETER', 'server { listen 443 ▶ssl; }'],
  ['E_INVALID_PARAMETER', 'server { listen 80 default_server ▶reuseport; }'],
  ['E_INVALID_PARAMETER', 'tsgi_param A b ▶if_empty;'],
  ['E_INVALID_PARAMETER', 'server { location ▶== /a { tsgi_pass a; } }'],
  ['E_UNSUPPORTED', 'server { location ▶~ \\.php$ { tsgi_pass a; } }'],
  ['E_UNKNOWN_VARIABLE', 'server { location / { tsgi_pass 127.0.0.1:9000; tsgi_param X ▶"a $nope b"; } }'],
  ['E_UNSUPPORTED', 'server { location ▶~* \\.PNG$ { tsgi_pass a; } }'],
  ['E_UNSUPPORTED', 'server { location ▶^~ /static/ { tsgi_pass a; } }'],
  ['E_UNSUPPORTED', 'server { location ▶~^/glued { tsgi_pass a; } }'],
  ['E_UNSUPPORTED', 'server { location ▶@fallback { tsgi_pass a; } }'],
  ['E_UNSUPPORTED', 'server { server_name example.com ▶~^www\\d+; }'],

  // Whole-config checks
  ['E_UNKNOWN_UPSTREAM', 'server {\n  location / {\n    tsgi_pass   ▶foo;\n  }\n}'],
  ['E_UNKNOWN_UPSTREAM', 'upstream app { server unix:/a; }\nserver { location / { tsgi_pass ▶App; } }'],
  ['E_DUPLICATE_UPSTREAM', 'upstream app { server unix:/a; }\nupstream ▶app { server unix:/b; }'],
  ['E_EMPTY_UPSTREAM', '▶upstream app { keepalive 2; }'],
  ['E_EMPTY_UPSTREAM', 'upstream a { server unix:/a; }\n▶upstream b { }'],
  ['E_NO_TSGI_PASS', 'server {\n  ▶location / {\n    tsgi_read_timeout 1s;\n  }\n}'],
  ['E_NO_TSGI_PASS', 'server { ▶location = /x { } }'],
  ['E_DUPLICATE_LOCATION', `server { ${LOC} ▶location / { tsgi_pass unix:/b; } }`],
  ['E_DUPLICATE_LOCATION', 'server { location = /a { tsgi_pass unix:/a; } ▶location =/a { tsgi_pass unix:/a; } }'],
  ['E_DUPLICATE_LISTEN', 'server { listen 80; listen ▶0.0.0.0:80; }'],
  ['E_DUPLICATE_LISTEN', 'server { listen unix:/p.sock; listen ▶unix:/p.sock default_server; }'],
  ['E_DUPLICATE_LISTEN', 'server { listen localhost:80; listen ▶LOCALHOST:80; }'],
  [
    'E_DUPLICATE_DEFAULT_SERVER',
    'server { listen 8080 default_server; }\nserver { listen 127.0.0.1:9; listen *:8080 ▶default_server; }',
  ],
];

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

for (const [code, marked] of cases) {
  t.test(`${code}: ${JSON.stringify(marked.replace(MARK, ''))}`, async (t) => {
    const { text, line, column } = locate(marked);
    const error = configError(() => parseConfig(text, 'bad.conf'));
    if (!error) return void t.fail('no ConfigError thrown');
    t.match({ code: error.code, file: error.file, line: error.line, column: error.column }, { code, file: 'bad.conf', line, column });
    t.ok(error.message.startsWith(`bad.conf:${line}:${column}: `), error.message);
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
  ['location / { }', 'm.conf:1:1: "location" directive is not allowed here (it belongs in: server)'],
  ['server { listen; }', 'm.conf:1:10: invalid number of arguments in "listen" directive'],
  ['client_max_body_size 1m; client_max_body_size 2m;', 'm.conf:1:26: "client_max_body_size" directive is duplicate'],
  ['client_max_body_size 10q;', 'm.conf:1:22: invalid size "10q" in "client_max_body_size"'],
  ['server { location / { tsgi_pass foo; } }', 'm.conf:1:33: host not found in upstream "foo" in "tsgi_pass"'],
  ['server { listen 1.2.3.4:99999; }', 'm.conf:1:17: invalid address "1.2.3.4:99999" in "listen" (invalid port)'],
  ['upstream a { server unix:/a weight=3; }', 'm.conf:1:29: invalid parameter "weight=3" in "server"'],
];

t.test('messages', async (t) => {
  for (const [config, message] of messages) t.equal(configError(() => parseConfig(config, 'm.conf'))?.message, message);
});
