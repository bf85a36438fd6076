import { hostname } from 'node:os';
import t from 'tap';
import { VariableError } from '../../proxy/config/errors.js';
import { compileTemplate, expand, type VariableSource } from '../../proxy/variables.js';

const source: VariableSource = {
  method: 'POST',
  target: '/a%20b?x=1&Token=abc&empty=',
  path: '/a b',
  query: 'x=1&Token=abc&empty=',
  headers: { host: 'Example.COM:8080', 'x-forwarded-for': '10.0.0.1', cookie: 'sid=42; theme=dark', 'content-type': 'text/plain' },
  host: 'Example.COM:8080',
  remoteAddress: '127.0.0.1',
  remotePort: 5555,
  realipRemoteAddress: '127.0.0.1',
  realipRemotePort: 5555,
  serverAddress: '',
  httpVersion: '1.1',
  serverName: 'example.com',
  serverPort: 8080,
  scheme: 'http',
  requestId: 'abc123',
};

const cases: Array<[string, string]> = [
  ['plain text', 'plain text'],
  ['$remote_addr:$remote_port', '127.0.0.1:5555'],
  ['$host', 'example.com'],
  ['${host}name', 'example.comname'],
  ['$request_uri', '/a%20b?x=1&Token=abc&empty='],
  ['$uri', '/a b'],
  ['$args', 'x=1&Token=abc&empty='],
  ['$request_method $scheme $server_name $server_port $request_id', 'POST http example.com 8080 abc123'],
  ['$http_x_forwarded_for', '10.0.0.1'],
  ['$http_missing', ''],
  ['$arg_x/$arg_token/$arg_empty/$arg_none', '1/abc//'],
  ['$cookie_sid $cookie_theme $cookie_nope', '42 dark '],
  ['$content_type', 'text/plain'],
  ['cost: 5$', 'cost: 5$'],
];

for (const [template, expected] of cases) t.equal(expand(template, source), expected, template);

t.test('no Host: $host is the server name', async (t) => {
  t.equal(expand('$host', { ...source, headers: {}, host: '' }), 'example.com');
});

t.test('an absolute-form target: its host is $host, $request_uri is without it, $http_host the header', async (t) => {
  const absolute: VariableSource = { ...source, target: 'http://Other.Example:81/a%20b?x=1', host: 'Other.Example:81' };
  t.equal(expand('$host', absolute), 'other.example');
  t.equal(expand('$request_uri', absolute), '/a%20b?x=1');
  t.equal(expand('$http_host', absolute), 'Example.COM:8080');
  t.equal(expand('$request', absolute), 'POST http://Other.Example:81/a%20b?x=1 HTTP/1.1', 'the request line as received');
  t.equal(expand('$request_uri', { ...absolute, target: 'https://h' }), '/', 'an empty path is /');
});

t.test('unknown variables are refused when compiled', async (t) => {
  t.throws(() => compileTemplate('a $nope'), VariableError);
  t.throws(() => compileTemplate('$http_'), VariableError);
  t.doesNotThrow(() => compileTemplate('$http_user_agent'));
});

t.test("the issue's variables, per nginx", async (t) => {
  const request: VariableSource = {
    ...source,
    target: '/p?Name=A%20B&name=second&flag&x=',
    query: 'Name=A%20B&name=second&flag&x=',
    host: 'WWW.Example.com.:8080',
    headers: {
      host: 'WWW.Example.com.:8080',
      'x-forwarded-for': '1.1.1.1, 2.2.2.2', // Node joins repeated fields with ", "
      cookie: 'SID=abc; other=1;theme = dark ; sid=second',
      'x-many': ['a', 'b'],
    },
  };
  const rows: Array<[string, string]> = [
    ['$host', 'www.example.com'], // lower case, no port, no trailing dot
    ['$http_host', 'WWW.Example.com.:8080'], // the header as sent
    ['$http_x_forwarded_for', '1.1.1.1, 2.2.2.2'],
    ['$http_X_Forwarded_For', '1.1.1.1, 2.2.2.2'], // variable names are case-insensitive
    ['$HOST', 'www.example.com'],
    ['$http_x_many', 'a, b'],
    ['$arg_name', 'A%20B'], // the first, case-insensitively, undecoded
    ['$arg_NAME', 'A%20B'],
    ['$arg_flag|$arg_x|$arg_y', '||'],
    ['$cookie_sid', 'abc'], // the first, case-insensitively
    ['$cookie_theme', 'dark'],
    ['$cookie_missing', ''],
    ['$remote_addr', '127.0.0.1'],
    ['$request_uri', '/p?Name=A%20B&name=second&flag&x='],
    ['$uri$is_args$args', '/a b?Name=A%20B&name=second&flag&x='],
  ];
  for (const [template, expected] of rows) t.equal(expand(template, request), expected, template);
});

t.test('more of nginx: $is_args, $https, $server_addr, $server_protocol, $request, $hostname', async (t) => {
  t.equal(expand('[$is_args]', { ...source, query: '' }), '[]');
  t.equal(expand('[$is_args]', source), '[?]');
  t.equal(expand('[$https]', source), '[]');
  t.equal(expand('[$https]', { ...source, scheme: 'https' }), '[on]');
  t.equal(expand('$server_addr|$server_protocol', source), '|HTTP/1.1', 'no local address (a Unix socket)');
  t.equal(expand('$server_addr|$server_protocol', { ...source, serverAddress: '10.1.1.1', httpVersion: '1.0' }), '10.1.1.1|HTTP/1.0');
  t.equal(expand('$request', { ...source, httpVersion: '1.0' }), 'POST /a%20b?x=1&Token=abc&empty= HTTP/1.0');
  t.equal(expand('$request', source), 'POST /a%20b?x=1&Token=abc&empty= HTTP/1.1');
  t.equal(expand('$hostname', source), hostname());
});

t.test('nginx refuses these templates at load', async (t) => {
  const refused: Array<[string, RegExp]> = [
    ['${host', /closing bracket in "host"/],
    ['a ${', /invalid variable name/],
    ['${}', /invalid variable name/],
    ['$1', /regex captures/],
    ['$constructor', /unknown "constructor"/],
    ['$toString', /unknown "toString"/],
    ['$__proto__', /unknown "__proto__"/],
  ];
  for (const [template, message] of refused) t.throws(() => compileTemplate(template), { name: 'VariableError', message }, template);
  t.doesNotThrow(() => compileTemplate('a $ b $- c 5$'), 'a $ that starts no name is text');
  t.equal(expand('a $ b $- c 5$', source), 'a $ b $- c 5$');
});
