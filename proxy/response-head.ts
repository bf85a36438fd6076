// The runner's response head, checked before a byte of it reaches the client. The proxy does
// not trust the runner: the JavaScript runner validates its apps' heads (runner/apps/contract.ts),
// but a Python worker, a buggy one or a hostile one writes RESPONSE frames directly. Whatever
// fails here is answered 502 and never repaired or forwarded. Pure functions, no I/O.
import { HOP_BY_HOP, isFieldValue, isToken, type ResponseHead } from '../protocol/index.js';
import { parseContentLength } from './headers.js';

export type CheckedHead =
  | { ok: true; status: number; reason: string; headers: [string, string][]; contentLength: number | null }
  | { ok: false; reason: string };

/**
 * PEP 3333 forbids an application to send hop-by-hop fields (wsgiref refuses them): the
 * connection is the proxy's to manage. Accepting them would let a runner choose the client
 * connection's framing (Transfer-Encoding), switch protocols (Upgrade) or name end-to-end
 * fields for removal (Connection), so they make the head invalid rather than being dropped.
 */
export function checkResponseHead(head: ResponseHead): CheckedHead {
  const { status, reason, headers } = head;
  // 1xx cannot be final (the client would wait for another head); 101 would need a tunnel.
  if (!Number.isInteger(status) || status < 200 || status > 599) return refuse(`status ${status} is not a final status 200..599`);
  // A reason phrase has a field value's characters (RFC 9112 §4).
  if (!isFieldValue(reason)) return refuse(`invalid reason phrase ${JSON.stringify(reason)}`);
  const lengths: string[] = [];
  for (const [name, value] of headers) {
    if (!isToken(name)) return refuse(`invalid header name ${JSON.stringify(name)}`);
    if (!isFieldValue(value)) return refuse(`invalid value for header ${name}: ${JSON.stringify(value)}`);
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) return refuse(`hop-by-hop header ${name} from the application`);
    if (lower === 'content-length') lengths.push(value);
  }
  const contentLength = parseContentLength(lengths);
  if (contentLength === -1) return refuse(`invalid Content-Length ${JSON.stringify(lengths.join(', '))}`);
  // RFC 9110 §8.6: never on a 204 (a 304 may announce the length of what it stands for).
  if (contentLength !== null && status === 204 && contentLength !== 0) {
    return refuse(`Content-Length ${contentLength} on a 204, which has no body`);
  }
  // Usually there is nothing to rewrite: the head's own list is passed on, not copied.
  const canonical = lengths.length === 0 || (lengths.length === 1 && lengths[0] === String(contentLength));
  return { ok: true, status, reason, headers: canonical ? (headers as [string, string][]) : withOneLength(headers, contentLength), contentLength };
}

/** Repeated fields (Set-Cookie) stay separate and in order; Content-Length is kept once. */
function withOneLength(headers: ReadonlyArray<readonly [string, string]>, contentLength: number | null): [string, string][] {
  const out: [string, string][] = [];
  let lengthWritten = false;
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== 'content-length') out.push([name, value]);
    else if (!lengthWritten) {
      lengthWritten = true;
      out.push([name, String(contentLength)]);
    }
  }
  return out;
}

function refuse(reason: string): CheckedHead {
  return { ok: false, reason };
}

/** Statuses whose response never has a body, whatever the runner sends (RFC 9110 §6.4.1). */
export function bodiless(status: number, method: string | undefined): boolean {
  return method === 'HEAD' || status === 204 || status === 304;
}
