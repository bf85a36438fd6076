/**
 * protocol/one-pass.ts: the environ and the response head encoded and decoded in one pass. It
 * must write the bytes msgpackr writes, decode whatever it takes exactly as the general path
 * (the profile check, then msgpackr) does, and take the payloads every request carries, or the
 * requests lose the speed it is for.
 */
import t from 'tap';
import { pack, unpack } from '../../protocol/codec.js';
import { decodeHeadInOnePass, decodeStringMap, encodeHeadInOnePass, encodeStringMap } from '../../protocol/one-pass.js';
import * as b from './builder.js';
import { int, mulberry32, randomBytes, seed, type Random } from './random.js';

const ENVIRON = {
  REQUEST_METHOD: 'GET',
  SCRIPT_NAME: '',
  PATH_INFO: '/some/path',
  QUERY_STRING: 'x=1&y=2',
  SERVER_NAME: 'localhost',
  SERVER_PORT: '8080',
  SERVER_PROTOCOL: 'HTTP/1.1',
  REMOTE_ADDR: '127.0.0.1',
  REMOTE_PORT: '54321',
  REQUEST_URI: '/some/path?x=1&y=2',
  'wsgi.url_scheme': 'http',
  'tsgi.request_id': '2f9c0a6b1d3e4f5a6b7c8d9e0f1a2b3c',
  HTTP_HOST: 'localhost:8080',
  HTTP_USER_AGENT: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
};
const HEAD = { status: 200, reason: 'OK', headers: [['Content-Type', 'text/plain'], ['Content-Length', '12']] };

/** What the general path makes of `payload`, or the error it throws. */
function general(payload: Uint8Array): unknown {
  try {
    return unpack(payload, 'test');
  } catch (err) {
    return err;
  }
}

/** A payload `view` of `bytes` inside a larger buffer, as a socket read hands it over. */
function inside(bytes: Uint8Array): Buffer {
  const big = Buffer.alloc(bytes.length + 64, 0xa5);
  big.set(bytes, 17);
  return big.subarray(17, 17 + bytes.length);
}

t.test('takes the environ and head every request carries, and decodes them as the general path does', async (t) => {
  for (const payload of [b.msgpack(ENVIRON), inside(b.msgpack(ENVIRON))]) {
    const decoded = decodeStringMap(payload, 512);
    t.strictSame(decoded, ENVIRON);
    t.strictSame(decoded, general(payload));
    t.strictSame(Object.keys(decoded!), Object.keys(ENVIRON), 'keys in the order sent');
    t.equal(Object.getPrototypeOf(decoded), Object.prototype, 'a plain object, as msgpackr makes');
  }
  t.strictSame(decodeStringMap(b.msgpack(ENVIRON), 512), ENVIRON, 'the cached names give the same result the second time');
  for (const head of [HEAD, { status: 404, reason: 'Not Found', headers: [] }, { headers: [['a', '']], status: 5 }, { status: 999, headers: [] }]) {
    const payload = b.msgpack(head);
    const decoded = decodeHeadInOnePass(inside(payload));
    t.strictSame(decoded, { reason: '', ...head }, JSON.stringify(head));
  }
});

t.test('every str and map encoding, not only the smallest', async (t) => {
  const str8 = [0xd9, 3, ...Buffer.from('GET')];
  const str16 = [0xda, 0, 9, ...Buffer.from('PATH_INFO')];
  const str32 = [0xdb, 0, 0, 0, 1, ...Buffer.from('/')];
  const key = (text: string) => [...b.str(text)];
  const pairs = [...key('REQUEST_METHOD'), ...str8, ...str16, ...str32];
  for (const head of [[0x82], [0xde, 0, 2], [0xdf, 0, 0, 0, 2]]) {
    const payload = Buffer.from([...head, ...pairs]);
    t.strictSame(decodeStringMap(payload, 512), { REQUEST_METHOD: 'GET', PATH_INFO: '/' }, Buffer.from(head).toString('hex'));
  }
  const long = 'v'.repeat(70_000);
  t.strictSame(decodeStringMap(b.msgpack({ REQUEST_METHOD: long, ['K'.repeat(300)]: 'x' }), 512), { REQUEST_METHOD: long, ['K'.repeat(300)]: 'x' });
  const sixteenPairs = Array.from({ length: 17 }, (_, i) => [`H${i}`, `${i}`]);
  t.strictSame(decodeHeadInOnePass(b.msgpack({ status: 200, headers: sixteenPairs })), { status: 200, reason: '', headers: sixteenPairs }, 'array16 of pairs');
  t.strictSame(decodeHeadInOnePass(Buffer.from([0x82, ...key('status'), 0xcd, 0x01, 0xf4, ...key('headers'), 0x90])), { status: 500, reason: '', headers: [] }, 'uint16 status');
});

t.test('leaves to the general path what it does not take', async (t) => {
  const refused: Array<[string, Uint8Array]> = [
    ['a byte outside ASCII in a value', b.msgpack({ PATH_INFO: '/caf\u00e9' })],
    ['a byte outside ASCII in a key', b.msgpack({ 'K\u00e9': 'v' })],
    ['a value that is no str', b.msgpack({ REQUEST_METHOD: 'GET', n: 1 })],
    ['a nested value', b.msgpack({ a: { b: 'c' } })],
    ['an array', b.msgpack(['a', 'b'])],
    ['a __proto__ key', b.msgpack(JSON.parse('{"__proto__":"x"}'))],
    ['bytes after the map', Buffer.concat([b.msgpack({ a: 'b' }), Buffer.from([0xc0])])],
    ['nothing', Buffer.alloc(0)],
  ];
  for (const [why, payload] of refused) t.equal(decodeStringMap(payload, 512), null, why);
  const environ = b.msgpack(ENVIRON);
  for (let cut = 0; cut < environ.length; cut++) {
    if (decodeStringMap(environ.subarray(0, cut), 512) !== null) t.fail(`took the environ cut at ${cut} bytes`);
  }
  t.equal(decodeStringMap(b.msgpack({ a: 'b', c: 'd' }), 1), null, 'more keys than allowed: the general path says so');
  t.ok(decodeStringMap(b.msgpack({ a: 'b', c: 'd' }), 2), 'as many as allowed');
  const heads: Array<[string, unknown]> = [
    ['another key', { status: 200, headers: [], extra: 'x' }],
    ['no headers', { status: 200, reason: 'OK' }],
    ['no status', { reason: 'OK', headers: [] }],
    ['a status over 999', { status: 1000, headers: [] }],
    ['a negative status', { status: -1, headers: [] }],
    ['a float status', { status: 200.5, headers: [] }],
    ['a pair of three', { status: 200, headers: [['a', 'b', 'c']] }],
    ['a value outside ASCII', { status: 200, headers: [['a', '\u00e9']] }],
    ['a value that is no str', { status: 200, headers: [['a', 1]] }],
    ['a reason that is no str', { status: 200, reason: 1, headers: [] }],
  ];
  for (const [why, head] of heads) t.equal(decodeHeadInOnePass(b.msgpack(head)), null, why);
  t.equal(decodeHeadInOnePass(Buffer.from([0x82, ...b.str('status'), 0xc8, ...b.str('status'), 0xc8])), null, 'a key twice');
  const head = b.msgpack(HEAD);
  for (let cut = 0; cut < head.length; cut++) {
    if (decodeHeadInOnePass(head.subarray(0, cut)) !== null) t.fail(`took the head cut at ${cut} bytes`);
  }
});

t.test('more names than the cache holds, in any order: each decoded as sent', async (t) => {
  const random = mulberry32(seed());
  for (let round = 0; round < 200; round++) {
    const environ: Record<string, string> = {};
    for (let i = int(random, 1, 40); i > 0; i--) environ[`HTTP_X_${int(random, 0, 2000)}`] = `${int(random, 0, 1e6)}`;
    const decoded = decodeStringMap(b.msgpack(environ), 512);
    if (JSON.stringify(decoded) !== JSON.stringify(environ)) return void t.fail(`round ${round}: ${JSON.stringify(decoded)}`);
  }
  t.pass('200 environs of up to 40 of 2,001 names');
});

/** A valid payload with a few bytes changed, cut or added: mostly refused, sometimes still a map. */
function mutated(random: Random, bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  switch (int(random, 0, 2)) {
    case 0:
      for (let n = int(random, 1, 3); n > 0; n--) out[int(random, 0, out.length - 1)] = random() < 0.5 ? int(random, 0x20, 0x7e) : int(random, 0, 255);
      return out;
    case 1:
      return out.subarray(0, int(random, 0, out.length - 1));
    default: {
      const at = int(random, 0, out.length);
      return Buffer.concat([out.subarray(0, at), randomBytes(random, int(random, 1, 4)), out.subarray(at)]);
    }
  }
}

/** What decodeResponseHead's general path accepts: status 0–999, headers [str, str] pairs. */
function validHead(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || value instanceof Error || Array.isArray(value)) return false;
  const { status, headers } = value as { status?: unknown; headers?: unknown };
  return (
    Number.isInteger(status) &&
    (status as number) >= 0 &&
    (status as number) <= 999 &&
    Array.isArray(headers) &&
    headers.every((pair) => Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string' && typeof pair[1] === 'string')
  );
}

t.test('fuzz: null, or exactly what the general path decodes', async (t) => {
  const random = mulberry32(seed());
  const environ = b.msgpack(ENVIRON);
  const head = b.msgpack(HEAD);
  const tally = { environ: 0, head: 0 };
  for (let i = 0; i < 20_000; i++) {
    const payload = mutated(random, i % 2 ? environ : head);
    const truth = general(payload);
    const map = decodeStringMap(payload, 512);
    if (map !== null) {
      tally.environ++;
      if (truth instanceof Error || JSON.stringify(map) !== JSON.stringify(truth)) return void t.fail(`environ ${payload.toString('hex')}: ${JSON.stringify(map)} against ${JSON.stringify(truth)}`);
    }
    const decoded = decodeHeadInOnePass(payload);
    if (decoded !== null) {
      tally.head++;
      const value = truth as { status?: unknown; reason?: unknown; headers?: unknown };
      const expected = { status: value.status, reason: value.reason ?? '', headers: value.headers };
      if (!validHead(truth) || JSON.stringify(decoded) !== JSON.stringify(expected)) return void t.fail(`head ${payload.toString('hex')}: ${JSON.stringify(decoded)} against ${JSON.stringify(truth)}`);
    }
  }
  t.ok(tally.environ > 100 && tally.head > 100, `some mutants still decode (${tally.environ} environs, ${tally.head} heads of 20,000), each as the general path does`);
});

/**
 * A string of `length` UTF-16 units: mostly ASCII, sometimes a latin-1 char (PATH_INFO's bytes),
 * one beyond, a surrogate alone or an astral char's pair.
 */
function text(random: Random, length: number): string {
  let out = '';
  const wide = random() < 0.2;
  for (let i = 0; i < length; i++) {
    const r = random();
    if (!wide || r >= 0.08) out += String.fromCharCode(int(random, 0x20, 0x7e));
    else if (r < 0.05) out += String.fromCharCode(int(random, 0x80, 0xff));
    else if (r < 0.07) out += String.fromCharCode(int(random, 0x100, 0xd7ff));
    else out += random() < 0.5 ? String.fromCharCode(int(random, 0xd800, 0xdfff)) : '\u{1F600}';
  }
  return out;
}

/** Lengths around every str header's bounds. */
function length(random: Random): number {
  return [0, 1, 31, 32, 255, 256, 65_535, 65_536, int(random, 0, 40), int(random, 0, 300)][int(random, 0, 9)]!;
}

/** The one pass wrote what msgpackr wrote, or left it to msgpackr because a string holds a surrogate. */
function same(fast: Uint8Array | null, packed: Uint8Array, strings: string[]): boolean {
  if (fast === null) return strings.some((text) => /[\ud800-\udfff]/.test(text));
  return Buffer.from(fast).equals(Buffer.from(packed));
}

t.test('encodes the bytes msgpackr packs', async (t) => {
  const random = mulberry32(seed());
  const hex = (bytes: Uint8Array | null) => (bytes === null ? 'null' : Buffer.from(bytes).toString('hex'));
  t.equal(hex(encodeStringMap(ENVIRON)), hex(pack(ENVIRON)), 'the usual environ');
  t.equal(hex(encodeHeadInOnePass(HEAD.status, HEAD.reason, HEAD.headers as Array<[string, string]>)), hex(pack(HEAD)), 'the usual head');
  for (let round = 0; round < 300; round++) {
    const map: Record<string, string> = {};
    // Many keys (every map header) with short strings, or a few with strings of every str header.
    const many = round < 3;
    const keys = many ? [16, 0xffff, 0x10000][round]! : int(random, 0, 20);
    const size = (short: number) => (many ? int(random, 0, short) : round % 10 === 0 ? length(random) : int(random, 0, 40));
    for (let i = 0; i < keys; i++) map[`K${i}${text(random, size(2))}`] = text(random, size(4));
    if (!same(encodeStringMap(map), pack(map), Object.entries(map).flat())) return void t.fail(`map of ${keys} keys, round ${round}`);
    const status = [0, 127, 128, 255, 256, 999][round % 6]!;
    const headers = Array.from({ length: random() < 0.1 ? int(random, 16, 300) : int(random, 0, 6) }, (): [string, string] => [text(random, int(random, 1, 20)), text(random, length(random) % 1000)]);
    const reason = text(random, int(random, 0, 40));
    if (!same(encodeHeadInOnePass(status, reason, headers), pack({ status, reason, headers }), [reason, ...headers.flat()])) {
      return void t.fail(`head of ${headers.length} headers, round ${round}`);
    }
  }
  t.pass('300 random maps and heads, every header size');
  t.equal(encodeStringMap({ a: 1 } as unknown as Record<string, string>), null, 'a value that is no str: msgpackr encodes it');
  t.equal(encodeHeadInOnePass(1000, 'x', []), null, 'a status above 999');
  t.equal(encodeHeadInOnePass(200.5, 'x', []), null, 'a status that is no integer');
  t.equal(encodeHeadInOnePass(200, 'x', [['a', 'b', 'c'] as unknown as [string, string]]), null, 'a pair of three');
  t.equal(encodeHeadInOnePass(200, 'x', ['ab' as unknown as [string, string]]), null, 'a pair that is a string');
  // eslint-disable-next-line no-sparse-arrays
  t.equal(encodeHeadInOnePass(200, 'x', [, ['a', 'b']] as unknown as Array<[string, string]>), null, 'a hole in the headers');
  t.equal(encodeHeadInOnePass(200, 'x', { length: 0 } as unknown as Array<[string, string]>), null, 'headers that are no array');
  for (const lone of ['\ud800', 'x\udc00y', 'a'.repeat(70) + '\ud800']) {
    t.equal(encodeStringMap({ A: lone }), null, `a lone surrogate (${lone.length} units): msgpackr writes it`);
    t.equal(encodeHeadInOnePass(200, lone, []), null, 'in a reason too');
  }
  const inherits = Object.assign(Object.create({ INHERITED: 'x' }) as Record<string, string>, { A: 'b' });
  t.equal(encodeStringMap(inherits), null, 'an object with a prototype of its own: msgpackr skips inherited keys');
  const bare = Object.assign(Object.create(null) as Record<string, string>, { A: 'b' });
  t.equal(hex(encodeStringMap(bare)), hex(pack(bare)), 'a null-prototype object is encoded');
});

t.test('a payload stays as encoded while more are encoded after it', async (t) => {
  const first = encodeStringMap(ENVIRON)!;
  const copy = Buffer.from(first);
  for (let i = 0; i < 1000; i++) encodeStringMap({ ...ENVIRON, PATH_INFO: `/${i}`.repeat(i % 50) });
  const big = encodeStringMap({ BIG: 'x'.repeat(100_000) })!;
  t.same(Buffer.from(first), copy);
  t.equal(big.buffer.byteLength, big.length, 'a payload bigger than a block holds just its own bytes');
  const after = encodeStringMap({ A: 'b' })!;
  t.equal(after.buffer.byteLength, 8192, 'and the next comes from a block of the usual size');
  t.equal(Buffer.from(big).subarray(0, 4).toString('hex'), Buffer.from(pack({ BIG: 'x'.repeat(100_000) })).subarray(0, 4).toString('hex'));
});
