import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { elapsedMs, logAccess } from './access-log.js';
import { answer } from './answer.js';
import type { LocationConfig, ReturnRule, ServerConfig } from './config/types.js';
import { buildEnviron } from './environ.js';
import { EnvironError, HttpError } from './errors.js';
import { Exchange } from './exchange.js';
import { realAddress } from './realip.js';
import type { RequestFacts } from './request-facts.js';
import { checkHead } from './request-head.js';
import { requestId } from './request-id.js';
import { CLOSE_CONNECTION, returnResponse } from './return.js';
import { hostName, matchLocation, type VirtualHosts } from './router.js';
import type { UpstreamGroup } from './upstream/group.js';
import type { NextUpstreamCondition, RetryPolicy } from './upstream/retry.js';
import { absoluteForm, parseTarget } from './uri.js';
import { expand } from './variables.js';

export interface DispatchOptions {
  groups: ReadonlyMap<string, UpstreamGroup>;
  log: Logger;
}

/**
 * Turns one HTTP request into an exchange with a runner: server_name among `hosts` (the
 * servers listening on the address the connection came to) and location, the environ (with
 * tsgi_param's variables), then the relay. Answers 400/404 itself.
 */
export function dispatch(options: DispatchOptions, hosts: VirtualHosts, req: IncomingMessage, res: ServerResponse): void {
  const started = performance.now();
  const request = headFacts(req);
  // The head is checked against the limits of the address's default server: they bound what
  // is read before the Host is known (nginx reads the request line and headers the same way).
  const refusal = checkHead(request, hosts.fallback.client);
  if (refusal) return answer(options.log, res, request.requestId, refusal.kind, refusal.reason, started, hosts.fallback.client);
  // An absolute-form target names the host in place of the Host field (RFC 9112 §3.2.2, nginx).
  const absolute = absoluteForm(request.target);
  if (absolute && !absolute.ok) return answer(options.log, res, request.requestId, HttpError.BAD_REQUEST, absolute.reason, started, hosts.fallback.client);
  request.host = absolute ? absolute.authority : hostField(request);
  const server = hosts.match(request.host);
  const { client } = server;
  const target = parseTarget(request.method, absolute ? absolute.rest : request.target, { mergeSlashes: client.mergeSlashes });
  if (!target.ok) return answer(options.log, res, request.requestId, HttpError.BAD_REQUEST, target.reason, started, client);
  learnConnection(request, server, target, req);
  // nginx: a server-level return answers before any location is looked at.
  if (server.return) return answerReturn(options.log, res, server.return, request, started);
  const location = matchLocation(server, request.path);
  if (!location) return answer(options.log, res, request.requestId, HttpError.NO_LOCATION, `no location matches ${request.path}`, started, client);
  // An explicit return, or nginx's trailing-slash redirect (/app → /app/) for a prefix location.
  if (location.return) return answerReturn(options.log, res, location.return, request, started);
  const contentLength = declaredLength(request.headers);
  const params = location.params.length === 0 ? location.params : expandParams(location, request);
  let environ;
  try {
    environ = buildEnviron(request, {
      scriptName: location.scriptName,
      params,
      underscoresInHeaders: client.underscoresInHeaders,
      ignoreInvalidHeaders: client.ignoreInvalidHeaders,
      mergeSlashes: client.mergeSlashes,
    });
  } catch (err) {
    if (err instanceof EnvironError) return answer(options.log, res, request.requestId, HttpError.BAD_REQUEST, err.message, started, client);
    throw err;
  }
  const group = groupFor(options, location);
  const hashKey = group.method.kind === 'hash' ? expand(group.method.key, request) : '';
  const exchange = new Exchange({ req, res, request, environ, location, group, log: options.log, contentLength, retry: retryPolicy(location), hashKey, started, lingering: client });
  if (contentLength !== null) return void exchange.run();
  // A chunked body is framed as it arrives, after this request event: let the parser finish
  // the packet first, so that a body it cannot frame (an invalid chunk size in the same
  // packet, the usual smuggling attempt) ends the connection before the runner hears of
  // the request. A framing error in a later packet cancels the stream instead: the app
  // never sees the end of such a body.
  setImmediate(() => (req.socket && !req.socket.destroyed && !req.socket.writableEnded ? void exchange.run() : undefined));
}

/**
 * The facts the request line and fields give; the rest are filled in by learnConnection
 * once the server is known (one object, built with all its fields, completed in place).
 */
function headFacts(req: IncomingMessage): RequestFacts {
  return {
    method: req.method ?? 'GET',
    target: req.url ?? '/',
    httpVersion: req.httpVersion,
    rawHeaders: req.rawHeaders,
    headers: req.headers,
    host: '',
    path: '',
    query: '',
    remoteAddress: '',
    remotePort: 0,
    realipRemoteAddress: '',
    realipRemotePort: 0,
    serverName: '',
    serverPort: 0,
    serverAddress: '',
    scheme: 'http',
    requestId: requestId(),
  };
}

/** The facts that depend on the matched server and the connection: names, addresses, ports. */
function learnConnection(request: RequestFacts, server: ServerConfig, target: { path: string; query: string }, req: IncomingMessage): void {
  const { socket } = req;
  request.path = target.path;
  request.query = target.query;
  request.serverName = serverName(server, request.host, socket.localAddress);
  request.serverPort = socket.localPort ?? hostPort(request.host);
  request.serverAddress = socket.localAddress ?? '';
  request.realipRemoteAddress = socket.remoteAddress ?? 'unix:';
  request.realipRemotePort = socket.remotePort ?? 0;
  const peer = { address: request.realipRemoteAddress, port: request.realipRemotePort };
  const { realIp } = server.client;
  const remote = realIp.from.length === 0 ? peer : realAddress(peer, headerLines(request.rawHeaders, realIp.header), realIp);
  request.remoteAddress = remote.address;
  request.remotePort = remote.port;
}

function expandParams(location: LocationConfig, source: RequestFacts): LocationConfig['params'] {
  return location.params.map((p) => ({ name: p.name, value: expand(p.value, source), ifNotEmpty: p.ifNotEmpty }));
}

function groupFor(options: DispatchOptions, location: LocationConfig): UpstreamGroup {
  const group = options.groups.get(location.upstream);
  if (!group) throw new Error(`no upstream group "${location.upstream}" (config validation should have caught this)`);
  return group;
}

/** tsgi_next_upstream of a location, as the exchange applies it (built once per location). */
const policies = new WeakMap<LocationConfig, RetryPolicy>();
function retryPolicy(location: LocationConfig): RetryPolicy {
  let policy = policies.get(location);
  if (!policy) {
    const { conditions, tries, timeoutMs } = location.nextUpstream;
    policy = { conditions: new Set(conditions as NextUpstreamCondition[]), tries, timeoutMs };
    policies.set(location, policy);
  }
  return policy;
}

/** Answers a `return` rule (444: closes the connection without a word, as nginx). */
function answerReturn(log: Logger, res: ServerResponse, rule: ReturnRule, request: RequestFacts, started: number): void {
  const { status, headers, body } = returnResponse(rule, request);
  if (status === CLOSE_CONNECTION) res.socket?.destroy();
  else {
    res.writeHead(status, headers.flat());
    res.end(Buffer.from(body, 'latin1'));
  }
  logAccess(log, { reqId: request.requestId, method: request.method, uri: request.target, status, bytes: body.length, ms: elapsedMs(started), upstream: '-' });
}

/** The values of every field line named `name` (case-insensitive), in order of arrival. */
function headerLines(raw: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name.toLowerCase()) values.push(raw[i + 1]!);
  }
  return values;
}

/** 0 when there is no body, null when its length is unknown (chunked). */
function declaredLength(headers: RequestFacts['headers']): number | null {
  if (headers['transfer-encoding'] !== undefined) return null;
  const length = headers['content-length'];
  return length === undefined ? 0 : Number(length);
}

/** nginx's $server_name: the first name of the matched server, else the Host. */
function serverName(server: ServerConfig, host: string, localAddress: string | undefined): string {
  const first = server.serverNames[0];
  if (first && !first.includes('*') && !first.startsWith('~')) return first.startsWith('.') ? first.slice(1) : first;
  return hostName(host) || localAddress || 'localhost';
}

/** The Host field, '' without one (Node keeps one value of it; checkHead refuses a repeated one). */
function hostField(request: RequestFacts): string {
  const host = request.headers.host;
  return typeof host === 'string' ? host : '';
}

function hostPort(host: string): number {
  const match = host ? /:(\d+)$/.exec(host) : null;
  return match ? Number(match[1]) : 80;
}
