/**
 * The MessagePack payloads of protocol/messages.ts: round trips, every case of
 * protocol/vectors/payloads-invalid.json, limits, prototype safety and a payload fuzz.
 */
import t from 'tap';
import { pack, unpack } from '../../protocol/codec.js';
import { ErrorCode, ProtocolError } from '../../protocol/errors.js';
import {
  DEFAULTS,
  PROTOCOL_VERSION,
  decodeCancel,
  decodeEnviron,
  decodeGoAway,
  decodeHello,
  decodeResponseHead,
  encodeCancel,
  encodeEnviron,
  encodeGoAway,
  encodeHello,
  encodeResponseHead,
  type Hello,
} from '../../protocol/messages.js';
import * as b from './builder.js';
import { int, mulberry32, randomBytes, seed, type Random } from './random.js';
import { payloadsInvalid, valid } from './vectors.js';

const DECODE = {
  hello: (p: Uint8Array) => decodeHello(p),
  environ: (p: Uint8Array, stream: number, maxKeys?: number) => decodeEnviron(p, stream, maxKeys),
  responseHead: (p: Uint8Array, stream: number) => decodeResponseHead(p, stream),
  cancel: (p: Uint8Array, stream: number) => decodeCancel(p, stream),
  goaway: (p: Uint8Array) => decodeGoAway(p),
} as const;

/** The error `fn` throws, or what it returned when it did not throw. */
function caught(fn: () => unknown): unknown {
  try {
    return { returned: fn() };
  } catch (err) {
    return err;
  }
}

const HELLO: Hello = { version: PROTOCOL_VERSION, role: 'proxy', maxFrameSize: DEFAULTS.maxFrameSize, initialWindow: DEFAULTS.initialWindow };
const ENVIRON = { REQUEST_METHOD: 'GET', PATH_INFO: '/caf\u00c3\u00a9', QUERY_STRING: 'a=1&b=%FF' };

t.test('round trips', async (t) => {
  const runner: Hello = {
    ...HELLO,
    role: 'runner',
    maxStreams: 7,
    pid: 0xffffffff,
    worker: 1,
    workers: 1,
    app: 'm\u00fcnchen:app',
    software: 'tsgi-runner/0.1.0',
  };
  t.strictSame(decodeHello(encodeHello(HELLO)), HELLO);
  t.strictSame(decodeHello(encodeHello(runner)), runner);
  t.strictSame(decodeEnviron(encodeEnviron(ENVIRON), 1), ENVIRON);
  const latin1 = Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`HTTP_X_${i}`, String.fromCharCode(i).repeat(3)]));
  t.strictSame(decodeEnviron(encodeEnviron({ ...ENVIRON, ...latin1 }), 1), { ...ENVIRON, ...latin1 }, 'every byte value survives');
  const head = { status: 404, reason: 'Not Found', headers: [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']] as Array<[string, string]> };
  t.strictSame(decodeResponseHead(encodeResponseHead(head), 3), head);
  t.strictSame(decodeCancel(encodeCancel({ code: ErrorCode.REFUSED_STREAM, reason: 'draining' }), 3), { code: 6, reason: 'draining' });
  t.strictSame(decodeGoAway(encodeGoAway({ lastStream: 0xffffffff, code: 0, reason: '' })), { lastStream: 0xffffffff, code: 0, reason: '' });
});

t.test('the encoders produce what the builder produces', async (t) => {
  t.equal(b.hex(encodeHello(HELLO)), b.hex(b.msgpack(HELLO)));
  t.equal(b.hex(encodeEnviron(ENVIRON)), b.hex(b.msgpack(ENVIRON)));
  const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`K${i}`, 'v'.repeat(i * 20)]));
  t.equal(b.hex(pack(many)), b.hex(b.msgpack(many)), 'map16, str8 and str16');
});

t.test('optional fields left undefined are omitted, never sent as an extension type', async (t) => {
  const sparse = { ...HELLO, maxStreams: undefined, app: undefined } as unknown as Hello;
  t.equal(b.hex(encodeHello(sparse)), b.hex(encodeHello(HELLO)));
  t.strictSame(decodeHello(encodeHello(sparse)), HELLO);
  t.equal(b.hex(pack([1, undefined])), '9201c0', 'undefined in an array is nil');
});

t.test('unknown HELLO keys are ignored, defaults apply to missing reasons', async (t) => {
  const extra = b.msgpack({ ...HELLO, future: { nested: [1, 2] }, compression: 'zstd' });
  t.strictSame(decodeHello(extra), HELLO);
  t.strictSame(decodeCancel(b.msgpack({ code: 8 }), 5), { code: 8, reason: '' });
  t.strictSame(decodeGoAway(b.msgpack({ lastStream: 3, code: 1 })), { lastStream: 3, code: 1, reason: '' });
});

t.test('non-canonical encodings of the vector values decode the same', async (t) => {
  for (const f of valid.flatMap((v) => v.frames).filter((f) => f.canonical === false)) {
    t.strictSame(decodeHello(b.unhex(f.payload)), f.value);
  }
});

t.test('every invalid payload vector fails with its code, on its stream', async (t) => {
  for (const v of payloadsInvalid) {
    const payload = b.unhex(v.payload);
    const stream = v.stream ?? 0;
    const err = caught(() => (v.decode === 'environ' ? DECODE.environ(payload, stream, v.maxKeys) : DECODE[v.decode](payload, stream)));
    t.ok(err instanceof ProtocolError, `${v.name}: a ProtocolError (${String((err as Error).message ?? JSON.stringify(err))})`);
    t.equal((err as ProtocolError).code, ErrorCode[v.error as keyof typeof ErrorCode], `${v.name}: ${v.error}`);
    t.equal((err as ProtocolError).stream, stream, `${v.name}: on stream ${stream}`);
  }
});

t.test('the stream-level decoders report the stream they were given', async (t) => {
  const bad = b.unhex('c1');
  for (const stream of [1, 0x7fffffff, 0xffffffff]) {
    for (const decode of [DECODE.environ, DECODE.responseHead, DECODE.cancel]) {
      t.equal((caught(() => decode(bad, stream)) as ProtocolError).stream, stream);
    }
  }
  t.equal((caught(() => decodeHello(bad)) as ProtocolError).stream, 0, 'HELLO: a connection error');
  t.equal((caught(() => decodeGoAway(bad)) as ProtocolError).stream, 0, 'GOAWAY: a connection error');
});

t.test('decodeEnviron bounds the number of keys', async (t) => {
  const environ = (keys: number): Record<string, string> => {
    const out: Record<string, string> = { ...ENVIRON };
    for (let i = Object.keys(out).length; i < keys; i++) out[`HTTP_X_${i}`] = String(i);
    return out;
  };
  t.equal(Object.keys(decodeEnviron(pack(environ(DEFAULTS.maxEnvironKeys)), 1)).length, 512, '512 keys pass by default');
  t.match(caught(() => decodeEnviron(pack(environ(DEFAULTS.maxEnvironKeys + 1)), 9)), { code: ErrorCode.LIMIT_EXCEEDED, stream: 9 });
  t.match(caught(() => decodeEnviron(pack(environ(5)), 3, 4)), { code: ErrorCode.LIMIT_EXCEEDED, stream: 3 });
  t.equal(Object.keys(decodeEnviron(pack(environ(4)), 3, 4)).length, 4);
});

t.test('__proto__ and other Object.prototype names as keys do not touch prototypes', async (t) => {
  const base = b.msgpack({ REQUEST_METHOD: 'GET', PATH_INFO: '/' });
  const withKey = (key: string, value: unknown): Buffer =>
    Buffer.concat([Buffer.from([base[0]! + 1]), base.subarray(1), b.str(key), b.msgpack(value)]);

  const env = decodeEnviron(withKey('__proto__', 'x'), 1);
  t.equal(Object.getPrototypeOf(env), Object.prototype, 'a str value does not become the prototype');
  t.equal(env.REQUEST_METHOD, 'GET');

  t.match(caught(() => decodeEnviron(withKey('__proto__', { polluted: 'yes' }), 1)), { code: ErrorCode.PROTOCOL_ERROR, stream: 1 });
  const sneaky = Buffer.concat([b.unhex('81'), b.str('__proto__'), b.msgpack({ REQUEST_METHOD: 'GET', PATH_INFO: '/' })]);
  t.match(caught(() => decodeEnviron(sneaky, 1)), { code: ErrorCode.PROTOCOL_ERROR }, 'required keys are not taken from a prototype');
  const sneakyHello = Buffer.concat([b.unhex('81'), b.str('__proto__'), b.msgpack(HELLO)]);
  t.match(caught(() => decodeHello(sneakyHello)), { code: ErrorCode.PROTOCOL_ERROR }, 'nor HELLO fields');

  const names = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];
  const own = names.reduce((bytes, name) => Buffer.concat([Buffer.from([bytes[0]! + 1]), bytes.subarray(1), b.str(name), b.str('v')]), base);
  const decoded = decodeEnviron(own, 1);
  for (const name of names) t.equal(decoded[name], 'v', `${name} is an own str value`);

  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched');
  t.same(Object.getOwnPropertyNames(Object.prototype).filter((k) => k === 'polluted' || k === 'REQUEST_METHOD'), []);
});

t.test('deep nesting is a ProtocolError, not a crash', async (t) => {
  const deep = Buffer.concat([b.unhex('85'), b.msgpack(HELLO).subarray(1), b.str('deep'), Buffer.alloc(100000, 0x91), b.unhex('c0')]);
  t.match(caught(() => decodeHello(deep)), { code: ErrorCode.PROTOCOL_ERROR });
});

t.test('unpack takes any valid encoding and refuses what is outside the profile', async (t) => {
  const same = [
    ['01', 'cc01', 'cd0001', 'ce00000001', 'cf0000000000000001', 'd001', 'd10001', 'd200000001', 'd30000000000000001'],
    ['a161', 'd90161', 'da000161', 'db0000000161'],
    ['90', 'dc0000', 'dd00000000'],
    ['80', 'de0000', 'df00000000'],
  ];
  for (const group of same) {
    const first = unpack(b.unhex(group[0]!), 'test');
    for (const encoding of group) t.strictSame(unpack(b.unhex(encoding), 'test'), first, encoding);
  }
  t.strictSame(unpack(b.unhex('c4026869'), 'test'), Buffer.from('hi'), 'bin');
  t.equal(unpack(b.unhex('cb3ff8000000000000'), 'test'), 1.5, 'float64');
  t.equal(unpack(b.unhex('ca3fc00000'), 'test'), 1.5, 'float32');
  const outside = {
    'never-used 0xc1': 'c1',
    'in an array': '9201c1',
    'fixext 1': 'd40000',
    'fixext 4 timestamp': 'd6ff00000000',
    'ext 8': 'c70173' + '90',
    'record definition': 'd47200',
    'int key': '810101',
    'nil key': '81c001',
    'array key': '819001',
    'truncated str': 'a36162',
    'truncated length': 'da00',
    'map missing a value': '82a161c0a162',
    'trailing byte': 'c0c0',
    'empty': '',
  };
  for (const [name, hex] of Object.entries(outside)) {
    t.match(caught(() => unpack(b.unhex(hex), 'test', 5)), { code: ErrorCode.PROTOCOL_ERROR, stream: 5 }, name);
  }
});

/** A valid payload with a few bytes changed, cut short, or grown. */
function mutate(random: Random, bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  const choice = int(random, 0, 2);
  if (choice === 0 && out.length > 0) {
    for (let n = int(random, 1, 3); n > 0; n--) out[int(random, 0, out.length - 1)] = int(random, 0, 255);
    return out;
  }
  if (choice === 1) return out.subarray(0, int(random, 0, out.length));
  return Buffer.concat([out, randomBytes(random, int(random, 1, 4))]);
}

t.test('fuzz: decoders return a value or throw a ProtocolError, nothing else', async (t) => {
  const runSeed = seed();
  t.comment(`seed ${runSeed} (replay with TSGI_SEED=${runSeed})`);
  const random = mulberry32(runSeed);
  const samples = valid.flatMap((v) => v.frames).filter((f) => f.value !== undefined).map((f) => b.unhex(f.payload));
  const decoders = Object.values(DECODE);
  const problems: string[] = [];
  const tally = { accepted: 0, refused: 0 };
  for (let i = 0; i < 2000; i++) {
    const payload = random() < 0.3 ? randomBytes(random, int(random, 0, 64)) : mutate(random, samples[int(random, 0, samples.length - 1)]!);
    for (const decode of decoders) {
      const result = caught(() => decode(payload, 1));
      if (result instanceof ProtocolError) tally.refused++;
      else if (result instanceof Error) problems.push(`${payload.toString('hex')}: ${result.name}: ${result.message}`);
      else tally.accepted++;
    }
  }
  t.comment(`${tally.accepted} accepted, ${tally.refused} refused`);
  t.same(problems.slice(0, 5), [], `${problems.length} problems`);
});
