import t from 'tap';
import {
  HOP_BY_HOP,
  connectionTokens,
  isFieldValue,
  isHopByHop,
  isToken,
  parseContentLength,
  responseHeaders,
  validStatus,
} from '../../proxy/headers.js';

type H = [string, string][];

t.test('HOP_BY_HOP', async (t) => {
  t.strictSame(
    [...HOP_BY_HOP].sort(),
    ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'],
  );
});

t.test('connectionTokens', async (t) => {
  const cases: [string, string[]][] = [
    ['close', ['close']],
    ['Keep-Alive, X-Foo', ['keep-alive', 'x-foo']],
    [' , ,x-a ,\tX-B\t, ', ['x-a', 'x-b']],
    ['', []],
  ];
  for (const [value, want] of cases) t.strictSame(connectionTokens(value), want, JSON.stringify(value));
});

t.test('isHopByHop', async (t) => {
  const options = new Set(['x-foo', 'content-length', 'host']);
  const cases: [string, ReadonlySet<string> | null, boolean][] = [
    ['transfer-encoding', null, true],
    ['te', null, true],
    ['x-foo', null, false],
    ['x-foo', options, true],
    ['x-bar', options, false],
    ['content-length', options, false], // framing: a Connection token cannot remove it
    ['host', options, false],
  ];
  for (const [name, opts, want] of cases) t.equal(isHopByHop(name, opts), want, `${name} with ${opts ? [...opts] : 'none'}`);
});

t.test('isToken', async (t) => {
  const cases: [string, boolean][] = [
    ['Content-Type', true],
    ["!#$%&'*+-.^_`|~09azAZ", true],
    ['', false],
    ['Bad Name', false],
    ['Bad:Name', false],
    ['Bad\tName', false],
    ['(x)', false],
    ['caf\u00e9', false],
    ['x\u0000', false],
  ];
  for (const [s, want] of cases) t.equal(isToken(s), want, JSON.stringify(s));
});

t.test('isFieldValue', async (t) => {
  const cases: [string, boolean][] = [
    ['', true],
    ['text/html; charset=utf-8', true],
    ['a\tb', true],
    ['caf\u00c3\u00a9 \u0080\u00ff', true], // obs-text
    ['a\rb', false],
    ['a\nb', false],
    ['a\u0000b', false],
    ['a\u0001b', false],
    ['a\u001fb', false],
    ['a\u007fb', false],
    ['\u20ac', false], // not a byte
  ];
  for (const [s, want] of cases) t.equal(isFieldValue(s), want, JSON.stringify(s));
});

t.test('parseContentLength', async (t) => {
  const cases: [string[], number | null][] = [
    [[], null],
    [['0'], 0],
    [['42'], 42],
    [['007'], 7],
    [[' 42 '], 42],
    [['42', '42'], 42],
    [['42, 42'], 42],
    [['9007199254740991'], 9007199254740991],
    [['9007199254740992'], -1],
    [['99999999999999999999999'], -1],
    [['42', '43'], -1],
    [['42, 43'], -1],
    [['-1'], -1],
    [['+1'], -1],
    [['1.0'], -1],
    [['0x10'], -1],
    [[''], -1],
    [['42,'], -1],
    [['4 2'], -1],
  ];
  for (const [values, want] of cases) t.equal(parseContentLength(values), want, JSON.stringify(values));
});

t.test('validStatus', async (t) => {
  const cases: [number, boolean][] = [
    [100, true],
    [200, true],
    [599, true],
    [99, false],
    [600, false],
    [0, false],
    [-200, false],
    [200.5, false],
    [NaN, false],
    [Infinity, false],
  ];
  for (const [n, want] of cases) t.equal(validStatus(n), want, String(n));
});

t.test('responseHeaders: accepted', async (t) => {
  const cases: { name: string; in: H; out: H; length: number | null }[] = [
    { name: 'empty', in: [], out: [], length: null },
    {
      name: 'plain headers kept in order, case kept',
      in: [['Content-Type', 'text/plain'], ['X-Req', 'a'], ['x-req', 'b']],
      out: [['Content-Type', 'text/plain'], ['X-Req', 'a'], ['x-req', 'b']],
      length: null,
    },
    {
      name: 'Set-Cookie lines stay separate',
      in: [['Set-Cookie', 'a=1; Path=/'], ['Set-Cookie', 'b=2']],
      out: [['Set-Cookie', 'a=1; Path=/'], ['Set-Cookie', 'b=2']],
      length: null,
    },
    {
      name: 'content length parsed',
      in: [['Content-Length', '12'], ['Content-Type', 'text/plain']],
      out: [['Content-Length', '12'], ['Content-Type', 'text/plain']],
      length: 12,
    },
    {
      name: 'agreeing Content-Length lines collapse to one, normalised',
      in: [['content-length', '005'], ['X-A', '1'], ['Content-Length', '5, 5']],
      out: [['content-length', '5'], ['X-A', '1']],
      length: 5,
    },
    {
      name: 'hop-by-hop dropped',
      in: [
        ['Connection', 'keep-alive'], ['Keep-Alive', 'timeout=5'], ['Transfer-Encoding', 'chunked'],
        ['Upgrade', 'h2c'], ['Trailer', 'X-Sum'], ['TE', 'trailers'], ['Proxy-Connection', 'close'],
        ['Content-Type', 'text/plain'],
      ],
      out: [['Content-Type', 'text/plain']],
      length: null,
    },
    {
      name: 'headers named by Connection dropped, any case, any Connection line',
      in: [['X-Hop', '1'], ['Connection', 'X-HOP'], ['Connection', 'x-other'], ['X-Other', '2'], ['X-Kept', '3']],
      out: [['X-Kept', '3']],
      length: null,
    },
    {
      name: 'Connection cannot remove Content-Length',
      in: [['Connection', 'Content-Length'], ['Content-Length', '3']],
      out: [['Content-Length', '3']],
      length: 3,
    },
    {
      name: 'HTAB and obs-text allowed in values',
      in: [['X-V', 'a\tb \u00e9\u00ff']],
      out: [['X-V', 'a\tb \u00e9\u00ff']],
      length: null,
    },
    {
      name: 'Content-Length with Transfer-Encoding: TE dropped, length kept',
      in: [['Transfer-Encoding', 'chunked'], ['Content-Length', '4']],
      out: [['Content-Length', '4']],
      length: 4,
    },
  ];
  for (const c of cases) {
    t.strictSame(responseHeaders(c.in), { ok: true, headers: c.out, contentLength: c.length }, c.name);
  }
});

t.test('responseHeaders: refused', async (t) => {
  const cases: { name: string; in: H; reason: RegExp }[] = [
    { name: 'empty name', in: [['', 'x']], reason: /header name/ },
    { name: 'space in name', in: [['X Bad', 'x']], reason: /header name/ },
    { name: 'colon in name', in: [['X:Bad', 'x']], reason: /header name/ },
    { name: 'CRLF in name', in: [['X-A\r\nX-B', 'x']], reason: /header name/ },
    { name: 'non-ASCII name', in: [['X-\u00e9', 'x']], reason: /header name/ },
    { name: 'CR in value', in: [['X-A', 'a\rb']], reason: /value/ },
    { name: 'LF in value (response splitting)', in: [['X-A', 'a\r\nSet-Cookie: evil=1']], reason: /value/ },
    { name: 'NUL in value', in: [['X-A', 'a\u0000']], reason: /value/ },
    { name: 'control char in value', in: [['X-A', '\u001b[31m']], reason: /value/ },
    { name: 'DEL in value', in: [['X-A', '\u007f']], reason: /value/ },
    { name: 'char above 0xFF in value', in: [['X-A', '\u20ac']], reason: /value/ },
    { name: 'invalid even when hop-by-hop', in: [['Connection', 'a\nb']], reason: /value/ },
    { name: 'non-numeric Content-Length', in: [['Content-Length', 'ten']], reason: /Content-Length/ },
    { name: 'negative Content-Length', in: [['Content-Length', '-1']], reason: /Content-Length/ },
    { name: 'empty Content-Length', in: [['Content-Length', '']], reason: /Content-Length/ },
    { name: 'disagreeing Content-Length lines', in: [['Content-Length', '3'], ['Content-Length', '4']], reason: /Content-Length/ },
    { name: 'disagreeing Content-Length list', in: [['Content-Length', '3, 4']], reason: /Content-Length/ },
  ];
  for (const c of cases) {
    const result = responseHeaders(c.in);
    t.equal(result.ok, false, c.name);
    if (!result.ok) t.match(result.reason, c.reason, `${c.name}: reason`);
  }
});
