import { Packr } from 'msgpackr';
import { ErrorCode, ProtocolError } from './errors.js';

/**
 * Plain MessagePack, readable by any language's msgpack library: no records extension,
 * maps sized by their key count (fixmap/map16/map32, the encoding most libraries produce),
 * strings as str, bytes as bin. A key whose value is `undefined` is left out (as JSON does)
 * instead of becoming msgpackr's ext-0 "undefined", which is outside the profile.
 */
const options = {
  useRecords: false,
  variableMapSize: true,
  moreTypes: false,
  int64AsType: 'number' as const,
  skipValues: [undefined], // documented in msgpackr's README, missing from its typings
  encodeUndefinedAsNil: true, // undefined elsewhere (in an array) as nil
};
const packr = new Packr(options);

export function pack(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes exactly one MessagePack value; anything malformed is a PROTOCOL_ERROR, never a throw of another kind. */
export function unpack(payload: Uint8Array, what: string, stream = 0): unknown {
  const problem = profileProblem(payload);
  if (problem) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `${what}: invalid MessagePack (${problem})`, stream);
  try {
    return packr.unpack(payload);
  } catch (err) {
    throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `${what}: invalid MessagePack (${(err as Error).message})`, stream);
  }
}

/**
 * Deepest nesting of arrays and maps accepted. tsgi's payloads nest three levels (a head's
 * headers are an array of pairs); without a bound a frame of 0x91 bytes nests 65 536 levels and
 * msgpackr's recursive decoder spends half a second overflowing its stack on it.
 */
export const MAX_DEPTH = 32;

/**
 * Checks that `bytes` hold exactly one value of the profile of SPEC.md §11 — nil, bool, int,
 * float, str, bin, array, map with str keys — and returns what is wrong, or null. Done on the
 * bytes, before msgpackr sees them, because msgpackr accepts more: the never-used byte 0xc1
 * (as a marker object), extension types (Date, Set, RegExp, Error, typed arrays, structured
 * clone references, record definitions) and non-str keys (stringified). One pass, no recursion.
 */
function profileProblem(bytes: Uint8Array): string | null {
  const left: number[] = []; // values still expected in each open array/map (a map counts 2 per entry)
  const isMap: boolean[] = [];
  let pos = 0;
  do {
    if (pos >= bytes.length) return 'unexpected end of data';
    const depth = left.length;
    const wantKey = depth > 0 && isMap[depth - 1]! && left[depth - 1]! % 2 === 0;
    const token = bytes[pos++]!;
    const item = ITEMS[token];
    if (!item) return `byte 0x${token.toString(16)} is outside the profile`;
    if (wantKey && !item.str) return 'map key is not a str';
    let size = item.size;
    if (item.lengthBytes > 0) {
      if (pos + item.lengthBytes > bytes.length) return 'unexpected end of data';
      size = readLength(bytes, pos, item.lengthBytes) * (item.map ? 2 : 1);
      pos += item.lengthBytes;
    }
    if (depth > 0) left[depth - 1]!--;
    if (item.container) {
      if (size > 0) {
        if (left.length >= MAX_DEPTH) return `nested deeper than ${MAX_DEPTH} levels`;
        left.push(size);
        isMap.push(item.map);
      }
    } else {
      if (pos + size > bytes.length) return 'unexpected end of data';
      pos += size;
    }
    while (left.length > 0 && left[left.length - 1] === 0) {
      left.pop();
      isMap.pop();
    }
  } while (left.length > 0);
  return pos === bytes.length ? null : `${bytes.length - pos} bytes after the value`;
}

interface Item {
  /** Fixed payload size (scalars) or fixed element count (fix containers). */
  size: number;
  /** Bytes of the explicit length that follow the token (0 when `size` is fixed). */
  lengthBytes: number;
  container: boolean;
  map: boolean;
  str: boolean;
}

const scalar = (size: number, lengthBytes = 0, str = false): Item => ({ size, lengthBytes, container: false, map: false, str });
const container = (size: number, lengthBytes: number, map: boolean): Item => ({
  size: map ? 2 * size : size,
  lengthBytes,
  container: true,
  map,
  str: false,
});

/** What each first byte introduces; null for bytes outside the profile. */
const ITEMS: ReadonlyArray<Item | null> = Array.from({ length: 256 }, (_, token) => describe(token));

function describe(token: number): Item | null {
  if (token <= 0x7f || token >= 0xe0) return scalar(0); // positive and negative fixint
  if (token <= 0x8f) return container(token & 0x0f, 0, true);
  if (token <= 0x9f) return container(token & 0x0f, 0, false);
  if (token <= 0xbf) return scalar(token & 0x1f, 0, true);
  switch (token) {
    case 0xc0: case 0xc2: case 0xc3: return scalar(0); // nil, false, true
    case 0xc4: return scalar(0, 1); // bin 8/16/32
    case 0xc5: return scalar(0, 2);
    case 0xc6: return scalar(0, 4);
    case 0xca: return scalar(4); // float 32/64
    case 0xcb: return scalar(8);
    case 0xcc: case 0xd0: return scalar(1); // uint/int 8, 16, 32, 64
    case 0xcd: case 0xd1: return scalar(2);
    case 0xce: case 0xd2: return scalar(4);
    case 0xcf: case 0xd3: return scalar(8);
    case 0xd9: return scalar(0, 1, true); // str 8/16/32
    case 0xda: return scalar(0, 2, true);
    case 0xdb: return scalar(0, 4, true);
    case 0xdc: return container(0, 2, false); // array 16/32
    case 0xdd: return container(0, 4, false);
    case 0xde: return container(0, 2, true); // map 16/32
    case 0xdf: return container(0, 4, true);
    default: return null; // 0xc1 (never used), ext 8/16/32 and fixext 1/2/4/8/16
  }
}

function readLength(bytes: Uint8Array, at: number, width: number): number {
  let n = 0;
  for (let i = 0; i < width; i++) n = n * 256 + bytes[at + i]!;
  return n;
}
