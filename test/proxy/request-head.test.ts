// The checks after llhttp, as a pure function: what it lets through that nginx refuses, and
// the large_client_header_buffers / client_max_headers bounds counted nginx's way.
import t from 'tap';
import type { RequestHead } from '../../proxy/request-facts.js';
import { checkHead } from '../../proxy/request-head.js';
import { normalizePath } from '../../proxy/uri.js';

const LIMITS = { headerBuffers: { number: 4, size: 100 }, maxHeaders: 4 };
const head = (over: Partial<RequestHead> = {}): RequestHead => ({ method: 'GET', target: '/', httpVersion: '1.1', rawHeaders: ['Host', 'a'], ...over });
const status = (h: RequestHead) => checkHead(h, LIMITS)?.kind.status ?? 200;

t.test('versions', async (t) => {
  t.equal(status(head()), 200);
  t.equal(status(head({ httpVersion: '1.0', rawHeaders: [] })), 200, 'HTTP/1.0 needs no Host');
  t.equal(status(head({ httpVersion: '0.9', rawHeaders: [] })), 400);
  t.equal(status(head({ httpVersion: '2.0' })), 505);
});

t.test('request line: 414 past one buffer, counting the CRLF', async (t) => {
  // 'GET ' + target + ' HTTP/1.1' + CRLF = 15 + target.length
  t.equal(status(head({ target: '/' + 'a'.repeat(84) })), 200, '100 bytes fit');
  t.equal(status(head({ target: '/' + 'a'.repeat(85) })), 414, '101 do not');
});

t.test('header lines: 431 past one buffer or past client_max_headers', async (t) => {
  t.equal(status(head({ rawHeaders: ['Host', 'a', 'X', 'v'.repeat(95)] })), 200, 'X: + 95 + CRLF = 100');
  t.equal(status(head({ rawHeaders: ['Host', 'a', 'X', 'v'.repeat(96)] })), 431);
  t.equal(status(head({ rawHeaders: ['Host', 'a', 'A', '1', 'B', '2', 'C', '3'] })), 200, '4 lines');
  t.equal(status(head({ rawHeaders: ['Host', 'a', 'A', '1', 'B', '2', 'C', '3', 'D', '4'] })), 431, '5 lines');
});

t.test('framing', async (t) => {
  t.equal(status(head({ rawHeaders: [] })), 400, 'HTTP/1.1 without Host');
  t.equal(status(head({ rawHeaders: ['Host', 'a', 'host', 'b'] })), 400, 'two Host lines');
  t.equal(status(head({ rawHeaders: ['Host', 'a', 'Transfer-Encoding', 'chunked'] })), 200);
  t.equal(status(head({ rawHeaders: ['Host', 'a', 'Transfer-Encoding', 'Chunked'] })), 200, 'case-insensitive, as nginx');
  t.equal(status(head({ rawHeaders: ['Host', 'a', 'Transfer-Encoding', 'gzip, chunked'] })), 400);
  t.equal(status(head({ httpVersion: '1.0', rawHeaders: ['Transfer-Encoding', 'chunked'] })), 400, 'never in HTTP/1.0');
  t.match(checkHead(head({ rawHeaders: [] }), LIMITS), { kind: { code: 'TSGI_BAD_REQUEST' }, reason: /Host/ });
});

t.test('normalizePath', async (t) => {
  const cases: Array<[string, boolean, string | null]> = [
    ['/', true, '/'],
    ['/a/b', true, '/a/b'],
    ['/a/../b', true, '/b'],
    ['/a/./b/', true, '/a/b/'],
    ['/a/..', true, '/'],
    ['/a/b/..', true, '/a/'],
    ['/a/.', true, '/a/'],
    ['/.', true, '/'],
    ['/..', true, null],
    ['/a/../..', true, null],
    ['//a///b//', true, '/a/b/'],
    ['//a///b//', false, '//a///b//'],
    ['/a//../b', false, '/a/b'],
    ['/a//../b', true, '/b'],
    ['/.hidden/..x/...', true, '/.hidden/..x/...'],
  ];
  for (const [path, merge, want] of cases) t.equal(normalizePath(path, merge), want, `${path} merge_slashes ${merge ? 'on' : 'off'}`);
});
