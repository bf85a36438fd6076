/**
 * Scopes → the typed ProxyConfig: defaults, inheritance (main → server → location), upstream
 * resolution and the checks that need more than one directive.
 */
import { addressKey } from './address.js';
import { DIRECTIVES as D, defaultValue, type LocationMatch, type PassTarget } from './directives.js';
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
import type { LocationConfig, ProxyConfig, ServerConfig, UpstreamConfig } from './types.js';

type Upstreams = Map<string, UpstreamConfig>;

export function buildConfig(main: Scope, file: string): ProxyConfig {
  // Upstreams first: nginx lets a tsgi_pass name an upstream defined further down the file.
  const upstreams = explicitUpstreams(main);
  const values = inherit(NOTHING_INHERITED, main);
  const serverScopes = main.all(D.server).map(blockOf);
  checkListens(serverScopes);
  const servers = serverScopes.map((scope) => buildServer(scope, values, upstreams));
  return { file, workers: main.value(D.workers), upstreams, servers };
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
    upstreams.set(name, { name, servers, keepalive: scope.value(D.keepalive), implicit: false });
  }
  return upstreams;
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
      const flag = directive.args.find((arg) => arg.value === 'default_server') as Arg;
      if (defaults.has(key)) fail(directive, flag, 'E_DUPLICATE_DEFAULT_SERVER', `a duplicate default server for ${key}`);
      defaults.add(key);
    }
  }
}

function buildServer(scope: Scope, outer: Inherited, upstreams: Upstreams): ServerConfig {
  const values = inherit(outer, scope);
  const seen = new Set<string>();
  const locations = scope.all(D.location).map((entry) => {
    const { modifier, uri } = entry.value;
    if (seen.has(modifier + uri)) fail(entry.directive, entry.directive, 'E_DUPLICATE_LOCATION', `duplicate location "${uri}"`);
    seen.add(modifier + uri);
    return buildLocation(entry, values, upstreams);
  });
  return { listen: scope.list(D.listen), serverNames: scope.list(D.serverName).flat(), locations };
}

function buildLocation(entry: Entry<LocationMatch>, outer: Inherited, upstreams: Upstreams): LocationConfig {
  const scope = blockOf(entry);
  const [pass] = scope.all(D.tsgiPass);
  if (!pass) fail(entry.directive, entry.directive, 'E_NO_TSGI_PASS', `location "${entry.value.uri}" has no tsgi_pass`);
  const values = inherit(outer, scope);
  return {
    modifier: entry.value.modifier,
    uri: entry.value.uri,
    upstream: resolveUpstream(pass, upstreams),
    readTimeoutMs: inheritedValue(values, D.tsgiReadTimeout),
    connectTimeoutMs: inheritedValue(values, D.tsgiConnectTimeout),
    sendTimeoutMs: inheritedValue(values, D.tsgiSendTimeout),
    clientMaxBodySize: inheritedValue(values, D.clientMaxBodySize),
    params: inheritedList(values, D.tsgiParam),
  };
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
    upstreams.set(name, { name, servers: [target.server], keepalive, implicit: true });
  }
  return name;
}

function firstArg(entry: { directive: Directive }): Arg {
  return entry.directive.args[0] as Arg;
}

function fail(directive: Directive, at: { line: number; column: number }, code: ConfigErrorCode, message: string): never {
  throw new ConfigError(code, message, { file: directive.file, line: at.line, column: at.column });
}
