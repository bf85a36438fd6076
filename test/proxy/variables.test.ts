import t from 'tap';
import { VariableError, compileTemplate, expand, type VariableSource } from '../../proxy/variables.js';

const source: VariableSource = {
  method: 'POST',
  target: '/a%20b?x=1&Token=abc&empty=',
  path: '/a b',
  query: 'x=1&Token=abc&empty=',
  headers: { host: 'Example.COM:8080', 'x-forwarded-for': '10.0.0.1', cookie: 'sid=42; theme=dark', 'content-type': 'text/plain' },
  remoteAddress: '127.0.0.1',
  remotePort: 5555,
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
  t.equal(expand('$host', { ...source, headers: {} }), 'example.com');
});

t.test('unknown variables are refused when compiled', async (t) => {
  t.throws(() => compileTemplate('a $nope'), VariableError);
  t.throws(() => compileTemplate('$http_'), VariableError);
  t.doesNotThrow(() => compileTemplate('$http_user_agent'));
});
