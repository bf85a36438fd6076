/**
 * The two payloads of every request encoded and decoded in one pass: the environ (REQUEST: a
 * map of str to str) and the response head (RESPONSE: status, reason, [name, value] pairs).
 *
 * Encoding (proxy: the environ; runner: the head) writes the bytes msgpackr writes, the
 * smallest header for each length, ASCII strings copied a char at a time and any other string
 * by one native UTF-8 write: msgpackr spends ~950 ns on a 13-key environ, this ~650.
 *
 * Decoding takes a payload whose strings are all ASCII. The general path (codec.ts: the
 * profile check, then msgpackr) spends ~1.6 µs on a 13-key environ and ~0.5 µs on a
 * two-header head, nearly all of it making strings one native call at a time (~50 ns each);
 * here the payload becomes one latin-1 string in one call and each value a substring of it
 * (which keeps that string, the payload's size, alive as long as the value), and the names,
 * which repeat from request to request, come from a small cache of the strings made for the
 * same bytes before.
 *
 * Anything else (another shape or key, a value of another type, a byte outside ASCII in any
 * string, more keys than allowed, a `__proto__` key, bytes left over, a payload cut short)
 * gives null, and the caller takes the general path, which decodes it or says what is wrong:
 * what this accepts is decoded exactly as the general path decodes it.
 */

/** Node's one-call latin-1 decoding and UTF-8 encoding, which take any Uint8Array (Buffer.prototype's). */
const { latin1Slice, utf8Write } = Buffer.prototype as unknown as {
  latin1Slice(this: Uint8Array, start: number, end: number): string;
  utf8Write(this: Uint8Array, text: string, offset: number): number;
};

/** Keys longer than this are not cached (none of the environ's own are). */
const CACHED_KEY_BYTES = 64;
/** Cache slots (a power of two): a bound on what the cache holds, whatever the peer sends. */
const SLOTS = 256;

/** Names of keys seen, by slot (keyAt). */
const keys: (string | null)[] = new Array<string | null>(SLOTS).fill(null);

/** The size of the str header each first byte introduces (fixstr, str 8/16/32); 0 for any other value. */
const STR_HEADER: Uint8Array = Uint8Array.from({ length: 256 }, (_, token) =>
  token >= 0xa0 && token <= 0xbf ? 1 : token === 0xd9 ? 2 : token === 0xda ? 3 : token === 0xdb ? 5 : 0,
);

/** The length a str header of `size` bytes at `pos` gives (NaN when the payload ends inside it). */
function strLength(bytes: Uint8Array, pos: number, size: number): number {
  if (size === 1) return bytes[pos]! & 0x1f;
  if (size === 2) return bytes[pos + 1]!;
  if (size === 3) return (bytes[pos + 1]! << 8) | bytes[pos + 2]!;
  return bytes[pos + 1]! * 0x1000000 + ((bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 8) | bytes[pos + 4]!);
}

/** True when every byte of bytes[from, to) is ASCII. */
function ascii(bytes: Uint8Array, from: number, to: number): boolean {
  let seen = 0;
  for (let i = from; i < to; i++) seen |= bytes[i]!;
  return seen < 0x80;
}

/**
 * The key for bytes[from, to), from the cache when the same bytes came before: a slot chosen by
 * the length and three of the bytes, the cached name compared with the payload's text (one
 * native comparison; the text is the bytes one for one). A name is cached only when ASCII, so a
 * match is ASCII too; null for a key that is not.
 */
function keyAt(bytes: Uint8Array, text: string, from: number, to: number): string | null {
  const length = to - from;
  if (length === 0) return '';
  const slot = (length * 7 + bytes[from]! * 31 + bytes[from + (length >> 1)]! * 3 + bytes[to - 1]!) & (SLOTS - 1);
  const cached = keys[slot];
  if (cached !== null && cached.length === length && text.startsWith(cached, from)) return cached;
  if (!ascii(bytes, from, to)) return null;
  const name = internalized(text.substring(from, to));
  if (length <= CACHED_KEY_BYTES) keys[slot] = name;
  return name;
}

/**
 * The engine's own copy of a property name. A substring used as a key is looked up in V8's
 * string table at every store (~40 ns), the copy the table holds is not: what a property
 * name reads back as is that copy.
 */
function internalized(name: string): string {
  return Object.keys({ [name]: 0 })[0]!;
}

/**
 * The map of str to str that `bytes` hold, when every string in it is ASCII and it has at most
 * `maxKeys` keys; else null (the general path decides).
 */
export function decodeStringMap(bytes: Uint8Array, maxKeys: number): Record<string, string> | null {
  const token = bytes[0];
  let count: number;
  let pos: number;
  if (token === undefined) return null;
  if (token >= 0x80 && token <= 0x8f) {
    count = token & 0x0f;
    pos = 1;
  } else if (token === 0xde && bytes.length >= 3) {
    count = (bytes[1]! << 8) | bytes[2]!;
    pos = 3;
  } else if (token === 0xdf && bytes.length >= 5) {
    count = bytes[1]! * 0x1000000 + ((bytes[2]! << 16) | (bytes[3]! << 8) | bytes[4]!);
    pos = 5;
  } else return null;
  if (count > maxKeys) return null;
  const total = bytes.length;
  const text = latin1Slice.call(bytes, 0, total);
  const map: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    // The key: a str of ASCII. A payload cut short inside a header leaves `from` past its end
    // (or `to` NaN, which compares false): the bound check fails either way.
    let size = pos < total ? STR_HEADER[bytes[pos]!]! : 0;
    if (size === 0) return null;
    let from = pos + size;
    let to = from + strLength(bytes, pos, size);
    if (!(to <= total)) return null;
    const key = keyAt(bytes, text, from, to);
    if (key === null || key === '__proto__') return null;
    // Its value: the same.
    size = to < total ? STR_HEADER[bytes[to]!]! : 0;
    if (size === 0) return null;
    from = to + size;
    to = from + strLength(bytes, to, size);
    if (!(to <= total) || !ascii(bytes, from, to)) return null;
    map[key] = text.substring(from, to);
    pos = to;
  }
  return pos === total ? map : null;
}

/** The RESPONSE head `bytes` hold, its strings ASCII, the keys among status, reason and headers; else null. */
export function decodeHeadInOnePass(bytes: Uint8Array): { status: number; reason: string; headers: Array<[string, string]> } | null {
  const total = bytes.length;
  const token = bytes[0];
  if (token === undefined || token < 0x81 || token > 0x83) return null;
  const text = latin1Slice.call(bytes, 0, total);
  let status = -1;
  let reason = '';
  let headers: Array<[string, string]> | null = null;
  let pos = 1;
  for (let i = token & 0x0f; i > 0; i--) {
    const size = pos < total ? STR_HEADER[bytes[pos]!]! : 0;
    if (size === 0) return null;
    const from = pos + size;
    const to = from + strLength(bytes, pos, size);
    if (!(to < total)) return null;
    if (text.startsWith('status', from) && to - from === 6 && status < 0) {
      status = uintAt(bytes, to);
      if (status < 0) return null;
      pos = to + (bytes[to]! < 0x80 ? 1 : bytes[to] === 0xcc ? 2 : 3);
    } else if (text.startsWith('headers', from) && to - from === 7 && headers === null) {
      headers = [];
      pos = pairsAt(bytes, text, to, headers);
      if (pos < 0) return null;
    } else if (text.startsWith('reason', from) && to - from === 6 && reason === '') {
      const at = STR_HEADER[bytes[to]!]!;
      if (at === 0) return null;
      const start = to + at;
      pos = start + strLength(bytes, to, at);
      if (!(pos <= total) || !ascii(bytes, start, pos)) return null;
      reason = text.substring(start, pos);
    } else return null;
  }
  return pos === total && status >= 0 && headers !== null ? { status, reason, headers } : null;
}

/** A status (an unsigned int up to 999) at `pos`: positive fixint, uint 8 or uint 16; -1 otherwise. */
function uintAt(bytes: Uint8Array, pos: number): number {
  const token = bytes[pos]!;
  if (token < 0x80) return token;
  if (token === 0xcc) return pos + 1 < bytes.length ? bytes[pos + 1]! : -1;
  if (token !== 0xcd || pos + 2 >= bytes.length) return -1;
  const value = (bytes[pos + 1]! << 8) | bytes[pos + 2]!;
  return value <= 999 ? value : -1;
}

/**
 * The [name, value] pairs of the array at `pos` pushed onto `into`, names from the cache;
 * where the array ends, or -1 when it is not an array of pairs of ASCII strs.
 */
function pairsAt(bytes: Uint8Array, text: string, pos: number, into: Array<[string, string]>): number {
  const total = bytes.length;
  const token = bytes[pos]!;
  let count: number;
  if (token >= 0x90 && token <= 0x9f) {
    count = token & 0x0f;
    pos += 1;
  } else if (token === 0xdc && pos + 2 < total) {
    count = (bytes[pos + 1]! << 8) | bytes[pos + 2]!;
    pos += 3;
  } else return -1;
  for (; count > 0; count--) {
    if (!(pos + 1 < total) || bytes[pos] !== 0x92) return -1;
    let size = STR_HEADER[bytes[pos + 1]!]!;
    if (size === 0) return -1;
    let from = pos + 1 + size;
    let to = from + strLength(bytes, pos + 1, size);
    if (!(to < total)) return -1;
    const name = keyAt(bytes, text, from, to);
    if (name === null) return -1;
    size = STR_HEADER[bytes[to]!]!;
    if (size === 0) return -1;
    from = to + size;
    to = from + strLength(bytes, to, size);
    if (!(to <= total) || !ascii(bytes, from, to)) return -1;
    into.push([name, text.substring(from, to)]);
    pos = to;
  }
  return pos;
}

/**
 * Where payloads are encoded: each is a view of this block, never written again, so it stays
 * valid as long as it is held (a retry sends the same environ again). A block is 8 KiB, as
 * Node's own pool for small Buffers (and msgpackr's first buffer); a payload held long keeps
 * its block alive, as theirs do.
 */
const BLOCK_BYTES = 8192;
let block = new Uint8Array(BLOCK_BYTES);
let used = 0;

/** A block with `bytes` free from `used` on (one of its own for a payload that could outgrow a block). */
function room(bytes: number): void {
  if (used + bytes <= block.length) return;
  block = new Uint8Array(Math.max(BLOCK_BYTES, bytes));
  used = 0;
}

/**
 * The payload just written at [start, end): a view of the shared block, or, written in a block
 * of its own (sized for 3 bytes a char), a copy of just its bytes, the big block dropped, so
 * that neither it nor the payloads after it hold on to the unused two thirds.
 */
function handOut(start: number, end: number): Uint8Array {
  if (block.length === BLOCK_BYTES) {
    used = end;
    return block.subarray(start, end);
  }
  const own = block.slice(start, end);
  block = new Uint8Array(BLOCK_BYTES);
  used = 0;
  return own;
}

/** The most bytes `text` can take as a str (UTF-8: at most 3 per UTF-16 unit) with its header. */
const strBound = (text: string): number => 5 + 3 * text.length;

const SURROGATE = /[\uD800-\uDFFF]/;

/** Writes `text` as a str at `pos` of the block; where it ends, or -1 when msgpackr must write it (writeUtf8). */
function writeStr(text: string, pos: number): number {
  const length = text.length;
  const size = strSize(length);
  const out = block;
  let at = pos + size;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) return writeUtf8(text, pos);
    out[at++] = code;
  }
  writeLength(out, pos, size, length, 0xa0, 0xd9, 0xda, 0xdb);
  return at;
}

/**
 * A str with a char outside ASCII: its UTF-8 length decides the header. -1 for a string with
 * a UTF-16 surrogate: msgpackr writes a lone one as its raw three bytes where Node's UTF-8
 * writes U+FFFD, so such a string is left to msgpackr.
 */
function writeUtf8(text: string, pos: number): number {
  if (SURROGATE.test(text)) return -1;
  const length = Buffer.byteLength(text, 'utf8');
  const size = strSize(length);
  writeLength(block, pos, size, length, 0xa0, 0xd9, 0xda, 0xdb);
  return pos + size + utf8Write.call(block, text, pos + size);
}

/** A length header of `size` bytes: the fix form (`fix` | length) or the 8-, 16- or 32-bit one. */
function writeLength(out: Uint8Array, pos: number, size: number, length: number, fix: number, tag8: number, tag16: number, tag32: number): void {
  if (size === 1) out[pos] = fix | length;
  else if (size === 2) {
    out[pos] = tag8;
    out[pos + 1] = length;
  } else if (size === 3) {
    out[pos] = tag16;
    out[pos + 1] = length >>> 8;
    out[pos + 2] = length & 0xff;
  } else {
    out[pos] = tag32;
    out[pos + 1] = length >>> 24;
    out[pos + 2] = (length >>> 16) & 0xff;
    out[pos + 3] = (length >>> 8) & 0xff;
    out[pos + 4] = length & 0xff;
  }
}

/** The size of a str's header for `length` bytes: fixstr below 32, then str 8, 16, 32. */
const strSize = (length: number): number => (length < 32 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5);

/** The size of a map's or an array's header for `count` entries: fix form below 16. */
const countSize = (count: number): number => (count < 16 ? 1 : count < 0x10000 ? 3 : 5);

/**
 * A map of str to str as msgpackr packs it; null when a value is no str, a string holds a
 * surrogate, or the object is not a plain one (for..in would see inherited keys msgpackr skips).
 */
export function encodeStringMap(map: Record<string, string>): Uint8Array | null {
  const proto: unknown = Object.getPrototypeOf(map);
  if (proto !== Object.prototype && proto !== null) return null;
  let count = 0;
  let bound = 5;
  for (const key in map) {
    const value = map[key];
    if (typeof value !== 'string') return null;
    count++;
    bound += strBound(key) + strBound(value);
  }
  room(bound);
  const start = used;
  const size = countSize(count);
  writeLength(block, start, size, count, 0x80, -1, 0xde, 0xdf);
  let pos = start + size;
  for (const key in map) {
    pos = writeStr(key, pos);
    if (pos >= 0) pos = writeStr(map[key]!, pos);
    // Nothing was handed out: the block's bytes from `used` on are free again.
    if (pos < 0) return null;
  }
  return handOut(start, pos);
}

/**
 * A RESPONSE head as msgpackr packs `{ status, reason, headers }`; null for a status outside
 * 0–999, headers that are not an array of arrays of two strs, or a string with a surrogate.
 */
export function encodeHeadInOnePass(status: number, reason: string, headers: ReadonlyArray<readonly [string, string]>): Uint8Array | null {
  if (!Number.isInteger(status) || status < 0 || status > 999) return null;
  if (typeof reason !== 'string' || !Array.isArray(headers)) return null;
  let bound = 32 + strBound(reason);
  for (let i = 0; i < headers.length; i++) {
    const pair: unknown = headers[i];
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') return null;
    bound += 1 + strBound(pair[0]) + strBound(pair[1]);
  }
  room(bound);
  const out = block;
  const start = used;
  out[start] = 0x83;
  let pos = writeStr('status', start + 1);
  if (status < 0x80) out[pos++] = status;
  else if (status < 0x100) {
    out[pos++] = 0xcc;
    out[pos++] = status;
  } else {
    out[pos++] = 0xcd;
    out[pos++] = status >>> 8;
    out[pos++] = status & 0xff;
  }
  pos = writeStr(reason, writeStr('reason', pos));
  if (pos < 0) return null;
  pos = writeStr('headers', pos);
  const size = countSize(headers.length);
  writeLength(out, pos, size, headers.length, 0x90, -1, 0xdc, 0xdd);
  pos += size;
  for (let i = 0; i < headers.length && pos >= 0; i++) {
    const pair = headers[i]!;
    out[pos++] = 0x92;
    pos = writeStr(pair[0], pos);
    if (pos >= 0) pos = writeStr(pair[1], pos);
  }
  // A string msgpackr must write: nothing was handed out, the block's bytes from `used` on are free again.
  if (pos < 0) return null;
  return handOut(start, pos);
}
