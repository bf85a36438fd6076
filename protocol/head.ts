/**
 * The syntax of a RESPONSE head's fields (SPEC.md §7), which the runner checks before sending
 * and the proxy again before forwarding: header names are HTTP tokens, values and the reason
 * phrase hold no control characters and nothing above 0xFF, and no hop-by-hop field is sent.
 * HTTP's own rules (RFC 9110 §5.1, §5.5, §7.6.1), kept here because the wire adopts them: both
 * endpoints import them, and they never import each other. Pure functions, no I/O.
 */

/**
 * Fields that describe one connection, never the message. A proxy removes them from requests
 * (plus every field named by a Connection token), and PEP 3333 forbids an application to send
 * them. Proxy-Connection and Keep-Alive are not standard but still sent (curl, old clients);
 * Trailer and TE concern the framing the proxy replaces. Unlike Go's list, Proxy-Authenticate /
 * Proxy-Authorization are not here: RFC 9110 no longer calls them hop-by-hop and nginx passes
 * them on. Lower case.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** True when `name`, in any case, is a hop-by-hop field. */
export function isHopByHopName(name: string): boolean {
  return HOP_BY_HOP.has(name.toLowerCase());
}

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
//         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
const TCHAR = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
for (const ch of "!#$%&'*+-.^_`|~") TCHAR[ch.charCodeAt(0)] = 1;

/** An RFC 9110 token (a header name): one or more tchar. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

/**
 * A field value (or a reason phrase: the same characters, RFC 9112 §4) that is safe to put on
 * the wire: visible ASCII, SP, HTAB and obs-text (0x80–0xFF). No CR, LF, NUL, other controls or
 * DEL, and nothing above 0xFF (a header is latin-1, one char per byte, as in PEP 3333).
 */
export function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 ? c !== 0x09 : c === 0x7f || c > 0xff) return false;
  }
  return true;
}
