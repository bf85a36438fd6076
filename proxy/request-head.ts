/**
 * The checks a request head gets after Node's HTTP parser (llhttp, strict mode) accepted it
 * and before anything is routed or sent to a runner: what llhttp lets through but nginx
 * refuses, and the size limits nginx counts in its own way. Pure: the head in, a refusal or
 * null out.
 *
 * llhttp itself already refuses (listener.ts answers those): Content-Length with
 * Transfer-Encoding, repeated or non-decimal Content-Length, invalid chunk sizes and chunk
 * framing, obs-fold, bare CR or LF, whitespace before a colon, NUL and other control bytes,
 * a final Transfer-Encoding other than chunked, unknown methods and versions.
 */
import type { ClientConfig } from './config/types.js';
import { HttpError, type HttpErrorKind } from './errors.js';
import type { RequestHead } from './request-facts.js';

export interface HeadRefusal {
  kind: HttpErrorKind;
  reason: string;
}

type HeadLimits = Pick<ClientConfig, 'headerBuffers' | 'maxHeaders'>;

/** Why the request must not go further, or null. */
export function checkHead(head: RequestHead, limits: HeadLimits): HeadRefusal | null {
  return checkVersion(head) ?? checkSizes(head, limits) ?? checkFraming(head);
}

function checkVersion(head: RequestHead): HeadRefusal | null {
  if (head.httpVersion === '1.1' || head.httpVersion === '1.0') return null;
  // nginx: a major version above 1 is 505; HTTP/0.9 (no version at all) it no longer serves.
  if (Number(head.httpVersion.split('.')[0]) >= 2) return refuse(HttpError.VERSION_NOT_SUPPORTED, `HTTP/${head.httpVersion} request line`);
  return refuse(HttpError.BAD_REQUEST, `HTTP/${head.httpVersion} request`);
}

/**
 * nginx's large_client_header_buffers: the request line must fit one buffer (414), and so must
 * each header line (431 here, 400 in nginx). Lengths count the CRLF, as the buffer holds it.
 * The whole head is also bounded by Node's parser (maxHeaderSize = NUMBER × SIZE).
 */
function checkSizes(head: RequestHead, limits: HeadLimits): HeadRefusal | null {
  const { size } = limits.headerBuffers;
  const requestLine = head.method.length + 1 + head.target.length + 1 + 'HTTP/1.1'.length + 2;
  if (requestLine > size) return refuse(HttpError.URI_TOO_LONG, `request line of ${requestLine} bytes over large_client_header_buffers size ${size}`);
  const raw = head.rawHeaders;
  if (raw.length / 2 > limits.maxHeaders) return refuse(HttpError.HEADERS_TOO_LARGE, `${raw.length / 2} header lines over client_max_headers ${limits.maxHeaders}`);
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const line = raw[i]!.length + 2 + raw[i + 1]!.length + 2;
    if (line > size) return refuse(HttpError.HEADERS_TOO_LARGE, `header line ${raw[i]} of ${line} bytes over large_client_header_buffers size ${size}`);
  }
  return null;
}

/**
 * What decides where one request ends and the next begins must mean one thing only:
 * Transfer-Encoding exactly `chunked` (llhttp accepts `gzip, chunked`, which nginx refuses)
 * and never in HTTP/1.0 (whose peers may not know it, RFC 9112 §6.1); Host once, and present
 * in HTTP/1.1 (Node's own check answers without telling us, so it is made here).
 */
function checkFraming(head: RequestHead): HeadRefusal | null {
  let hosts = 0;
  let transferEncoding: string | null = null;
  const raw = head.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'host') hosts++;
    else if (name === 'transfer-encoding') transferEncoding = transferEncoding === null ? raw[i + 1]! : `${transferEncoding}, ${raw[i + 1]!}`;
  }
  if (hosts > 1) return refuse(HttpError.BAD_REQUEST, 'more than one Host header');
  if (hosts === 0 && head.httpVersion === '1.1') return refuse(HttpError.BAD_REQUEST, 'HTTP/1.1 request without a Host header');
  if (transferEncoding === null) return null;
  if (head.httpVersion === '1.0') return refuse(HttpError.BAD_REQUEST, 'Transfer-Encoding in an HTTP/1.0 request');
  if (transferEncoding.trim().toLowerCase() !== 'chunked') {
    return refuse(HttpError.BAD_REQUEST, `Transfer-Encoding ${JSON.stringify(transferEncoding)} (only "chunked" is accepted)`);
  }
  return null;
}

function refuse(kind: HttpErrorKind, reason: string): HeadRefusal {
  return { kind, reason };
}
