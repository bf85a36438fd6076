// The environ: one pure function from an HTTP request (plus the matched
// location and the connection) to the PEP 3333 / CGI keys sent to a runner.
// No I/O here; the runner adds the live objects (wsgi.input, wsgi.errors, the
// wsgi.* flags).
//
// Every value is a latin-1 "byte string" (one char per byte, 0–255), which is
// what PEP 3333 calls a native string: PATH_INFO carries any byte of the path
// losslessly. Where PEP 3333 leaves room, nginx's uwsgi_params conventions
// apply:
//   - repeated fields are joined with ', ' in order of arrival, Cookie with '; ';
//   - no HTTP_CONTENT_TYPE / HTTP_CONTENT_LENGTH: those go to CONTENT_TYPE /
//     CONTENT_LENGTH, present only when the request has them;
//   - fields whose name contains '_' are dropped unless underscores_in_headers
//     is on, since HTTP_X_FOO could otherwise come from 'X-Foo' or 'X_Foo';
//     names with other characters than letters, digits, '-' and '_' are
//     dropped too unless ignore_invalid_headers is off (which, as in nginx,
//     also lets underscores through);
//   - hop-by-hop fields, and those named in Connection, are not passed (the
//     rule lives in headers.ts, shared with the response side);
//   - tsgi_param entries come last and override.
// Beyond uwsgi_params: a 'Proxy' field is never passed (httpoxy), the host of
// an absolute-form target is HTTP_HOST (RFC 9112 §3.2.2; REQUEST_URI keeps the
// target as received), and the request is refused (400) for several Host
// lines or a Content-Length that is malformed, disagrees with itself or comes
// with Transfer-Encoding.

import { EnvironError } from './errors.js';
import { HOP_BY_HOP } from '../protocol/index.js';
import { connectionTokens, namedByConnection, parseContentLength } from './headers.js';
import type { RequestFacts } from './request-facts.js';
import { absoluteForm, parseTarget } from './uri.js';

/**
 * The request's side of the environ: its facts (request-facts.ts). `path` and `query` are the
 * target as parseTarget(method, target, { mergeSlashes }) gave them when the caller has them
 * already (it matched the location with them), so the target is not parsed twice.
 *
 * rawHeaders are assumed to have passed the HTTP parser's syntax checks; HTTP/2
 * pseudo-headers (':path', ...) are skipped, except that ':authority' stands in for a
 * missing Host. serverName is chosen by the caller (matched server_name, else Host, else
 * listen address).
 */
export type EnvironRequest = Pick<
  RequestFacts,
  'method' | 'target' | 'httpVersion' | 'rawHeaders' | 'remoteAddress' | 'remotePort' | 'serverName' | 'serverPort' | 'scheme' | 'requestId'
> &
  Partial<Pick<RequestFacts, 'path' | 'query'>>;

/** The location's side of the environ: where the app is mounted, its parameters, the field-name rules. */
export interface EnvironMount {
  /**
   * Mount prefix, '' for root, in the same byte-string form as PATH_INFO (a
   * decoded path, latin-1). One trailing '/' is ignored ('/app/' mounts '/app').
   */
  scriptName: string;
  /** tsgi_param, values already expanded. */
  params: ReadonlyArray<{ name: string; value: string; ifNotEmpty: boolean }>;
  /** Default false: fields whose name contains '_' are dropped (nginx default). */
  underscoresInHeaders?: boolean;
  /**
   * Default true (nginx's ignore_invalid_headers): fields whose name has a character other
   * than letters, digits, '-' (and '_', see underscoresInHeaders) are dropped; false passes
   * them all, underscores included, as nginx does with the directive off.
   */
  ignoreInvalidHeaders?: boolean;
  /** merge_slashes, default true: see uri.ts for the path normalisation. */
  mergeSlashes?: boolean;
}

/** Both sides in one object: the form of the shared corpus's cases (test/proxy/environ/cases). */
export type EnvironInput = EnvironRequest & EnvironMount;

export type Environ = Record<string, string>;

export function buildEnviron(input: EnvironRequest, mount: EnvironMount): Environ {
  let target: { path: string; query: string };
  if (input.path !== undefined && input.query !== undefined) target = input as { path: string; query: string };
  else {
    const parsed = parseTarget(input.method, input.target, { mergeSlashes: mount.mergeSlashes !== false });
    if (!parsed.ok) throw new EnvironError(parsed.code, parsed.reason);
    target = parsed;
  }

  const env: Environ = {
    REQUEST_METHOD: input.method,
    SCRIPT_NAME: '',
    // Percent-decoded and normalised as for location matching (uri.ts), so
    // the app serves the path the location was chosen for.
    PATH_INFO: target.path,
    QUERY_STRING: target.query,
    SERVER_NAME: input.serverName,
    SERVER_PORT: String(input.serverPort),
    SERVER_PROTOCOL: 'HTTP/' + input.httpVersion,
    REMOTE_ADDR: input.remoteAddress,
    REMOTE_PORT: String(input.remotePort),
    REQUEST_URI: input.target,
    'wsgi.url_scheme': input.scheme,
    'tsgi.request_id': input.requestId,
  };
  mountAt(env, mount.scriptName, target.path);
  const ignoreInvalid = mount.ignoreInvalidHeaders !== false;
  addHeaders(env, input.rawHeaders, { underscores: mount.underscoresInHeaders === true || !ignoreInvalid, ignoreInvalid });
  // RFC 9112 §3.2.2: the host of an absolute-form target replaces the Host field, so the app
  // builds its URLs for the host the server was chosen by. (nginx's uwsgi_pass would pass the
  // Host field as it came.)
  const absolute = absoluteForm(input.target);
  if (absolute?.ok) env.HTTP_HOST = absolute.authority;

  for (const param of mount.params) {
    if (param.ifNotEmpty && param.value === '') continue;
    env[param.name] = param.value;
  }
  return env;
}

/** Splits the decoded path into SCRIPT_NAME and PATH_INFO at a segment boundary. */
function mountAt(env: Environ, scriptName: string, path: string): void {
  const prefix = scriptName.endsWith('/') ? scriptName.slice(0, -1) : scriptName;
  if (prefix === '' || !path.startsWith(prefix)) return;
  if (path.length !== prefix.length && path.charCodeAt(prefix.length) !== 0x2f /* / */) return;
  env.SCRIPT_NAME = prefix;
  env.PATH_INFO = path.slice(prefix.length);
}

interface NameRules {
  underscores: boolean;
  ignoreInvalid: boolean;
}

function addHeaders(env: Environ, raw: readonly string[], { underscores, ignoreInvalid }: NameRules): void {
  const connectionOptions = connectionOptionsOf(raw, underscores);
  let lengthValues: string[] | null = null;
  let transferEncoding = false;
  let hostLines = 0;
  let authority: string | null = null;

  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const f = fieldName(name);
    if (f.underscore && !underscores) continue;
    if (f.invalid && ignoreInvalid) continue;
    if (connectionOptions !== null && namedByConnection(f.field, connectionOptions)) continue;
    switch (f.kind) {
      case Kind.Plain:
        append(env, f.key, value, ', ');
        break;
      case Kind.Cookie:
        append(env, f.key, value, '; ');
        break;
      case Kind.Host:
        hostLines++;
        append(env, f.key, value, ', ');
        break;
      case Kind.ContentLength:
        (lengthValues ??= []).push(value);
        break;
      case Kind.ContentType:
        append(env, 'CONTENT_TYPE', value, ', ');
        break;
      case Kind.TransferEncoding:
        transferEncoding = true;
        break;
      case Kind.Authority:
        authority = value;
        break;
      case Kind.Dropped:
        break;
    }
  }

  if (lengthValues !== null) {
    const length = parseContentLength(lengthValues);
    if (length === null || length < 0) {
      throw new EnvironError('E_BAD_CONTENT_LENGTH', `invalid Content-Length ${JSON.stringify(lengthValues.join(', '))}`);
    }
    if (transferEncoding) {
      throw new EnvironError('E_BAD_CONTENT_LENGTH', 'Content-Length together with Transfer-Encoding');
    }
    env.CONTENT_LENGTH = String(length);
  }

  if (hostLines > 1) throw new EnvironError('E_BAD_HOST', 'more than one Host field');
  if (authority !== null) {
    if (hostLines === 0) env.HTTP_HOST = authority;
    else if (env.HTTP_HOST !== authority) throw new EnvironError('E_BAD_HOST', 'Host differs from :authority');
  }
}

/** What a field name means for the environ; depends on the name alone, so it is memoised. */
enum Kind {
  Plain, // HTTP_<NAME>, joined with ', '
  Cookie, // HTTP_COOKIE, joined with '; '
  Host, // HTTP_HOST, must not repeat
  ContentLength, // CONTENT_LENGTH
  ContentType, // CONTENT_TYPE
  TransferEncoding, // not passed, but the body is chunked
  Authority, // HTTP/2 ':authority', stands in for Host
  Dropped, // hop-by-hop, other pseudo-headers, lookalikes, Proxy
}

interface FieldName {
  kind: Kind;
  /** The name as HTTP_* sees it, lower case: 'X_Foo' and 'X-Foo' are both 'x-foo'. */
  field: string;
  /** The environ key, for Plain, Cookie and Host. */
  key: string;
  underscore: boolean;
  /** Has a character nginx calls invalid in a name: neither letter, digit, '-' nor '_'. */
  invalid: boolean;
}

// Building 'HTTP_' + name.toUpperCase() per header dominated the cost of
// buildEnviron, and a freshly built key is also slower to store than a
// reused one. Names repeat across requests, so remember the first few
// hundred; beyond that (a client inventing names) compute without storing.
const fieldNames = new Map<string, FieldName>();
const FIELD_NAMES_MAX = 512;

function fieldName(name: string): FieldName {
  let f = fieldNames.get(name);
  if (f === undefined) {
    f = classify(name);
    if (fieldNames.size < FIELD_NAMES_MAX) fieldNames.set(name, f);
  }
  return f;
}

function classify(name: string): FieldName {
  const underscore = name.includes('_');
  const lower = name.toLowerCase();
  const field = underscore ? lower.replaceAll('_', '-') : lower;
  const key = 'HTTP_' + name.toUpperCase().replaceAll('-', '_');
  const invalid = !/^[A-Za-z0-9_-]*$/.test(name) && name.charCodeAt(0) !== 0x3a; /* ':' pseudo-headers are HTTP/2's own */
  return { kind: kindOf(name, lower, field), field, key, underscore, invalid };
}

function kindOf(name: string, lower: string, field: string): Kind {
  if (name.charCodeAt(0) === 0x3a /* : */) return lower === ':authority' ? Kind.Authority : Kind.Dropped;
  // Exact names only: with underscores_in_headers on, 'Content_Length' is not
  // the framing Node used and must never pose as it.
  if (lower === 'content-length') return Kind.ContentLength;
  if (lower === 'content-type') return Kind.ContentType;
  if (lower === 'transfer-encoding') return Kind.TransferEncoding;
  if (field === 'content-length' || field === 'content-type') return Kind.Dropped;
  if (HOP_BY_HOP.has(field)) return Kind.Dropped;
  // httpoxy (CVE-2016-5385): HTTP_PROXY would shadow the proxy setting of
  // apps that read their environ like process environment. Go's net/http/cgi
  // drops it too.
  if (field === 'proxy') return Kind.Dropped;
  if (lower === 'host') return Kind.Host;
  if (field === 'cookie') return Kind.Cookie;
  return Kind.Plain;
}

/** The field names listed by the request's Connection fields, or null when none. */
function connectionOptionsOf(raw: readonly string[], underscores: boolean): Set<string> | null {
  let options: Set<string> | null = null;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    options ??= new Set();
    for (const token of connectionTokens(raw[i + 1]!)) {
      options.add(underscores ? token.replaceAll('_', '-') : token);
    }
  }
  return options;
}

function append(env: Environ, key: string, value: string, separator: string): void {
  const previous = env[key];
  env[key] = previous === undefined ? value : previous + separator + value;
}
