// The request target, split and percent-decoded without losing a byte.
//
// Strings here are latin-1 "byte strings": one char per byte, codes 0–255, as
// Node hands over req.url and as PEP 3333 wants native strings. Decoding
// '%C3%A9' therefore yields the two chars '\u00c3\u00a9', never 'é'; the
// application (or its framework) chooses the charset.
//
// Dot segments ('..', '.') are NOT resolved and '//' is NOT merged: a later
// hardening issue decides that rule for location matching and PATH_INFO
// together. Until then the path reaches the application exactly as sent,
// only percent-decoded, and REQUEST_URI keeps the raw target.

export type TargetErrorCode = 'E_BAD_TARGET' | 'E_BAD_PERCENT' | 'E_NUL';

export type ParsedTarget =
  | { ok: true; path: string; query: string }
  | { ok: false; code: TargetErrorCode; reason: string };

/**
 * Splits an origin-form target ('/path?query') into its decoded path and raw
 * query (without '?'). A fragment, which clients should not send, is dropped
 * as nginx does. 'OPTIONS *' yields the path '*'. Absolute-form and
 * authority-form targets are refused.
 */
export function parseTarget(method: string, target: string): ParsedTarget {
  if (target === '*') {
    return method === 'OPTIONS'
      ? { ok: true, path: '*', query: '' }
      : { ok: false, code: 'E_BAD_TARGET', reason: `'*' target with method ${method}` };
  }
  if (target.charCodeAt(0) !== 0x2f /* / */) {
    return { ok: false, code: 'E_BAD_TARGET', reason: 'target is not origin-form' };
  }

  let pathEnd = target.length;
  let queryStart = -1;
  let queryEnd = target.length;
  for (let i = 1; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 0x3f /* ? */ && queryStart < 0) {
      pathEnd = i;
      queryStart = i + 1;
    } else if (c === 0x23 /* # */) {
      if (queryStart < 0) pathEnd = i;
      queryEnd = i;
      break;
    }
  }
  // The whole target, fragment included, must be bytes without NUL.
  for (let i = pathEnd; i < target.length; i++) {
    const bad = badByte(target.charCodeAt(i));
    if (bad !== null) return bad;
  }

  const path = decodePath(target, pathEnd);
  if (typeof path !== 'string') return path;
  const query = queryStart < 0 ? '' : target.slice(queryStart, queryEnd);
  return { ok: true, path, query };
}

/** Percent-decodes target[0, end) into a byte string. */
function decodePath(target: string, end: number): string | Extract<ParsedTarget, { ok: false }> {
  let out = '';
  let copied = 0; // target[copied, i) is pending, undecoded
  for (let i = 0; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c !== 0x25 /* % */) {
      const bad = badByte(c);
      if (bad !== null) return bad;
      continue;
    }
    const hi = i + 2 < end ? hexValue(target.charCodeAt(i + 1)) : -1;
    const lo = hi < 0 ? -1 : hexValue(target.charCodeAt(i + 2));
    if (lo < 0) {
      return { ok: false, code: 'E_BAD_PERCENT', reason: `bad percent-encoding at offset ${i}` };
    }
    const byte = (hi << 4) | lo;
    if (byte === 0) return { ok: false, code: 'E_NUL', reason: 'NUL byte (%00) in path' };
    out += target.slice(copied, i) + String.fromCharCode(byte);
    i += 2;
    copied = i + 1;
  }
  return copied === 0 ? target.slice(0, end) : out + target.slice(copied, end);
}

function badByte(c: number): Extract<ParsedTarget, { ok: false }> | null {
  if (c === 0) return { ok: false, code: 'E_NUL', reason: 'NUL byte in target' };
  if (c > 0xff) return { ok: false, code: 'E_BAD_TARGET', reason: 'target is not a byte string' };
  return null;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}
