/**
 * Scopes → the typed ProxyConfig: defaults, inheritance (main → server → location → nested
 * location), upstream resolution and the checks that need more than one directive.
 */
import { addressKey } from './address.js';
import { DIRECTIVES as D, defaultValue, type LocationMatch, type PassTarget, type ReturnSpec } from './directives.js';
import { ConfigError, type ConfigErrorCode } from './errors.js';
import type { Arg, Directive } from './parser.js';
import {
  blockOf,
  inherit,
  inheritedList,
  inheritedValue,
  NOTHING_INHERITED,
  type Entry,
  type Inherited,
  type Scope,
} from './scope.js';
import type { BalanceConfig, ClientConfig, LocationConfig, ProxyConfig, ReturnRule, ServerConfig, UpstreamConfig } from './types.js';

type Upstreams = Map<string, UpstreamConfig>;

export function buildConfig(main: Scope, file: string): ProxyConfig {
  // Upstreams first: nginx lets a tsgi_pass name an upstream defined further down the file.
  const upstreams = explicitUpstreams(main);
  const values = inherit(NOTHING_INHERITED, main);
  const serverScopes = main.all(D.server).map(blockOf);
  checkListens(serverScopes);
  const servers = serverScopes.map((scope) => buildServer(scope, values, upstreams));
  return { file, workers: main.value(D.workers), multiAccept: main.value(D.multiAccept), upstreams, servers };
}

function explicitUpstreams(main: Scope): Upstreams {
  const upstreams: Upstreams = new Map();
  for (const entry of main.all(D.upstream)) {
    const name = entry.value;
    if (upstreams.has(name)) fail(entry.directive, firstArg(entry), 'E_DUPLICATE_UPSTREAM', `duplicate upstream "${name}"`);
    const scope = blockOf(entry);
    const servers = scope.list(D.upstreamServer);
    if (servers.length === 0) {
      fail(entry.directive, entry.directive, 'E_EMPTY_UPSTREAM', `no servers are inside upstream "${name}"`);
    }
    const method = balanceMethod(scope);
    const backup = scope.all(D.upstreamServer).find((e) => e.value.backup);
    if (backup && method.kind !== 'round_robin' && method.kind !== 'least_conn') {
      fail(backup.directive, backup.directive, 'E_INVALID_PARAMETER', `balancing method "${method.kind}" does not support backup servers`);
    }
    upstreams.set(name, { name, servers, keepalive: scope.value(D.keepalive), method, queue: scope.list(D.queue)[0] ?? null, healthCheck: scope.list(D.healthCheck)[0] ?? null, implicit: false });
  }
  return upstreams;
}

/** At most one balancing method per upstream, as nginx ("load balancing method redefined"). */
function balanceMethod(scope: Scope): BalanceConfig {
  const named = [D.leastConn, D.ipHash, D.hash, D.random].flatMap((spec) => scope.all(spec));
  if (named.length > 1) {
    const second = named.sort((a, b) => a.directive.line - b.directive.line || a.directive.column - b.directive.column)[1]!;
    fail(second.directive, second.directive, 'E_DUPLICATE', `load balancing method redefined by "${second.directive.name}"`);
  }
  return named[0]?.value ?? { kind: 'round_robin' };
}

/** Within a server each address once; across servers one default_server per address. */
function checkListens(servers: readonly Scope[]): void {
  const defaults = new Set<string>();
  for (const server of servers) {
    const seen = new Set<string>();
    for (const { value, directive } of server.all(D.listen)) {
      const key = addressKey(value.address);
      if (seen.has(key)) fail(directive, firstArg({ directive }), 'E_DUPLICATE_LISTEN', `a duplicate listen ${key}`);
      seen.add(key);
      if (!value.defaultServer) continue;
      const flag = directive.args.find((arg) => arg.value === 'default_server' || arg.value === 'default') as Arg;
      if (defaults.has(key)) fail(directive, flag, 'E_DUPLICATE_DEFAULT_SERVER', `a duplicate default server for ${key}`);
      defaults.add(key);
    }
  }
}

function buildServer(scope: Scope, outer: Inherited, upstreams: Upstreams): ServerConfig {
  const values = inherit(outer, scope);
  const server: ServerConfig = { listen: scope.list(D.listen), client: clientConfig(values), serverNames: scope.list(D.serverName).flat(), locations: [] };
  const rule = returnRule(scope, values);
  if (rule) server.return = rule;
  server.locations = buildLocations(scope, values, upstreams);
  return server;
}

function clientConfig(values: Inherited): ClientConfig {
  return {
    headerTimeoutMs: inheritedValue(values, D.clientHeaderTimeout),
    keepaliveTimeoutMs: inheritedValue(values, D.keepaliveTimeout),
    keepaliveRequests: inheritedValue(values, D.keepaliveRequests),
    lingeringTimeMs: inheritedValue(values, D.lingeringTime),
    lingeringTimeoutMs: inheritedValue(values, D.lingeringTimeout),
    headerBuffers: inheritedValue(values, D.largeClientHeaderBuffers),
    maxHeaders: inheritedValue(values, D.clientMaxHeaders),
    underscoresInHeaders: inheritedValue(values, D.underscoresInHeaders),
    ignoreInvalidHeaders: inheritedValue(values, D.ignoreInvalidHeaders),
    mergeSlashes: inheritedValue(values, D.mergeSlashes),
    realIp: {
      from: inheritedList(values, D.setRealIpFrom),
      header: inheritedValue(values, D.realIpHeader),
      recursive: inheritedValue(values, D.realIpRecursive),
    },
  };
}

/** The locations of one block (a server or a location), checked as nginx does. */
function buildLocations(scope: Scope, outer: Inherited, upstreams: Upstreams): LocationConfig[] {
  const seen = new Set<string>();
  return scope.all(D.location).map((entry) => {
    const { modifier, uri, regex } = entry.value;
    if (!regex) {
      // `/a` and `^~ /a` are the same prefix; `= /a` may sit beside them.
      const key = (modifier === '=' ? '=' : '') + uri;
      if (seen.has(key)) fail(entry.directive, entry.directive, 'E_DUPLICATE_LOCATION', `duplicate location "${text(uri)}"`);
      seen.add(key);
    }
    return buildLocation(entry, outer, upstreams);
  });
}

/** nginx's rules for a location inside `parent`. */
function checkNesting(entry: Entry<LocationMatch>, parent: LocationMatch): void {
  const { uri, regex } = entry.value;
  const [inner, outer] = [text(uri), text(parent.uri)];
  if (parent.modifier === '=') {
    fail(entry.directive, entry.directive, 'E_LOCATION_NESTING', `location "${inner}" cannot be inside the exact location "${outer}"`);
  }
  // Compared with the parent's text even when it is a regex, as nginx does: a prefix location
  // inside a regex one is only accepted when it starts with the regex's source.
  if (!regex && !uri.startsWith(parent.uri)) {
    fail(entry.directive, entry.directive, 'E_LOCATION_NESTING', `location "${inner}" is outside location "${outer}"`);
  }
}

function buildLocation(entry: Entry<LocationMatch>, outer: Inherited, upstreams: Upstreams): LocationConfig {
  const scope = blockOf(entry);
  // Where a nested location may be is checked first, as nginx does while parsing the block.
  for (const nested of scope.all(D.location)) checkNesting(nested, entry.value);
  const [pass] = scope.all(D.tsgiPass);
  const values = inherit(outer, scope);
  const rule = returnRule(scope, values);
  if (!pass && !rule) {
    fail(entry.directive, entry.directive, 'E_NO_TSGI_PASS', `location "${text(entry.value.uri)}" has no tsgi_pass (nor return)`);
  }
  const { modifier, uri, regex } = entry.value;
  const location: LocationConfig = {
    modifier,
    uri,
    ...(regex ? { regex } : {}),
    upstream: pass ? resolveUpstream(pass, upstreams) : '',
    readTimeoutMs: inheritedValue(values, D.tsgiReadTimeout),
    connectTimeoutMs: inheritedValue(values, D.tsgiConnectTimeout),
    sendTimeoutMs: inheritedValue(values, D.tsgiSendTimeout),
    clientBodyTimeoutMs: inheritedValue(values, D.clientBodyTimeout),
    clientSendTimeoutMs: inheritedValue(values, D.sendTimeout),
    nextUpstream: {
      conditions: inheritedValue(values, D.tsgiNextUpstream),
      tries: inheritedValue(values, D.tsgiNextUpstreamTries),
      timeoutMs: inheritedValue(values, D.tsgiNextUpstreamTimeout),
    },
    clientMaxBodySize: inheritedValue(values, D.clientMaxBodySize),
    requestBuffering: inheritedValue(values, D.tsgiRequestBuffering),
    clientBodyBufferSize: inheritedValue(values, D.clientBodyBufferSize),
    clientBodyTempPath: inheritedValue(values, D.clientBodyTempPath),
    buffering: responseBuffering(entry, values),
    params: inheritedList(values, D.tsgiParam),
    scriptName: inheritedValue(values, D.tsgiScriptName),
    locations: [],
  };
  if (rule) location.return = rule;
  if (pass && !regex && uri.length > 1 && uri.endsWith('/')) location.slashRedirect = slashRedirect(uri, values);
  location.locations = buildLocations(scope, values, upstreams);
  return location;
}

/**
 * tsgi_buffering and its sizes, with nginx's checks of how they relate (made where they meet:
 * the location, which names them in the message).
 */
function responseBuffering(entry: Entry<LocationMatch>, values: Inherited): LocationConfig['buffering'] {
  const first = inheritedValue(values, D.tsgiBufferSize);
  const buffers = inheritedValue(values, D.tsgiBuffers);
  const busy = inheritedValue(values, D.tsgiBusyBuffersSize);
  const maxFile = inheritedValue(values, D.tsgiMaxTempFileSize);
  const where = `in location "${text(entry.value.uri)}"`;
  const largest = Math.max(first, buffers.size);
  if (busy < largest) {
    fail(entry.directive, entry.directive, 'E_INVALID_SIZE', `"tsgi_busy_buffers_size" (${busy}) must be at least "tsgi_buffer_size" and one of "tsgi_buffers" (${largest}) ${where}`);
  }
  if (busy >= (buffers.number - 1) * buffers.size) {
    fail(entry.directive, entry.directive, 'E_INVALID_SIZE', `"tsgi_busy_buffers_size" (${busy}) must be less than the size of all "tsgi_buffers" minus one buffer (${(buffers.number - 1) * buffers.size}) ${where}`);
  }
  if (maxFile !== 0 && maxFile < largest) {
    fail(entry.directive, entry.directive, 'E_INVALID_SIZE', `"tsgi_max_temp_file_size" (${maxFile}) must be 0 or at least "tsgi_buffer_size" and one of "tsgi_buffers" (${largest}) ${where}`);
  }
  return {
    on: inheritedValue(values, D.tsgiBuffering),
    memoryBytes: first + buffers.number * buffers.size,
    busyBytes: busy,
    maxFileBytes: maxFile,
    tempDir: inheritedValue(values, D.tsgiTempPath),
  };
}

/** The first `return` of a block (nginx never reaches the others). */
function returnRule(scope: Scope, values: Inherited): ReturnRule | undefined {
  const [spec] = scope.list(D.return) as ReturnSpec[];
  if (!spec) return undefined;
  return spec.location === undefined ? { ...spec } : { ...spec, absolute: inheritedValue(values, D.absoluteRedirect) };
}

/**
 * nginx's auto_redirect for proxy-like locations: `/app/` answers `/app` with a 301 to `/app/`
 * (query kept). The URI is percent-encoded where a URL needs it, `$` included, so the
 * template holds no variable but `$is_args$args`.
 */
function slashRedirect(uri: string, values: Inherited): ReturnRule {
  const path = uri.replace(/[^A-Za-z0-9\-._~!&'()*+,;=:@/]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  return { status: 301, location: `${path}$is_args$args`, absolute: inheritedValue(values, D.absoluteRedirect) };
}

/** Returns the upstream's key; `tsgi_pass ADDRESS` creates (or reuses) one named by the text. */
function resolveUpstream(pass: Entry<PassTarget>, upstreams: Upstreams): string {
  const target = pass.value;
  if (target.kind === 'upstream') {
    if (upstreams.has(target.name)) return target.name;
    fail(pass.directive, firstArg(pass), 'E_UNKNOWN_UPSTREAM', `host not found in upstream "${target.name}" in "tsgi_pass"`);
  }
  const name = target.server.text;
  if (!upstreams.has(name)) {
    const keepalive = defaultValue(D.keepalive) as number;
    upstreams.set(name, { name, servers: [target.server], keepalive, method: { kind: 'round_robin' }, queue: null, healthCheck: null, implicit: true });
  }
  return name;
}

/** A byte-string value back as the config text, for messages. */
function text(value: string): string {
  return Buffer.from(value, 'latin1').toString('utf8');
}

function firstArg(entry: { directive: Directive }): Arg {
  return entry.directive.args[0] as Arg;
}

function fail(directive: Directive, at: { line: number; column: number }, code: ConfigErrorCode, message: string): never {
  throw new ConfigError(code, message, { file: directive.file, line: at.line, column: at.column });
}
