/**
 * nginx-style `$variables` in directive values (tsgi_param, return): `$name` or `${name}`.
 * Templates are parsed once per distinct text and expanded per request from a plain source
 * object, so this file stays free of HTTP objects and is tested as a pure function.
 *
 * Values are byte strings (latin-1), like everything Node hands over from the request, and
 * follow nginx: `$http_NAME` joins repeated fields with ", " (Cookie with "; "); `$arg_NAME`
 * and `$cookie_NAME` compare names case-insensitively and give the raw (undecoded) value of the
 * first match; `$host` is the host of an absolute-form target, else the Host, without port and
 * trailing dot, lower case, else the server name; `$request_uri` is the target without the
 * scheme and host of an absolute form. A `$` that does not start a name is kept as written.
 */
import { hostname } from 'node:os';
import { VariableError } from './config/errors.js';
import type { RequestFacts } from './request-facts.js';
import { asciiLower, normalizeHost } from './server-names.js';
import { originForm } from './uri.js';

/** What `$variables` read: the request's facts (everything but the raw field lines). */
export type VariableSource = Omit<RequestFacts, 'rawHeaders'>;

type Getter = (source: VariableSource) => string;

const NAMED: Record<string, Getter> = {
  remote_addr: (s) => s.remoteAddress,
  remote_port: (s) => String(s.remotePort),
  host: (s) => hostOf(s),
  request_uri: (s) => originForm(s.target),
  uri: (s) => s.path,
  document_uri: (s) => s.path,
  args: (s) => s.query,
  query_string: (s) => s.query,
  request_method: (s) => s.method,
  server_name: (s) => s.serverName,
  server_port: (s) => String(s.serverPort),
  scheme: (s) => s.scheme,
  request_id: (s) => s.requestId,
  content_type: (s) => header(s, 'content-type'),
  content_length: (s) => header(s, 'content-length'),
  is_args: (s) => (s.query === '' ? '' : '?'),
  https: (s) => (s.scheme === 'https' ? 'on' : ''),
  server_addr: (s) => s.serverAddress,
  server_protocol: (s) => `HTTP/${s.httpVersion}`,
  request: (s) => `${s.method} ${s.target} HTTP/${s.httpVersion}`,
  hostname: () => hostname(),
  realip_remote_addr: (s) => s.realipRemoteAddress,
  realip_remote_port: (s) => String(s.realipRemotePort),
};

const PREFIXED: Array<[prefix: string, make: (rest: string) => Getter]> = [
  // $http_x_forwarded_for → the X-Forwarded-For header ('_' stands for '-')
  ['http_', (rest) => (s) => header(s, rest.replace(/_/g, '-'))],
  ['arg_', (rest) => (s) => argument(s.query, rest)],
  ['cookie_', (rest) => (s) => cookie(header(s, 'cookie'), rest)],
];

export type Template = ReadonlyArray<string | Getter>;


const VARIABLE = /\$(?:\{([A-Za-z0-9_]*)(\}?)|([A-Za-z0-9_]+))/g;

/**
 * Parses `text` into literal parts and variable getters; throws VariableError for an unknown
 * name or a `${` without its `}`.
 */
export function compileTemplate(text: string): Template {
  const parts: Array<string | Getter> = [];
  let last = 0;
  for (const match of text.matchAll(VARIABLE)) {
    const [whole, braced, closed, bare] = match;
    if (braced === '') throw new VariableError('invalid variable name');
    if (closed === '') throw new VariableError(`the closing bracket in "${braced}" variable is missing`);
    if (match.index! > last) parts.push(text.slice(last, match.index));
    parts.push(getter((braced ?? bare)!));
    last = match.index! + whole.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

/** nginx's variable names are case-insensitive (`$HOST` is `$host`). */
function getter(written: string): Getter {
  const name = asciiLower(written);
  const named = Object.hasOwn(NAMED, name) ? NAMED[name] : undefined;
  if (named) return named;
  for (const [prefix, make] of PREFIXED) {
    if (name.startsWith(prefix) && name.length > prefix.length) return make(name.slice(prefix.length));
  }
  if (/^\d+$/.test(name)) throw new VariableError(`regex captures ("$${written}") are not supported`);
  throw new VariableError(`unknown "${written}" variable`);
}

const cache = new Map<string, Template>();

/** Expands a template text (compiled once, then cached) for one request. */
export function expand(text: string, source: VariableSource): string {
  if (!text.includes('$')) return text;
  let template = cache.get(text);
  if (!template) cache.set(text, (template = compileTemplate(text)));
  let out = '';
  for (const part of template) out += typeof part === 'string' ? part : part(source);
  return out;
}

function header(s: VariableSource, name: string): string {
  const value = s.headers[name];
  if (value === undefined) return '';
  return Array.isArray(value) ? value.join(name === 'cookie' ? '; ' : ', ') : value;
}

/**
 * nginx's $host: the host of an absolute-form target, else the Host field, without port and
 * trailing dot, lower case; else the server name.
 */
function hostOf(s: VariableSource): string {
  return normalizeHost(s.host) || s.serverName;
}

/** The raw (still percent-encoded) value of the first `name=` argument, as nginx gives it. */
function argument(query: string, name: string): string {
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (asciiLower(key) === name) return eq < 0 ? '' : pair.slice(eq + 1);
  }
  return '';
}

function cookie(header: string, name: string): string {
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && asciiLower(part.slice(0, eq).trim()) === name) return part.slice(eq + 1).trim();
  }
  return '';
}
