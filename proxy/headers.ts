// A reverse proxy's header rules in one place, in the manner of Go's
// net/http/httputil ReverseProxy: which request fields are hop-by-hop (the
// list itself, and the field syntax, are protocol/head.ts's, shared with the
// runner), the Connection tokens, and how Content-Length is read. What an
// application may send back is checked in response-head.ts (which refuses
// hop-by-hop fields instead of stripping them). Pure functions, no I/O.
//
// Field names are compared in lower case. The request side (environ.ts) also
// folds '_' into '-' before comparing, so that with underscores_in_headers on
// 'Transfer_Encoding' cannot slip past as HTTP_TRANSFER_ENCODING.

/**
 * Fields a Connection token may not remove: Content-Length and
 * Transfer-Encoding frame the message (Go keeps them in separate fields for
 * the same reason) and Host identifies the target. RFC 9110 forbids listing
 * end-to-end fields in Connection anyway; honouring such a token would only
 * let a client hide the framing from the checks that read it. (Transfer-
 * Encoding is hop-by-hop and stripped all the same; it just stays visible.)
 */
const NOT_CONNECTION_OPTIONS: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding', 'host']);

/** The lower-cased, non-empty tokens of one Connection field value. */
export function connectionTokens(value: string): string[] {
  const tokens: string[] = [];
  for (const part of value.split(',')) {
    const token = trimOws(part).toLowerCase();
    if (token !== '') tokens.push(token);
  }
  return tokens;
}

/** True when a Connection token names `name` (lower case) and may remove it. */
export function namedByConnection(name: string, connectionOptions: ReadonlySet<string>): boolean {
  return connectionOptions.has(name) && !NOT_CONNECTION_OPTIONS.has(name);
}

// Optional white space (RFC 9110 §5.6.3)

function trimOws(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isOws(s.charCodeAt(start))) start++;
  while (end > start && isOws(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

// ---------------------------------------------------------------------------
// Content-Length (RFC 9110 §8.6)

/**
 * Reads every Content-Length field line of one message. Each line may be a
 * list ("42, 42"); all members must be 1*DIGIT and equal, as RFC 9110 allows a
 * recipient to accept. Returns null when there is none, -1 when invalid
 * (non-numeric, disagreeing, beyond 2^53 - 1).
 */
export function parseContentLength(values: readonly string[]): number | null {
  let length: number | null = null;
  for (const value of values) {
    for (const part of value.split(',')) {
      const n = parseDigits(trimOws(part));
      if (n < 0 || (length !== null && n !== length)) return -1;
      length = n;
    }
  }
  return length;
}

function parseDigits(s: string): number {
  if (s.length === 0) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return Number.isSafeInteger(n) ? n : -1;
}
