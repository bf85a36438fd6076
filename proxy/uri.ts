// The request target, split and percent-decoded without losing a byte.
//
// Strings here are latin-1 "byte strings": one char per byte, codes 0–255, as
// Node hands over req.url and as PEP 3333 wants native strings. Decoding
// '%C3%A9' therefore yields the two chars '\u00c3\u00a9', never 'é'; the
// application (or its framework) chooses the charset.
//
// Then the decoded path is normalised as nginx does before matching
// locations, and the same path becomes PATH_INFO, so what a location checked
// is what the application sees:
//   - '.' segments are removed and '..' removes the segment before it; a '..'
//     that would climb above the root is refused (400), as nginx;
//   - with merge_slashes on (the default) runs of '/' become one '/';
//   - an encoded slash (%2F) is decoded first and is then a '/' like any
//     other: it separates segments, takes part in '..' and in merging. So
//     '/a%2F..%2Fb' is '/b', never a '..' hidden from the location match.
//     REQUEST_URI keeps the raw target for applications that must tell
//     '%2F' from '/' (as uwsgi and nginx's $request_uri do).
//
// An absolute-form target ('http://host:port/path?query', RFC 9112 §3.2.2,
// which a server MUST accept) is split first: its authority names the host
// in place of the Host field, and its path and query are read as above.

export type TargetErrorCode = 'E_BAD_TARGET' | 'E_BAD_PERCENT' | 'E_NUL' | 'E_ABOVE_ROOT';

export interface TargetOptions {
  /** merge_slashes: '//' becomes '/' (default true, as nginx). */
  mergeSlashes?: boolean;
}

export type TargetError = { ok: false; code: TargetErrorCode; reason: string };

export type ParsedTarget = { ok: true; path: string; query: string } | TargetError;

/** An absolute-form target split: its authority, and the rest in origin form. */
export interface AbsoluteForm {
  ok: true;
  /** host[:port] as written (an IPv6 literal keeps its brackets). */
  authority: string;
  /** The path and query after the authority; '/' stands in for an empty path, as nginx does. */
  rest: string;
}

/**
 * Splits a target into its decoded path and raw query (without '?'). A
 * fragment, which clients should not send, is dropped as nginx does.
 * 'OPTIONS *' yields the path '*'. An absolute-form target is read after its
 * authority (see absoluteForm); authority-form (CONNECT's) and anything else
 * is refused.
 */
export function parseTarget(method: string, target: string, options: TargetOptions = {}): ParsedTarget {
  if (target === '*') {
    return method === 'OPTIONS'
      ? { ok: true, path: '*', query: '' }
      : { ok: false, code: 'E_BAD_TARGET', reason: `'*' target with method ${method}` };
  }
  const absolute = absoluteForm(target);
  if (absolute === null) return parseOriginForm(target, options);
  return absolute.ok ? parseOriginForm(absolute.rest, options) : absolute;
}

/** `scheme://authority` at the start of a target; the scheme and authority captured. */
const ABSOLUTE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)/;

/**
 * The authority of an absolute-form target: a reg-name (letters, digits, unreserved and
 * sub-delims, %-escapes) or a bracketed IPv6 literal, then an optional port. No userinfo: RFC
 * 9110 §4.2.4 deprecates it and tells recipients to treat it as an error (nginx refuses it).
 */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]*)?$/;

/**
 * A target in absolute form (RFC 9112 §3.2.2: `http://host[:port]/path?query`, which a server
 * MUST accept) split into its authority and the rest; null for an origin-form target (or `*`),
 * whose host is the Host field's. Only the http and https schemes name something this server
 * can serve; another scheme, a missing or empty host, or userinfo is refused.
 */
export function absoluteForm(target: string): AbsoluteForm | TargetError | null {
  if (target.charCodeAt(0) === 0x2f /* / */ || target === '*') return null;
  const match = ABSOLUTE.exec(target);
  if (!match) return { ok: false, code: 'E_BAD_TARGET', reason: 'target is neither origin-form nor absolute-form' };
  const scheme = match[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return { ok: false, code: 'E_BAD_TARGET', reason: `absolute-form target with scheme "${scheme}" (only http and https)` };
  const authority = match[2]!;
  if (authority.includes('@')) return { ok: false, code: 'E_BAD_TARGET', reason: 'userinfo in an absolute-form target' };
  if (!AUTHORITY.test(authority)) return { ok: false, code: 'E_BAD_TARGET', reason: 'absolute-form target without a valid host' };
  const rest = target.slice(match[0].length);
  return { ok: true, authority, rest: rest.charCodeAt(0) === 0x2f ? rest : '/' + rest };
}

/** The target as nginx's $request_uri gives it: an absolute-form target without its scheme and authority. */
export function originForm(target: string): string {
  const absolute = absoluteForm(target);
  return absolute?.ok ? absolute.rest : target;
}

/** An origin-form target ('/path?query', absoluteForm's rest included) parsed. */
function parseOriginForm(target: string, options: TargetOptions): ParsedTarget {
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

  const decoded = decodePath(target, pathEnd);
  if (typeof decoded !== 'string') return decoded;
  const path = normalizePath(decoded, options.mergeSlashes !== false);
  if (path === null) return { ok: false, code: 'E_ABOVE_ROOT', reason: "'..' above the root in the path" };
  const query = queryStart < 0 ? '' : target.slice(queryStart, queryEnd);
  return { ok: true, path, query };
}

/** Percent-decodes target[0, end) into a byte string. */
function decodePath(target: string, end: number): string | TargetError {
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

/**
 * Resolves '.' and '..' segments of a decoded path (which starts with '/') and, when asked,
 * merges runs of slashes; null when a '..' climbs above the root. A path with neither a '.'
 * segment nor '//' (nearly all of them) is returned as it is, without splitting.
 */
export function normalizePath(path: string, mergeSlashes: boolean): string | null {
  if (!needsNormalizing(path, mergeSlashes)) return path;
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (segment === '.' || (segment === '' && mergeSlashes && !last)) continue;
    if (segment === '..') {
      if (out.length === 0) return null;
      out.pop();
      continue;
    }
    out.push(segment);
  }
  // '/a/.' and '/a/..' name a directory: keep the trailing slash, as nginx does.
  const tail = segments[segments.length - 1]!;
  const joined = '/' + out.join('/');
  return (tail === '.' || tail === '..') && !joined.endsWith('/') ? joined + '/' : joined;
}

function needsNormalizing(path: string, mergeSlashes: boolean): boolean {
  return (mergeSlashes && path.includes('//')) || path.includes('/.');
}

function badByte(c: number): TargetError | null {
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
