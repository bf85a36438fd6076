// proxy/response-head.ts as a table: what a runner's head may carry to a client, and what is
// refused (the client then gets 502). test/e2e/hostile-runner.test.ts sends the same over the wire.
import t from 'tap';
import { bodiless, checkResponseHead } from '../../proxy/response-head.js';

const head = (status: number, headers: Array<[string, string]> = [], reason = 'OK') => ({ status, reason, headers });

t.test('accepted heads come out as they went in, with one Content-Length', async (t) => {
  t.strictSame(checkResponseHead(head(200, [['Content-Type', 'text/plain'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']])), {
    ok: true,
    status: 200,
    reason: 'OK',
    headers: [['Content-Type', 'text/plain'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']],
    contentLength: null,
  });
  const lengths = checkResponseHead(head(200, [['Content-Length', '5'], ['X', 'y'], ['content-length', '5, 5']]));
  t.match(lengths, { ok: true, headers: [['Content-Length', '5'], ['X', 'y']], contentLength: 5 });
  t.match(checkResponseHead(head(304, [['Content-Length', '1234']])), { ok: true, contentLength: 1234 }, 'a 304 may announce a length');
  t.match(checkResponseHead(head(204, [['Content-Length', '0']])), { ok: true });
  t.match(checkResponseHead(head(599, [], '')), { ok: true, reason: '' });
  t.match(checkResponseHead(head(200, [['X-Latin', 'caf\u00e9\tok']], 'D\u00e9j\u00e0 vu')), { ok: true }, 'obs-text and HTAB');
});

t.test('refused heads say why', async (t) => {
  const cases: Array<[string, ReturnType<typeof head>, RegExp]> = [
    ['status 199', head(199), /final status/],
    ['status 100', head(100), /final status/],
    ['status 101', head(101), /final status/],
    ['status 600', head(600), /final status/],
    ['status 200.5', head(200.5), /final status/],
    ['CR LF in the reason', head(200, [], 'OK\r\nX: y'), /reason/],
    ['CR LF in a value', head(200, [['X', 'a\r\nb']]), /invalid value/],
    ['NUL in a value', head(200, [['X', 'a\u0000']]), /invalid value/],
    ['DEL in a value', head(200, [['X', 'a\u007f']]), /invalid value/],
    ['a code point above 255', head(200, [['X', '\u20ac']]), /invalid value/],
    ['a space in a name', head(200, [['A B', 'x']]), /invalid header name/],
    ['an empty name', head(200, [['', 'x']]), /invalid header name/],
    ['a colon in a name', head(200, [['A:', 'x']]), /invalid header name/],
    ['Connection', head(200, [['Connection', 'close']]), /hop-by-hop/],
    ['Keep-Alive', head(200, [['keep-alive', 'timeout=5']]), /hop-by-hop/],
    ['Proxy-Connection', head(200, [['Proxy-Connection', 'close']]), /hop-by-hop/],
    ['TE', head(200, [['TE', 'trailers']]), /hop-by-hop/],
    ['Trailer', head(200, [['Trailer', 'X']]), /hop-by-hop/],
    ['Transfer-Encoding', head(200, [['Transfer-Encoding', 'chunked']]), /hop-by-hop/],
    ['Upgrade', head(200, [['Upgrade', 'websocket']]), /hop-by-hop/],
    ['two lengths', head(200, [['Content-Length', '1'], ['Content-Length', '2']]), /Content-Length/],
    ['a negative length', head(200, [['Content-Length', '-1']]), /Content-Length/],
    ['a length with a sign', head(200, [['Content-Length', '+1']]), /Content-Length/],
    ['a length on a 204', head(204, [['Content-Length', '3']]), /204/],
  ];
  for (const [name, input, why] of cases) {
    const checked = checkResponseHead(input);
    t.equal(checked.ok, false, name);
    if (!checked.ok) t.match(checked.reason, why, `${name}: ${checked.reason}`);
  }
});

t.test('bodiless: HEAD, 204 and 304', async (t) => {
  t.ok(bodiless(200, 'HEAD'));
  t.ok(bodiless(204, 'GET'));
  t.ok(bodiless(304, 'GET'));
  t.notOk(bodiless(200, 'GET'));
  t.notOk(bodiless(200, undefined));
});
