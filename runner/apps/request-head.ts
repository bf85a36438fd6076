import type { Environ } from './app.js';

/**
 * The request line and headers an environ stands for, for the adapters that hand an app an
 * HTTP request again (runner/apps/fetch-request.ts, runner/apps/node-app.ts).
 *
 * Environ strings are byte strings (PEP 3333): each character is one byte of what the client
 * sent. The URL is rebuilt from them byte by byte, so a UTF-8 path arrives as the same UTF-8,
 * percent-encoded, and never as the UTF-8 of its latin-1 reading.
 */

/** PEP 3333's URL reconstruction, with the path and query re-encoded from their bytes. */
export function requestUrl(environ: Environ): string {
  const scheme = text(environ, 'wsgi.url_scheme') || 'http';
  return `${scheme}://${authority(environ, scheme)}${requestTarget(environ)}`;
}

/** The path and query of the URL (HTTP/1.1's request-target): SCRIPT_NAME + PATH_INFO ? QUERY_STRING. */
export function requestTarget(environ: Environ): string {
  const path = encodeBytes(text(environ, 'SCRIPT_NAME') + text(environ, 'PATH_INFO'), PATH_SAFE) || '/';
  const query = text(environ, 'QUERY_STRING');
  return query ? `${path}?${encodeBytes(query, QUERY_SAFE)}` : path;
}

function authority(environ: Environ, scheme: string): string {
  const host = text(environ, 'HTTP_HOST');
  if (host) return utf8(host);
  const name = text(environ, 'SERVER_NAME') || 'localhost';
  const port = text(environ, 'SERVER_PORT');
  const bracketed = name.includes(':') && !name.startsWith('[') ? `[${name}]` : name;
  const defaultPort = scheme === 'https' ? '443' : '80';
  return port && port !== defaultPort ? `${bracketed}:${port}` : bracketed;
}

// RFC 3986 pchar plus "/": what a path may carry unencoded. Everything else, "%" included
// (PATH_INFO is already decoded), goes out as %XX of its byte.
const PATH_SAFE = /[A-Za-z0-9\-._~!$&'()*+,;=:@/]/;
// QUERY_STRING is still encoded as the client sent it: only what a URL cannot hold is escaped.
const QUERY_SAFE = /[\x21-\x7e]/;

function encodeBytes(bytes: string, safe: RegExp): string {
  let out = '';
  for (const char of bytes) {
    if (safe.test(char) && char !== '#') out += char;
    else for (const byte of byteValues(char)) out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** A byte string's character is its byte; anything wider (not from the proxy) goes as UTF-8. */
function byteValues(char: string): Iterable<number> {
  const code = char.codePointAt(0)!;
  return code <= 0xff ? [code] : Buffer.from(char, 'utf8');
}

/**
 * HTTP_* keys back to header names (their underscores were dashes), plus the two CGI ones;
 * values stay byte strings, which is what HTTP header values are in Fetch and in node:http.
 */
export function headerPairs(environ: Environ): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(environ)) {
    if (!key.startsWith('HTTP_') || typeof value !== 'string') continue;
    pairs.push([key.slice(5).toLowerCase().replaceAll('_', '-'), value]);
  }
  const type = text(environ, 'CONTENT_TYPE');
  if (type) pairs.push(['content-type', type]);
  const length = text(environ, 'CONTENT_LENGTH');
  if (length) pairs.push(['content-length', length]);
  return pairs;
}

export function text(environ: Environ, key: string): string {
  const value = environ[key];
  return typeof value === 'string' ? value : '';
}

/** A byte string read as the UTF-8 it carries (the Host of an internationalised name). */
function utf8(bytes: string): string {
  return /^[\x00-\x7f]*$/.test(bytes) ? bytes : Buffer.from(bytes, 'latin1').toString('utf8');
}
