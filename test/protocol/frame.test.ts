/**
 * The encoders of protocol/frame.ts and the MessagePack encoders produce, byte for byte, the
 * vectors of protocol/vectors/frames.json and what the independent builder produces.
 */
import t from 'tap';
import { pack } from '../../protocol/codec.js';
import {
  Flags,
  FrameType,
  HEADER_SIZE,
  encodeCredit,
  encodeFrame,
  encodeHeader,
  encodePing,
  frameTypeName,
  readU32,
  writeHeader,
  writeU32,
} from '../../protocol/frame.js';
import {
  encodeCancel,
  encodeEnviron,
  encodeGoAway,
  encodeHello,
  encodeResponseHead,
  type Cancel,
  type Environ,
  type GoAway,
  type Hello,
  type ResponseHead,
} from '../../protocol/messages.js';
import * as b from './builder.js';
import { bytesOf, typeCode, valid } from './vectors.js';

const hex = b.hex;

/** The message encoder protocol/messages.ts offers for each MessagePack frame type. */
const ENCODERS: Record<string, (value: unknown) => Uint8Array> = {
  HELLO: (v) => encodeHello(v as Hello),
  REQUEST: (v) => encodeEnviron(v as Environ),
  RESPONSE: (v) => encodeResponseHead(v as ResponseHead),
  CANCEL: (v) => encodeCancel(v as Cancel),
  GOAWAY: (v) => encodeGoAway(v as GoAway),
};

t.test('the builder agrees with bytes written out by hand', async (t) => {
  t.equal(hex(b.ping(b.unhex('0001020304050607'), true)), '00000008' + '08' + '01' + '00000000' + '0001020304050607');
  t.equal(hex(b.credit(0x01020304, 0x7fffffff)), '00000004' + '05' + '00' + '01020304' + '7fffffff');
  t.equal(hex(b.frame(0x04, 0x01, 0xfffffffe, Buffer.from('hi'))), '00000002' + '04' + '01' + 'fffffffe' + '6869');
  t.equal(hex(b.header(0x7f, 0x80, 1, 0x01020304)), '01020304' + '7f' + '80' + '00000001');
  t.equal(hex(b.msgpack({ a: [1, 'b', null, true, false] })), '81' + 'a161' + '95' + '01' + 'a162' + 'c0' + 'c3' + 'c2');
  t.equal(hex(b.msgpack([127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32])),
    '98' + '7f' + 'cc80' + 'ccff' + 'cd0100' + 'cdffff' + 'ce00010000' + 'ceffffffff' + 'cf0000000100000000');
  t.equal(hex(b.msgpack([-1, -32, -33, -128, -129])), '95' + 'ff' + 'e0' + 'd0df' + 'd080' + 'd1ff7f');
  t.equal(hex(b.msgpack('\u00e9')), 'a2c3a9', 'a latin-1 char is two UTF-8 bytes');
  t.equal(hex(b.msgpack('x'.repeat(32))).slice(0, 4), 'd920');
  t.equal(hex(b.msgpack(Buffer.from([1, 2]))), 'c4020102');
});

t.test('encodeFrame reproduces every valid vector', async (t) => {
  for (const v of valid) {
    const frames = v.frames.map((f) => encodeFrame(typeCode(f.type), f.flags, f.stream, b.unhex(f.payload)));
    t.equal(hex(Buffer.concat(frames)), v.hex, v.name);
    const built = v.frames.map((f) => b.frame(typeCode(f.type), f.flags, f.stream, b.unhex(f.payload)));
    t.equal(hex(Buffer.concat(built)), v.hex, `${v.name}: the builder too`);
  }
});

t.test('encodeFrame without a payload is a bare header', async (t) => {
  t.equal(hex(encodeFrame(FrameType.DATA, Flags.END_STREAM, 1)), hex(b.frame(b.T.DATA, b.END_STREAM, 1)));
});

t.test('encodeHeader followed by the payload reproduces every vector frame', async (t) => {
  for (const v of valid) {
    const frames = v.frames.map((f) => {
      const payload = b.unhex(f.payload);
      const head = encodeHeader(typeCode(f.type), f.flags, f.stream, payload.length);
      t.equal(head.length, HEADER_SIZE);
      return Buffer.concat([head, payload]);
    });
    t.equal(hex(Buffer.concat(frames)), v.hex, v.name);
  }
});

t.test('encodeCredit and encodePing reproduce the CREDIT and PING frames', async (t) => {
  let credits = 0;
  let pings = 0;
  for (const v of valid) {
    for (const f of v.frames) {
      const payload = b.unhex(f.payload);
      const built = hex(b.frame(typeCode(f.type), f.flags, f.stream, payload));
      if (f.type === 'CREDIT') {
        credits++;
        t.equal(hex(encodeCredit(f.stream, payload.readUInt32BE(0))), built, `${v.name}: CREDIT`);
      } else if (f.type === 'PING') {
        pings++;
        t.equal(hex(encodePing(payload, (f.flags & Flags.ACK) !== 0)), built, `${v.name}: PING`);
      }
    }
  }
  t.ok(credits >= 2 && pings >= 2, 'the vectors hold CREDIT and PING frames');
});

t.test('MessagePack payloads are exactly what pack and the message encoders produce', async (t) => {
  let checked = 0;
  for (const v of valid) {
    for (const f of v.frames) {
      if (f.value === undefined || f.canonical === false) continue;
      const encode = ENCODERS[f.type as string];
      t.ok(encode, `${v.name}: ${String(f.type)} carries MessagePack`);
      t.equal(hex(pack(f.value)), f.payload, `${v.name}: pack`);
      t.equal(hex(encode!(f.value)), f.payload, `${v.name}: encoder for ${String(f.type)}`);
      t.equal(hex(b.msgpack(f.value)), f.payload, `${v.name}: builder`);
      checked++;
    }
  }
  t.ok(checked >= 8);
});

t.test('a non-canonical vector is a different encoding of the same value', async (t) => {
  const wide = valid.flatMap((v) => v.frames).filter((f) => f.canonical === false);
  t.ok(wide.length > 0);
  for (const f of wide) t.not(hex(pack(f.value)), f.payload);
});

const EDGES = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffff, 0x1000000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

t.test('headers at the extremes of every field', async (t) => {
  let mismatches = 0;
  for (const length of EDGES) {
    for (const stream of EDGES) {
      for (const [type, flags] of [[0, 0], [0x01, 0x01], [0x08, 0xff], [0xff, 0x80]] as const) {
        if (hex(encodeHeader(type, flags, stream, length)) !== hex(b.header(type, flags, stream, length))) mismatches++;
      }
    }
  }
  t.equal(mismatches, 0, `${EDGES.length ** 2 * 4} headers`);
});

t.test('writeHeader writes at its offset and nowhere else', async (t) => {
  const target = new Uint8Array(HEADER_SIZE + 6).fill(0xee);
  writeHeader(target, 3, FrameType.RESPONSE, Flags.END_STREAM, 0x01020304, 0x0a0b0c0d);
  t.equal(hex(target), 'eeeeee' + hex(b.header(3, 1, 0x01020304, 0x0a0b0c0d)) + 'eeeeee');
});

t.test('readU32 and writeU32 agree with DataView', async (t) => {
  for (const value of EDGES) {
    const bytes = new Uint8Array(6);
    writeU32(bytes, 1, value);
    t.equal(new DataView(bytes.buffer).getUint32(1, false), value, `write ${value}`);
    t.equal(readU32(bytes, 1), value, `read ${value}`);
  }
});

t.test('encodeFrame copies the payload', async (t) => {
  const payload = Buffer.from('abc');
  const frame = encodeFrame(FrameType.DATA, 0, 1, payload);
  payload.fill(0);
  t.equal(hex(frame), hex(b.frame(b.T.DATA, 0, 1, Buffer.from('abc'))));
});

t.test('frameTypeName names known types and numbers unknown ones', async (t) => {
  t.equal(frameTypeName(FrameType.HELLO), 'HELLO');
  t.equal(frameTypeName(0x08), 'PING');
  t.equal(frameTypeName(0x7f), 'UNKNOWN(0x7f)');
  t.equal(frameTypeName(0), 'UNKNOWN(0x00)');
});
