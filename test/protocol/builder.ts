/**
 * A deliberately simple, slow reference encoder for the tsgi wire format, written from
 * protocol/SPEC.md alone — it imports nothing from protocol/ and nothing from msgpackr.
 *
 * The tests build their expected bytes with it (as pg-protocol's tests build theirs with a
 * separate buffer builder, and yamux checks its codec against a slow reference one), so a bug
 * in protocol/frame.ts or in the MessagePack options cannot hide by being on both sides of an
 * assertion. Clarity over speed: one DataView per header, Buffer.concat for everything else.
 */

/** Frame type numbers, copied by hand from the table in SPEC.md §2. */
export const T = {
  HELLO: 0x01,
  REQUEST: 0x02,
  RESPONSE: 0x03,
  DATA: 0x04,
  CREDIT: 0x05,
  CANCEL: 0x06,
  GOAWAY: 0x07,
  PING: 0x08,
  ACCEPT: 0x09,
} as const;

export type TypeName = keyof typeof T;

/** The name of each type number in T. */
export const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(T).map(([name, code]) => [code, name]));

export const HEADER = 10;

export const END_STREAM = 0x01;
export const ACK = 0x01;

/** The 10-byte header: u32 length, u8 type, u8 flags, u32 stream, all big-endian. */
export function header(type: number, flags: number, stream: number, length: number): Buffer {
  const view = new DataView(new ArrayBuffer(HEADER));
  view.setUint32(0, length, false);
  view.setUint8(4, type);
  view.setUint8(5, flags);
  view.setUint32(6, stream, false);
  return Buffer.from(view.buffer);
}

export function frame(type: number, flags: number, stream: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  return Buffer.concat([header(type, flags, stream, payload.length), payload]);
}

export function u32(value: number): Buffer {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, value, false);
  return Buffer.from(view.buffer);
}

export function credit(stream: number, increment: number): Buffer {
  return frame(T.CREDIT, 0, stream, u32(increment));
}

export function ping(opaque: Uint8Array, ack: boolean): Buffer {
  return frame(T.PING, ack ? ACK : 0, 0, opaque);
}

/**
 * The MessagePack profile of SPEC.md §11 in its smallest encoding (what most libraries
 * produce): nil, bool, int, float64, str (UTF-8), bin, array, map with str keys in insertion
 * order. Anything else is a mistake in the test, so it throws.
 */
export function msgpack(value: unknown): Buffer {
  if (value === null) return Buffer.from([0xc0]);
  if (value === false) return Buffer.from([0xc2]);
  if (value === true) return Buffer.from([0xc3]);
  if (typeof value === 'number') return Number.isInteger(value) ? int(value) : float64(value);
  if (typeof value === 'string') return str(value);
  if (value instanceof Uint8Array) return Buffer.concat([sized(value.length, 0xc4, 0xc5, 0xc6), value]);
  if (Array.isArray(value)) {
    const head = value.length < 16 ? Buffer.from([0x90 | value.length]) : sized(value.length, -1, 0xdc, 0xdd);
    return Buffer.concat([head, ...value.map(msgpack)]);
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const keys = Object.keys(value);
    const head = keys.length < 16 ? Buffer.from([0x80 | keys.length]) : sized(keys.length, -1, 0xde, 0xdf);
    const parts = keys.flatMap((key) => [str(key), msgpack((value as Record<string, unknown>)[key])]);
    return Buffer.concat([head, ...parts]);
  }
  throw new TypeError(`builder.msgpack: ${typeof value} is outside the profile`);
}

export function str(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const head = bytes.length < 32 ? Buffer.from([0xa0 | bytes.length]) : sized(bytes.length, 0xd9, 0xda, 0xdb);
  return Buffer.concat([head, bytes]);
}

function int(n: number): Buffer {
  if (n >= 0 && n < 0x80) return Buffer.from([n]);
  if (n < 0 && n >= -32) return Buffer.from([0x100 + n]);
  const view = new DataView(new ArrayBuffer(9));
  if (n >= 0) {
    if (n < 0x100) return bytes(view, 0xcc, () => view.setUint8(1, n), 2);
    if (n < 0x10000) return bytes(view, 0xcd, () => view.setUint16(1, n), 3);
    if (n < 0x100000000) return bytes(view, 0xce, () => view.setUint32(1, n), 5);
    return bytes(view, 0xcf, () => view.setBigUint64(1, BigInt(n)), 9);
  }
  if (n >= -0x80) return bytes(view, 0xd0, () => view.setInt8(1, n), 2);
  if (n >= -0x8000) return bytes(view, 0xd1, () => view.setInt16(1, n), 3);
  if (n >= -0x80000000) return bytes(view, 0xd2, () => view.setInt32(1, n), 5);
  return bytes(view, 0xd3, () => view.setBigInt64(1, BigInt(n)), 9);
}

function float64(n: number): Buffer {
  const view = new DataView(new ArrayBuffer(9));
  return bytes(view, 0xcb, () => view.setFloat64(1, n), 9);
}

/** A length with an 8-, 16- or 32-bit header (tag -1: that width does not exist for the type). */
function sized(length: number, tag8: number, tag16: number, tag32: number): Buffer {
  const view = new DataView(new ArrayBuffer(5));
  if (tag8 >= 0 && length < 0x100) return bytes(view, tag8, () => view.setUint8(1, length), 2);
  if (length < 0x10000) return bytes(view, tag16, () => view.setUint16(1, length), 3);
  return bytes(view, tag32, () => view.setUint32(1, length), 5);
}

function bytes(view: DataView, tag: number, write: () => void, size: number): Buffer {
  view.setUint8(0, tag);
  write();
  return Buffer.from(view.buffer, 0, size);
}

/** Hex helpers shared by the tests. */
export const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
export const unhex = (text: string): Buffer => Buffer.from(text, 'hex');
