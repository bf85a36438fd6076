// `return` as a table: the rule as the config builds it (from config text, so the two stay in
// step) → the status, headers and body returnResponse gives for one request.
import t from 'tap';
import { parseConfig } from '../../proxy/config/load.js';
import type { ReturnRule } from '../../proxy/config/types.js';
import { CLOSE_CONNECTION, returnResponse } from '../../proxy/return.js';
import { matchLocation } from '../../proxy/router.js';
import type { VariableSource } from '../../proxy/variables.js';

const source: VariableSource = {
  method: 'GET',
  target: '/old/p%20ath?x=1',
  path: '/old/p ath',
  query: 'x=1',
  headers: { host: 'Example.com:8080' },
  host: 'Example.com:8080',
  remoteAddress: '10.0.0.9',
  remotePort: 40000,
  realipRemoteAddress: '10.0.0.9',
  realipRemotePort: 40000,
  serverAddress: '',
  httpVersion: '1.1',
  serverName: 'example.com',
  serverPort: 8080,
  scheme: 'http',
  requestId: 'r1',
};

/** The rule of `return ...` written in a location (with any extra directives). */
function rule(directive: string, extra = ''): ReturnRule {
  const config = parseConfig(`server { location / { ${extra} ${directive} } }`, 'return.conf');
  return config.servers[0]!.locations[0]!.return!;
}

const TEXT = 'text/plain';
const PAGE = 'text/plain; charset=utf-8';

type Row = [directive: string, status: number, headers: Array<[string, string]>, body: string];

const table: Row[] = [
  ['return 301 https://example.org$request_uri;', 301, [['Location', 'https://example.org/old/p%20ath?x=1'], ['Content-Type', PAGE], ['Content-Length', '22']], '301 Moved Permanently\n'],
  ['return 302 /new$is_args$args;', 302, [['Location', 'http://example.com:8080/new?x=1'], ['Content-Type', PAGE], ['Content-Length', '10']], '302 Found\n'],
  ['return 303 "/see other";', 303, [['Location', 'http://example.com:8080/see%20other'], ['Content-Type', PAGE], ['Content-Length', '14']], '303 See Other\n'],
  ['return 307 $uri;', 307, [['Location', 'http://example.com:8080/old/p%20ath'], ['Content-Type', PAGE], ['Content-Length', '23']], '307 Temporary Redirect\n'],
  ['return 308 relative/path;', 308, [['Location', 'relative/path'], ['Content-Type', PAGE], ['Content-Length', '23']], '308 Permanent Redirect\n'],
  ['return https://$host$request_uri;', 302, [['Location', 'https://example.com/old/p%20ath?x=1'], ['Content-Type', PAGE], ['Content-Length', '10']], '302 Found\n'],
  ['return $scheme://other$uri;', 302, [['Location', 'http://other/old/p%20ath'], ['Content-Type', PAGE], ['Content-Length', '10']], '302 Found\n'],
  ['return 301;', 301, [['Content-Type', PAGE], ['Content-Length', '22']], '301 Moved Permanently\n'],
  ['return 200 "hello $remote_addr";', 200, [['Content-Type', TEXT], ['Content-Length', '14']], 'hello 10.0.0.9'],
  ['return 200;', 200, [['Content-Type', TEXT], ['Content-Length', '0']], ''],
  ['return 200 "";', 200, [['Content-Type', TEXT], ['Content-Length', '0']], ''],
  ['return 403;', 403, [['Content-Type', PAGE], ['Content-Length', '14']], '403 Forbidden\n'],
  ['return 404 "gone: $uri\\n";', 404, [['Content-Type', TEXT], ['Content-Length', '17']], 'gone: /old/p ath\n'],
  ['return 503 "";', 503, [['Content-Type', PAGE], ['Content-Length', '24']], '503 Service Unavailable\n'],
  ['return 599;', 599, [['Content-Type', PAGE], ['Content-Length', '12']], '599 Unknown\n'],
  ['return 204 "ignored";', 204, [], ''],
  ['return 304;', 304, [], ''],
  ['return 444;', CLOSE_CONNECTION, [], ''],
  ['return 200 "héllo";', 200, [['Content-Type', TEXT], ['Content-Length', '6']], 'h\u00c3\u00a9llo'], // the UTF-8 bytes
];

for (const [directive, status, headers, body] of table) {
  t.test(directive, async (t) => {
    t.same(returnResponse(rule(directive), source), { status, headers, body });
  });
}

t.test('absolute_redirect off keeps a path relative; it is inherited', async (t) => {
  t.equal(returnResponse(rule('return 301 /x;', 'absolute_redirect off;'), source).headers[0]?.[1], '/x');
  const config = parseConfig('absolute_redirect off; server { location / { return 302 /y; } }', 'abs.conf');
  t.same(config.servers[0]!.locations[0]!.return, { status: 302, location: '/y', absolute: false });
});

t.test('the host and port of an absolute redirect', async (t) => {
  const location = (s: Partial<VariableSource>): string => returnResponse(rule('return 301 /x;'), { ...source, ...s }).headers[0]![1];
  t.equal(location({ host: 'a.test', serverPort: 80 }), 'http://a.test/x', 'port 80 is left out for http');
  t.equal(location({ host: 'a.test', scheme: 'https', serverPort: 443 }), 'https://a.test/x');
  t.equal(location({ host: 'a.test:9', scheme: 'https', serverPort: 80 }), 'https://a.test:80/x', 'the port is the one that accepted');
  t.equal(location({ host: 'A.TEST.', serverPort: 80 }), 'http://a.test/x', 'the host as nginx normalises it');
  t.equal(location({ host: '', serverPort: 80, serverAddress: '127.0.0.1' }), 'http://127.0.0.1/x', 'no Host: the local address');
  t.equal(location({ host: '', serverPort: 80, serverAddress: '::1' }), 'http://[::1]/x');
  t.equal(location({ host: '', serverPort: 80 }), 'http://example.com/x', 'else the server name');
  t.equal(location({ host: 'b.test', serverPort: 0 }), 'http://b.test/x', 'port 0 (a unix socket): none');
  const absolute = { target: 'http://c.test/x?y', host: 'c.test', headers: { host: 'a.test' }, serverPort: 80 };
  t.equal(location(absolute), 'http://c.test/x', "an absolute-form target's host, not the Host header's");
  t.equal(returnResponse(rule('return 301 https://example.org$request_uri;'), { ...source, ...absolute }).headers[0]![1], 'https://example.org/x?y', '$request_uri without it');
});

t.test('Location cannot carry CR LF or other raw bytes', async (t) => {
  const evil = { ...source, path: '/a\r\nSet-Cookie: x=1\u00e9"<>' };
  t.equal(returnResponse(rule('return 302 https://x$uri;'), evil).headers[0]![1], 'https://x/a%0D%0ASet-Cookie:%20x=1%E9%22%3C%3E');
  const wide = { ...source, path: '/\u20ac' };
  t.equal(returnResponse(rule('return 302 https://x$uri;'), wide).headers[0]![1], 'https://x/%E2%82%AC');
});

t.test('server-level return, and a location with return needs no tsgi_pass', async (t) => {
  const config = parseConfig(
    `server { listen 80; return 301 https://$host$request_uri; location / { tsgi_pass unix:/a.sock; } }
     server { listen 81; location = /health { return 200 ok; } location / { tsgi_pass unix:/a.sock; return 404; } }`,
    'srv.conf',
  );
  const [redirecting, answering] = config.servers;
  t.same(redirecting!.return, { status: 301, location: 'https://$host$request_uri', absolute: true });
  t.same(answering!.return, undefined);
  t.same(matchLocation(answering!, '/health')?.return, { status: 200, body: 'ok' });
  t.equal(matchLocation(answering!, '/health')?.upstream, '', 'no upstream');
  t.same(matchLocation(answering!, '/x')?.return, { status: 404 }, 'return wins over tsgi_pass');
  t.same(parseConfig('server { return 200 a; return 500 b; }', 'two.conf').servers[0]!.return, { status: 200, body: 'a' }, 'the first return counts');
});
