/**
 * The source of protocol/vectors/*.json: the case tables below, encoded with the independent
 * builder (./builder.ts) — never with protocol/, whose output the tests check against them.
 *
 *   Regenerate after editing a table (then review the diff of the JSON files):
 *     npm run build && node dist/test/protocol/make-vectors.js --write
 *   Without --write it is a test (tap runs it with the suite): it fails when a JSON file
 *   differs from what the tables produce, i.e. when someone edited the JSON by hand.
 *
 * The JSON files are the contract shared with the other implementations (the Python worker
 * runs the same ones), so keep every case small, named and described.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACK, END_STREAM, T, credit, frame, header, hex, msgpack, ping, str, u32, type TypeName } from './builder.js';
import { source } from '../helpers/root.js';

const VECTORS = source('protocol/vectors');

// ---------------------------------------------------------------------------------------------
// Valid frames

interface FrameCase {
  /** A name from SPEC.md §2, or a number for a type this version does not define. */
  type: TypeName | number;
  flags: number;
  stream: number;
  /** MessagePack frames: the value, encoded with builder.msgpack unless `raw` is given. */
  value?: unknown;
  /** The payload bytes when there is no value, or a non-canonical encoding of `value`. */
  raw?: Uint8Array;
}

interface ValidCase {
  name: string;
  description: string;
  frames: FrameCase[];
}

const PROXY_HELLO = {
  version: 1,
  role: 'proxy',
  maxFrameSize: 65536,
  initialWindow: 262144,
  software: 'tsgi-proxy/0.1.0',
};

const RUNNER_HELLO = {
  version: 1,
  role: 'runner',
  maxFrameSize: 1048576,
  initialWindow: 262144,
  maxStreams: 1024,
  pid: 48213,
  worker: 2,
  workers: 4,
  app: 'app:application',
  software: 'tsgi-runner/0.1.0',
  accepts: true,
  connections: 4,
};

/** `/caf%C3%A9` as PEP 3333 native strings: one char per byte, so 8 chars, 10 UTF-8 bytes. */
const POST_ENVIRON = {
  REQUEST_METHOD: 'POST',
  SCRIPT_NAME: '',
  PATH_INFO: '/caf\u00c3\u00a9',
  QUERY_STRING: 'q=1',
  CONTENT_TYPE: 'text/plain',
  CONTENT_LENGTH: '12',
  SERVER_NAME: 'localhost',
  SERVER_PORT: '8080',
  SERVER_PROTOCOL: 'HTTP/1.1',
  // 20 chars, 34 UTF-8 bytes: str8, although the char count alone would fit a fixstr.
  HTTP_X_LATIN1: '\u00e9t\u00e9 \u00e0 M\u00fcnchen \u00ff\u00fe\u00fd\u00fc\u00fb\u00fa',
  'wsgi.url_scheme': 'http',
};

const GET_ENVIRON = {
  REQUEST_METHOD: 'GET',
  PATH_INFO: '/',
  QUERY_STRING: '',
  SERVER_PROTOCOL: 'HTTP/1.1',
  REMOTE_ADDR: '127.0.0.1',
  'tsgi.request_id': '0f3c',
};

const OK_HEAD = {
  status: 200,
  reason: 'OK',
  headers: [
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['Content-Length', '12'],
    ['X-Path', '/caf\u00c3\u00a9'],
  ],
};

const text = (s: string): Buffer => Buffer.from(s, 'latin1');
const OPAQUE = Buffer.from('0001020304050607', 'hex');
const PATTERN = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));

/** HELLO as a map16 with version as a uint16: valid, but not what tsgi (or most libraries) sends. */
const WIDE_HELLO = Buffer.concat([
  Buffer.from([0xde, 0x00, 0x04]),
  str('version'),
  Buffer.from([0xcd, 0x00, 0x01]),
  str('role'),
  str('proxy'),
  str('maxFrameSize'),
  Buffer.from([0xce, 0x00, 0x00, 0x40, 0x00]),
  str('initialWindow'),
  Buffer.from([0xce, 0x00, 0x00, 0x00, 0x00]),
]);

const VALID: ValidCase[] = [
  {
    name: 'hello-proxy',
    description: 'The proxy HELLO: the keys both sides send.',
    frames: [{ type: 'HELLO', flags: 0, stream: 0, value: PROXY_HELLO }],
  },
  {
    name: 'hello-runner',
    description: 'The runner HELLO with every key of SPEC.md section 3.',
    frames: [{ type: 'HELLO', flags: 0, stream: 0, value: RUNNER_HELLO }],
  },
  {
    name: 'hello-map16',
    description:
      'A HELLO encoded as map16 with version as uint16: decoders MUST accept any valid encoding (SPEC.md section 11). ' +
      'Encoders produce the fixmap form, so `payload` differs from pack(value).',
    frames: [
      {
        type: 'HELLO',
        flags: 0,
        stream: 0,
        raw: WIDE_HELLO,
        value: { version: 1, role: 'proxy', maxFrameSize: 16384, initialWindow: 0 },
      },
    ],
  },
  {
    name: 'request-post-latin1',
    description: 'REQUEST opening stream 1 with a body to follow; values are byte strings (PATH_INFO of /caf%C3%A9).',
    frames: [{ type: 'REQUEST', flags: 0, stream: 1, value: POST_ENVIRON }],
  },
  {
    name: 'request-end-stream',
    description: 'REQUEST with END_STREAM: a request without a body.',
    frames: [{ type: 'REQUEST', flags: END_STREAM, stream: 3, value: GET_ENVIRON }],
  },
  {
    name: 'response-head',
    description: 'RESPONSE head; the body follows as DATA.',
    frames: [{ type: 'RESPONSE', flags: 0, stream: 1, value: OK_HEAD }],
  },
  {
    name: 'response-end-stream',
    description: 'RESPONSE with END_STREAM: a response without a body.',
    frames: [{ type: 'RESPONSE', flags: END_STREAM, stream: 3, value: { status: 204, reason: 'No Content', headers: [] } }],
  },
  {
    name: 'data',
    description: 'DATA carrying 12 body bytes.',
    frames: [{ type: 'DATA', flags: 0, stream: 1, raw: text('Hello, world') }],
  },
  {
    name: 'data-empty-end-stream',
    description: 'Empty DATA with END_STREAM: ends a half without more bytes (always allowed by flow control).',
    frames: [{ type: 'DATA', flags: END_STREAM, stream: 1 }],
  },
  {
    name: 'data-undefined-flags',
    description: 'DATA with every flag bit but END_STREAM set: receivers ignore undefined bits (not END_STREAM).',
    frames: [{ type: 'DATA', flags: 0xfe, stream: 5, raw: text('x') }],
  },
  {
    name: 'data-3000',
    description: 'DATA of 3000 bytes (byte i is i % 251) with END_STREAM on stream 7.',
    frames: [{ type: 'DATA', flags: END_STREAM, stream: 7, raw: PATTERN }],
  },
  {
    name: 'credit',
    description: 'CREDIT of 131072 bytes on stream 1.',
    frames: [{ type: 'CREDIT', flags: 0, stream: 1, raw: u32(131072) }],
  },
  {
    name: 'credit-max',
    description: 'CREDIT of 2^31-1 on the largest stream id, 2^32-1.',
    frames: [{ type: 'CREDIT', flags: 0, stream: 0xffffffff, raw: u32(0x7fffffff) }],
  },
  {
    name: 'cancel',
    description: 'CANCEL with code 7 (CANCEL): the client went away.',
    frames: [{ type: 'CANCEL', flags: 0, stream: 1, value: { code: 7, reason: 'client went away' } }],
  },
  {
    name: 'goaway',
    description: 'GOAWAY for a drain: streams up to 5 finish, code NO_ERROR.',
    frames: [{ type: 'GOAWAY', flags: 0, stream: 0, value: { lastStream: 5, code: 0, reason: 'reload' } }],
  },
  {
    name: 'ping',
    description: 'PING with 8 opaque bytes.',
    frames: [{ type: 'PING', flags: 0, stream: 0, raw: OPAQUE }],
  },
  {
    name: 'ping-ack',
    description: 'The answer to that PING: ACK and the same bytes.',
    frames: [{ type: 'PING', flags: ACK, stream: 0, raw: OPAQUE }],
  },
  {
    name: 'accept',
    description: 'ACCEPT on stream 3: the runner is about to call the app; no payload.',
    frames: [{ type: 'ACCEPT', flags: 0, stream: 3 }],
  },
  {
    name: 'unknown-type',
    description: 'Frames of types this version does not define: decoded as they are, for the receiver to skip.',
    frames: [
      { type: 0x7f, flags: 0x03, stream: 0, raw: text('future') },
      { type: 0xff, flags: 0, stream: 9 },
    ],
  },
  {
    name: 'sequence',
    description: 'Several frames in one read: handshake answer, a request with a body, its response, credit and a ping.',
    frames: [
      { type: 'HELLO', flags: 0, stream: 0, value: RUNNER_HELLO },
      { type: 'REQUEST', flags: 0, stream: 1, value: POST_ENVIRON },
      { type: 'DATA', flags: 0, stream: 1, raw: text('Hello, ') },
      { type: 'DATA', flags: END_STREAM, stream: 1, raw: text('world') },
      { type: 'CREDIT', flags: 0, stream: 1, raw: u32(12) },
      { type: 'RESPONSE', flags: 0, stream: 1, value: OK_HEAD },
      { type: 'DATA', flags: 0, stream: 1, raw: text('Hello, world') },
      { type: 'DATA', flags: END_STREAM, stream: 1 },
      { type: 'PING', flags: 0, stream: 0, raw: OPAQUE },
      { type: 'CANCEL', flags: 0, stream: 3, value: { code: 6, reason: 'draining' } },
    ],
  },
];

function typeCode(type: TypeName | number): number {
  return typeof type === 'number' ? type : T[type];
}

function payloadOf(f: FrameCase): Buffer {
  if (f.raw) return Buffer.from(f.raw);
  return f.value === undefined ? Buffer.alloc(0) : msgpack(f.value);
}

function validJson(c: ValidCase): object {
  const bytes = Buffer.concat(
    c.frames.map((f) => (f.type === 'PING' ? ping(payloadOf(f), f.flags === ACK) : frame(typeCode(f.type), f.flags, f.stream, payloadOf(f)))),
  );
  return {
    name: c.name,
    description: c.description,
    hex: hex(bytes),
    frames: c.frames.map((f) => ({
      type: f.type,
      flags: f.flags,
      stream: f.stream,
      payload: hex(payloadOf(f)),
      ...(f.value === undefined ? {} : { value: f.value }),
      ...(f.value !== undefined && f.raw ? { canonical: false } : {}),
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// Frames the decoder must refuse (SPEC.md §2, "Frame rules"). In every case the offending
// frame is the last one, and its header alone decides.

interface InvalidCase {
  name: string;
  description: string;
  bytes: Buffer;
  maxFrameSize: number;
  error: 'FRAME_SIZE_ERROR' | 'PROTOCOL_ERROR';
}

const SMALL_HELLO = msgpack({ version: 1, role: 'proxy', maxFrameSize: 16384, initialWindow: 0 });
const CANCEL_PAYLOAD = msgpack({ code: 7, reason: '' });

const INVALID: InvalidCase[] = [
  {
    name: 'length-over-default-max',
    description: 'DATA announcing 16385 bytes before the handshake (limit 16384); only the header is sent.',
    bytes: header(T.DATA, 0, 1, 16385),
    maxFrameSize: 16384,
    error: 'FRAME_SIZE_ERROR',
  },
  {
    name: 'length-over-announced-max',
    description: 'DATA announcing 65537 bytes to a side that announced 65536.',
    bytes: header(T.DATA, 0, 1, 65537),
    maxFrameSize: 65536,
    error: 'FRAME_SIZE_ERROR',
  },
  {
    name: 'length-u32-max',
    description: 'A length of 2^32-1 against the largest allowed limit.',
    bytes: header(T.DATA, 0, 1, 0xffffffff),
    maxFrameSize: 16777216,
    error: 'FRAME_SIZE_ERROR',
  },
  {
    name: 'unknown-type-over-max',
    description: 'Unknown frame types are skipped, but their length is bounded like any other.',
    bytes: header(0x7f, 0, 0, 16385),
    maxFrameSize: 16384,
    error: 'FRAME_SIZE_ERROR',
  },
  {
    name: 'hello-on-stream',
    description: 'HELLO on stream 1.',
    bytes: frame(T.HELLO, 0, 1, SMALL_HELLO),
    maxFrameSize: 16384,
    error: 'PROTOCOL_ERROR',
  },
  {
    name: 'goaway-on-stream',
    description: 'GOAWAY on stream 1.',
    bytes: frame(T.GOAWAY, 0, 1, msgpack({ lastStream: 0, code: 0, reason: '' })),
    maxFrameSize: 16384,
    error: 'PROTOCOL_ERROR',
  },
  {
    name: 'ping-on-stream',
    description: 'PING (8 bytes, right size) on stream 1.',
    bytes: frame(T.PING, 0, 1, OPAQUE),
    maxFrameSize: 16384,
    error: 'PROTOCOL_ERROR',
  },
  {
    name: 'ping-ack-on-stream',
    description: 'PING+ACK on stream 0x80000000 (high bit of the stream id set).',
    bytes: frame(T.PING, ACK, 0x80000000, OPAQUE),
    maxFrameSize: 16384,
    error: 'PROTOCOL_ERROR',
  },
  ...(['REQUEST', 'RESPONSE', 'CANCEL'] as const).map((type) => ({
    name: `${type.toLowerCase()}-on-stream-0`,
    description: `${type} on stream 0.`,
    bytes: frame(T[type], 0, 0, type === 'CANCEL' ? CANCEL_PAYLOAD : msgpack({})),
    maxFrameSize: 16384,
    error: 'PROTOCOL_ERROR' as const,
  })),
  {
    name: 'data-on-stream-0',
    description: 'DATA on stream 0.',
    bytes: frame(T.DATA, 0, 0, text('abc')),
    maxFrameSize: 16384,
    error: 'PROTOCOL_ERROR',
  },
  {
    name: 'empty-data-on-stream-0',
    description: 'Empty DATA+END_STREAM on stream 0.',
    bytes: frame(T.DATA, END_STREAM, 0),
    maxFrameSize: 16384,
    error: 'PROTOCOL_ERROR',
  },
  {
    name: 'credit-on-stream-0',
    description: 'CREDIT (4 bytes, right size) on stream 0.',
    bytes: credit(0, 1024),
    maxFrameSize: 16384,
    error: 'PROTOCOL_ERROR',
  },
  ...[0, 3, 5, 8].map((length) => ({
    name: `credit-${length}-bytes`,
    description: `CREDIT with a ${length}-byte payload on stream 1.`,
    bytes: frame(T.CREDIT, 0, 1, Buffer.alloc(length, 0x01)),
    maxFrameSize: 16384,
    error: 'FRAME_SIZE_ERROR' as const,
  })),
  ...[0, 7, 9, 16].map((length) => ({
    name: `ping-${length}-bytes`,
    description: `PING with a ${length}-byte payload.`,
    bytes: frame(T.PING, 0, 0, Buffer.alloc(length, 0x02)),
    maxFrameSize: 16384,
    error: 'FRAME_SIZE_ERROR' as const,
  })),
  {
    name: 'accept-on-stream-0',
    description: 'ACCEPT on stream 0.',
    bytes: frame(T.ACCEPT, 0, 0, Buffer.alloc(0)),
    maxFrameSize: 16384,
    error: 'PROTOCOL_ERROR',
  },
  {
    name: 'accept-with-payload',
    description: 'ACCEPT with a 1-byte payload on stream 1.',
    bytes: frame(T.ACCEPT, 0, 1, Buffer.alloc(1)),
    maxFrameSize: 16384,
    error: 'FRAME_SIZE_ERROR',
  },
  {
    name: 'after-valid-frames',
    description: 'A valid HELLO and PING, then DATA on stream 0: the error comes with the third header.',
    bytes: Buffer.concat([frame(T.HELLO, 0, 0, SMALL_HELLO), ping(OPAQUE, false), frame(T.DATA, 0, 0, text('x'))]),
    maxFrameSize: 16384,
    error: 'PROTOCOL_ERROR',
  },
];

function invalidJson(c: InvalidCase): object {
  return { name: c.name, description: c.description, hex: hex(c.bytes), maxFrameSize: c.maxFrameSize, error: c.error };
}

// ---------------------------------------------------------------------------------------------
// Payloads the message decoders must refuse. `decode` names the function of
// protocol/messages.ts to apply (decodeHello, decodeEnviron, …); `stream` is passed to the
// stream-level ones and must come back in the error; `maxKeys` goes to decodeEnviron.

type Decode = 'hello' | 'environ' | 'responseHead' | 'cancel' | 'goaway';

interface PayloadCase {
  name: string;
  description: string;
  decode: Decode;
  payload: Buffer;
  error: 'PROTOCOL_ERROR' | 'LIMIT_EXCEEDED';
  maxKeys?: number;
}

const HELLO_OK = { version: 1, role: 'runner', maxFrameSize: 65536, initialWindow: 262144 };
const ENV_OK = { REQUEST_METHOD: 'GET', PATH_INFO: '/' };
const HEAD_OK = { status: 200, reason: 'OK', headers: [['Content-Type', 'text/plain']] };
const without = (value: Record<string, unknown>, key: string): Record<string, unknown> =>
  Object.fromEntries(Object.entries(value).filter(([k]) => k !== key));
const hx = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const PAYLOADS: PayloadCase[] = [
  { name: 'hello-array', description: 'HELLO payload is an array, not a map.', decode: 'hello', payload: msgpack([1, 'proxy']), error: 'PROTOCOL_ERROR' },
  { name: 'hello-string', description: 'HELLO payload is a str.', decode: 'hello', payload: msgpack('hello'), error: 'PROTOCOL_ERROR' },
  { name: 'hello-nil', description: 'HELLO payload is nil.', decode: 'hello', payload: msgpack(null), error: 'PROTOCOL_ERROR' },
  { name: 'hello-empty-payload', description: 'HELLO with no payload bytes at all.', decode: 'hello', payload: Buffer.alloc(0), error: 'PROTOCOL_ERROR' },
  { name: 'hello-missing-maxFrameSize', description: 'HELLO without maxFrameSize.', decode: 'hello', payload: msgpack(without(HELLO_OK, 'maxFrameSize')), error: 'PROTOCOL_ERROR' },
  { name: 'hello-maxFrameSize-below-min', description: 'HELLO.maxFrameSize of 16383 (minimum 16384).', decode: 'hello', payload: msgpack({ ...HELLO_OK, maxFrameSize: 16383 }), error: 'PROTOCOL_ERROR' },
  { name: 'hello-maxFrameSize-above-max', description: 'HELLO.maxFrameSize of 16777217 (maximum 16777216).', decode: 'hello', payload: msgpack({ ...HELLO_OK, maxFrameSize: 16777217 }), error: 'PROTOCOL_ERROR' },
  { name: 'hello-maxFrameSize-string', description: 'HELLO.maxFrameSize as a str.', decode: 'hello', payload: msgpack({ ...HELLO_OK, maxFrameSize: '65536' }), error: 'PROTOCOL_ERROR' },
  { name: 'hello-missing-version', description: 'HELLO without version.', decode: 'hello', payload: msgpack(without(HELLO_OK, 'version')), error: 'PROTOCOL_ERROR' },
  { name: 'hello-bad-role', description: 'HELLO.role is neither "proxy" nor "runner".', decode: 'hello', payload: msgpack({ ...HELLO_OK, role: 'client' }), error: 'PROTOCOL_ERROR' },
  { name: 'hello-initialWindow-over-max', description: 'HELLO.initialWindow of 2^31.', decode: 'hello', payload: msgpack({ ...HELLO_OK, initialWindow: 0x80000000 }), error: 'PROTOCOL_ERROR' },
  { name: 'hello-negative-initialWindow', description: 'HELLO.initialWindow of -1.', decode: 'hello', payload: msgpack({ ...HELLO_OK, initialWindow: -1 }), error: 'PROTOCOL_ERROR' },
  { name: 'hello-maxStreams-zero', description: 'HELLO.maxStreams of 0 (at least 1).', decode: 'hello', payload: msgpack({ ...HELLO_OK, maxStreams: 0 }), error: 'PROTOCOL_ERROR' },
  { name: 'hello-connections-zero', description: 'HELLO.connections of 0 (at least 1).', decode: 'hello', payload: msgpack({ ...HELLO_OK, connections: 0 }), error: 'PROTOCOL_ERROR' },
  { name: 'hello-connections-over-max', description: 'HELLO.connections of 65536 (at most 65535).', decode: 'hello', payload: msgpack({ ...HELLO_OK, connections: 65536 }), error: 'PROTOCOL_ERROR' },
  {
    name: 'hello-c1-in-unknown-key',
    description: 'The never-used byte 0xc1 as the value of an unknown key: the payload is not MessagePack at all.',
    decode: 'hello',
    payload: Buffer.concat([hx('85'), msgpack(HELLO_OK).subarray(1), str('future'), hx('c1')]),
    error: 'PROTOCOL_ERROR',
  },
  {
    name: 'hello-ext-in-unknown-key',
    description: 'A timestamp (ext -1) as the value of an unknown key: the profile has no extension types.',
    decode: 'hello',
    payload: Buffer.concat([hx('85'), msgpack(HELLO_OK).subarray(1), str('since'), hx('d6ff 00000000')]),
    error: 'PROTOCOL_ERROR',
  },
  {
    name: 'hello-int-key',
    description: 'A map key that is an int: the profile has str keys only.',
    decode: 'hello',
    payload: Buffer.concat([hx('85'), msgpack(HELLO_OK).subarray(1), hx('01 01')]),
    error: 'PROTOCOL_ERROR',
  },
  {
    name: 'hello-nested-too-deep',
    description: 'Nesting 33 levels deep (the map, then 32 arrays one inside the other, under an unknown key; SPEC §11 allows 32): refused before any value is built.',
    decode: 'hello',
    payload: Buffer.concat([hx('85'), msgpack(HELLO_OK).subarray(1), str('deep'), Buffer.alloc(32, 0x91), hx('c0')]),
    error: 'PROTOCOL_ERROR',
  },
  { name: 'environ-c1', description: 'The payload is the single never-used byte 0xc1.', decode: 'environ', payload: hx('c1'), error: 'PROTOCOL_ERROR' },
  { name: 'environ-truncated', description: 'A fixmap of 2 entries that ends after its first key.', decode: 'environ', payload: hx('82 a1 61'), error: 'PROTOCOL_ERROR' },
  {
    name: 'environ-trailing-bytes',
    description: 'A valid environ followed by one more byte (nil): a payload holds exactly one value.',
    decode: 'environ',
    payload: Buffer.concat([msgpack(ENV_OK), hx('c0')]),
    error: 'PROTOCOL_ERROR',
  },
  { name: 'environ-array', description: 'REQUEST payload is an array.', decode: 'environ', payload: msgpack(['GET', '/']), error: 'PROTOCOL_ERROR' },
  { name: 'environ-int-value', description: 'SERVER_PORT as an int instead of a str.', decode: 'environ', payload: msgpack({ ...ENV_OK, SERVER_PORT: 8080 }), error: 'PROTOCOL_ERROR' },
  { name: 'environ-nil-value', description: 'QUERY_STRING as nil.', decode: 'environ', payload: msgpack({ ...ENV_OK, QUERY_STRING: null }), error: 'PROTOCOL_ERROR' },
  { name: 'environ-bin-value', description: 'PATH_INFO as bin instead of str.', decode: 'environ', payload: msgpack({ REQUEST_METHOD: 'GET', PATH_INFO: Buffer.from('/') }), error: 'PROTOCOL_ERROR' },
  { name: 'environ-missing-REQUEST_METHOD', description: 'No REQUEST_METHOD.', decode: 'environ', payload: msgpack({ PATH_INFO: '/', QUERY_STRING: '' }), error: 'PROTOCOL_ERROR' },
  { name: 'environ-missing-PATH_INFO', description: 'No PATH_INFO.', decode: 'environ', payload: msgpack({ REQUEST_METHOD: 'GET', QUERY_STRING: '' }), error: 'PROTOCOL_ERROR' },
  {
    name: 'environ-too-many-keys',
    description: 'Three keys to a receiver allowing two.',
    decode: 'environ',
    payload: msgpack({ ...ENV_OK, QUERY_STRING: '' }),
    maxKeys: 2,
    error: 'LIMIT_EXCEEDED',
  },
  { name: 'response-not-map', description: 'RESPONSE payload is an int.', decode: 'responseHead', payload: msgpack(200), error: 'PROTOCOL_ERROR' },
  { name: 'response-missing-status', description: 'RESPONSE without status.', decode: 'responseHead', payload: msgpack(without(HEAD_OK, 'status')), error: 'PROTOCOL_ERROR' },
  { name: 'response-status-string', description: 'RESPONSE.status as a str.', decode: 'responseHead', payload: msgpack({ ...HEAD_OK, status: '200' }), error: 'PROTOCOL_ERROR' },
  { name: 'response-headers-not-array', description: 'RESPONSE.headers as a map.', decode: 'responseHead', payload: msgpack({ ...HEAD_OK, headers: { 'Content-Type': 'text/plain' } }), error: 'PROTOCOL_ERROR' },
  { name: 'response-headers-not-pairs', description: 'A header of one element.', decode: 'responseHead', payload: msgpack({ ...HEAD_OK, headers: [['Content-Type']] }), error: 'PROTOCOL_ERROR' },
  { name: 'response-header-triple', description: 'A header of three elements.', decode: 'responseHead', payload: msgpack({ ...HEAD_OK, headers: [['A', 'b', 'c']] }), error: 'PROTOCOL_ERROR' },
  { name: 'response-header-int-value', description: 'A header value that is an int.', decode: 'responseHead', payload: msgpack({ ...HEAD_OK, headers: [['Content-Length', 12]] }), error: 'PROTOCOL_ERROR' },
  { name: 'response-header-flat', description: 'Headers as a flat list of strs.', decode: 'responseHead', payload: msgpack({ ...HEAD_OK, headers: ['Content-Type', 'text/plain'] }), error: 'PROTOCOL_ERROR' },
  { name: 'cancel-missing-code', description: 'CANCEL without code.', decode: 'cancel', payload: msgpack({ reason: 'x' }), error: 'PROTOCOL_ERROR' },
  { name: 'cancel-negative-code', description: 'CANCEL.code of -1.', decode: 'cancel', payload: msgpack({ code: -1, reason: 'x' }), error: 'PROTOCOL_ERROR' },
  { name: 'goaway-missing-lastStream', description: 'GOAWAY without lastStream.', decode: 'goaway', payload: msgpack({ code: 0, reason: '' }), error: 'PROTOCOL_ERROR' },
  { name: 'goaway-lastStream-over-u32', description: 'GOAWAY.lastStream of 2^32.', decode: 'goaway', payload: msgpack({ lastStream: 2 ** 32, code: 0, reason: '' }), error: 'PROTOCOL_ERROR' },
];

const STREAM_DECODERS: ReadonlySet<Decode> = new Set(['environ', 'responseHead', 'cancel']);

function payloadJson(c: PayloadCase, index: number): object {
  return {
    name: c.name,
    description: c.description,
    decode: c.decode,
    ...(STREAM_DECODERS.has(c.decode) ? { stream: 2 * index + 1 } : {}),
    ...(c.maxKeys === undefined ? {} : { maxKeys: c.maxKeys }),
    payload: hex(c.payload),
    error: c.error,
  };
}

// ---------------------------------------------------------------------------------------------

const FILES: Record<string, object> = {
  'frames.json': {
    comment:
      'Valid byte sequences (hex) and the frames they decode to, in order, however the bytes are split. ' +
      'type: a name from SPEC.md section 2, or a number for a type this version does not define (skip it). ' +
      'payload: hex. value: the decoded MessagePack payload, for HELLO, REQUEST, RESPONSE, CANCEL and GOAWAY. ' +
      'canonical: false marks a valid encoding other than the smallest one encoders produce. ' +
      'Generated by test/protocol/make-vectors.ts.',
    vectors: VALID.map(validJson),
  },
  'invalid.json': {
    comment:
      'Byte sequences a frame decoder with the given maxFrameSize MUST refuse with the given error code. ' +
      'The offending frame is the last one and its header alone decides: no payload byte need be read. ' +
      'Generated by test/protocol/make-vectors.ts.',
    vectors: INVALID.map(invalidJson),
  },
  'payloads-invalid.json': {
    comment:
      'Payloads (hex) a message decoder MUST refuse: decode is hello | environ | responseHead | cancel | goaway. ' +
      'stream (stream-level decoders): the stream the error is reported on (a CANCEL); without it the error is a ' +
      'connection error (stream 0). maxKeys: the receiver\'s environ key limit. Generated by test/protocol/make-vectors.ts.',
    vectors: PAYLOADS.map(payloadJson),
  },
};

/** JSON with every non-ASCII char escaped, so a byte string reads as its bytes: "/caf\u00c3\u00a9". */
function render(content: object): string {
  const json = JSON.stringify(content, null, 2).replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return json + '\n';
}

if (process.argv.includes('--write')) {
  for (const [name, content] of Object.entries(FILES)) {
    writeFileSync(join(VECTORS, name), render(content));
    console.log(`wrote protocol/vectors/${name}`);
  }
} else {
  const { default: t } = await import('tap');
  for (const [name, content] of Object.entries(FILES)) {
    t.equal(readFileSync(join(VECTORS, name), 'utf8'), render(content), `protocol/vectors/${name} is what the tables produce`);
  }
}
