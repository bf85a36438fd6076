/**
 * nginx's `return` (https://nginx.org/en/docs/http/ngx_http_rewrite_module.html#return) turned
 * into a response, as a pure function of the rule and the request's variables:
 *
 * - 301, 302, 303, 307, 308 with a URL: `Location: URL` and a short body naming the status.
 *   A URL starting with `/` becomes `scheme://host[:port]/...` (nginx's `absolute_redirect on`,
 *   the default; `absolute_redirect off` keeps it relative): the host of an absolute-form
 *   target, else of the Host header, else the server address or name; the port unless it is
 *   the scheme's default.
 * - Any other code with TEXT: TEXT as the body, `Content-Type: text/plain` (nginx's default_type).
 * - A code of 400 or more without TEXT: the short body naming the status, like the proxy's own
 *   error answers. Below 400 without TEXT: an empty body.
 * - 204 and 304 never have a body.
 * - 444 (CLOSE_CONNECTION): nginx closes the connection without answering; the caller must do
 *   the same (destroy the socket) and send nothing.
 *
 * Values are byte strings (latin-1, one char per byte, like the rest of the request data):
 * write the body with Buffer.from(body, 'latin1'). Unlike nginx, bytes that may not appear
 * raw in a URL (controls, space, `"<>\^`{|}`, DEL, non-ASCII) are percent-encoded in Location,
 * so a decoded `$uri` cannot inject CR LF into the header.
 */
import { STATUS_CODES } from 'node:http';
import type { ReturnRule } from './config/types.js';
import { normalizeHost } from './server-names.js';
import { expand, type VariableSource } from './variables.js';

export const REDIRECT_CODES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** nginx's non-standard code: close the connection without a response. */
export const CLOSE_CONNECTION = 444;

export interface ReturnResponse {
  status: number;
  headers: Array<[string, string]>;
  /** A byte string (latin-1). */
  body: string;
}

const NO_BODY = new Set([204, 304]);

export function returnResponse(rule: ReturnRule, source: VariableSource): ReturnResponse {
  const { status } = rule;
  if (status === CLOSE_CONNECTION) return { status, headers: [], body: '' };
  if (NO_BODY.has(status)) return { status, headers: [], body: '' };
  if (REDIRECT_CODES.has(status)) {
    const headers: Array<[string, string]> = [];
    if (rule.location !== undefined) headers.push(['Location', location(rule, source)]);
    return withBody(status, headers, statusBody(status), 'text/plain; charset=utf-8');
  }
  if (rule.body !== undefined) return withBody(status, [], expand(rule.body, source), 'text/plain');
  if (status >= 400) return withBody(status, [], statusBody(status), 'text/plain; charset=utf-8');
  return withBody(status, [], '', 'text/plain');
}

function withBody(status: number, headers: Array<[string, string]>, body: string, type: string): ReturnResponse {
  headers.push(['Content-Type', type], ['Content-Length', String(body.length)]);
  return { status, headers, body };
}

function statusBody(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? 'Unknown'}\n`;
}

function location(rule: ReturnRule, source: VariableSource): string {
  const url = encodeUnsafe(expand(rule.location as string, source));
  if (!url.startsWith('/') || rule.absolute === false) return url;
  return `${source.scheme}://${authority(source)}${url}`;
}

/** host[:port] for an absolute redirect, as nginx's header filter builds it. */
function authority(source: VariableSource): string {
  let host = normalizeHost(source.host) || source.serverAddress || source.serverName;
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  const defaultPort = source.scheme === 'https' ? 443 : 80;
  return source.serverPort === defaultPort || source.serverPort === 0 ? host : `${host}:${source.serverPort}`;
}

const UNSAFE_IN_URL = /[^\x21-\x7e]|["<>\\^`{|}]/g;

function encodeUnsafe(url: string): string {
  return url.replace(UNSAFE_IN_URL, (ch) => {
    const code = ch.charCodeAt(0);
    const bytes = code <= 0xff ? [code] : [...Buffer.from(ch, 'utf8')];
    return bytes.map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  });
}
