import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { answer } from './answer.js';
import type { LocationConfig, ReturnRule, ServerConfig } from './config/types.js';
import { buildEnviron } from './environ.js';
import { EnvironError, HttpError } from './errors.js';
import { Exchange } from './exchange.js';
import { realAddress } from './realip.js';
import { checkHead, type RequestHead } from './request-head.js';
import { requestId } from './request-id.js';
import { CLOSE_CONNECTION, returnResponse } from './return.js';
import { hostName, matchLocation, type VirtualHosts } from './router.js';
import type { UpstreamGroup } from './upstream/group.js';
import type { NextUpstreamCondition, RetryPolicy } from './upstream/retry.js';
import { parseTarget } from './uri.js';
import { expand, type VariableSource } from './variables.js';

export interface DispatchOptions {
  hosts: VirtualHosts;
  groups: ReadonlyMap<string, UpstreamGroup>;
  log: Logger;
}

/**
 * Turns one HTTP request into an exchange with a runner: server_name and location, the
 * environ (with tsgi_param's variables), then the relay. Answers 400/404 itself.
 */
export function dispatch(options: DispatchOptions, req: IncomingMessage, res: ServerResponse): void {
  const started = performance.now();
  const id = requestId();
  // The head is checked against the limits of the address's default server: they bound what
  // is read before the Host is known (nginx reads the request line and headers the same way).
  const refusal = checkHead(headOf(req), options.hosts.fallback.client);
  if (refusal) return answer(options.log, res, id, refusal.kind, refusal.reason, started);
  const server = options.hosts.match(req.headers.host);
  const { client } = server;
  const target = parseTarget(req.method ?? 'GET', req.url ?? '/', { mergeSlashes: client.mergeSlashes });
  if (!target.ok) return answer(options.log, res, id, HttpError.BAD_REQUEST, target.reason, started);
  const name = serverName(server, req);
  const port = req.socket.localPort ?? hostPort(req.headers.host);
  const peer = { address: req.socket.remoteAddress ?? 'unix:', port: req.socket.remotePort ?? 0 };
  const remote = realAddress(peer, headerLines(req.rawHeaders, client.realIp.header), client.realIp);
  // The variables ($host, $request_uri...) only when a rule needs them: most requests need none.
  const source = (): VariableSource => ({
    method: req.method ?? 'GET',
    target: req.url ?? '/',
    path: target.path,
    query: target.query,
    headers: req.headers,
    remoteAddress: remote.address,
    remotePort: remote.port,
    realipRemoteAddress: peer.address,
    realipRemotePort: peer.port,
    serverName: name,
    serverPort: port,
    serverAddress: req.socket.localAddress,
    protocol: `HTTP/${req.httpVersion}`,
    scheme: 'http',
    requestId: id,
  });
  // nginx: a server-level return answers before any location is looked at.
  if (server.return) return answerReturn(options.log, res, id, server.return, source(), started);
  const location = matchLocation(server, target.path);
  if (!location) return answer(options.log, res, id, HttpError.NO_LOCATION, `no location matches ${target.path}`, started);
  // An explicit return, or nginx's trailing-slash redirect (/app → /app/) for a prefix location.
  if (location.return) return answerReturn(options.log, res, id, location.return, source(), started);
  const contentLength = declaredLength(req);
  const params = location.params.length === 0 ? location.params : expandParams(location, source());
  let environ;
  try {
    environ = buildEnviron({
      method: req.method ?? 'GET',
      target: req.url ?? '/',
      httpVersion: req.httpVersion,
      rawHeaders: req.rawHeaders,
      remoteAddress: remote.address,
      remotePort: remote.port,
      serverName: name,
      serverPort: port,
      scheme: 'http',
      scriptName: location.scriptName,
      params,
      requestId: id,
      underscoresInHeaders: client.underscoresInHeaders,
      ignoreInvalidHeaders: client.ignoreInvalidHeaders,
      mergeSlashes: client.mergeSlashes,
      parsedTarget: target,
    });
  } catch (err) {
    if (err instanceof EnvironError) return answer(options.log, res, id, HttpError.BAD_REQUEST, err.message, started);
    throw err;
  }
  const group = groupFor(options, location);
  const hashKey = group.method.kind === 'hash' ? expand(group.method.key, source()) : '';
  const exchange = new Exchange({
    req,
    res,
    environ,
    location,
    group,
    requestId: id,
    log: options.log,
    contentLength,
    retry: retryPolicy(location),
    remoteAddress: remote.address,
    hashKey,
  });
  if (contentLength !== null) return void exchange.run();
  // A chunked body is framed as it arrives, after this request event: let the parser finish
  // the packet first, so that a body it cannot frame (an invalid chunk size in the same
  // packet, the usual smuggling attempt) ends the connection before the runner hears of
  // the request. A framing error in a later packet cancels the stream instead: the app
  // never sees the end of such a body.
  setImmediate(() => (req.socket && !req.socket.destroyed && !req.socket.writableEnded ? void exchange.run() : undefined));
}

function expandParams(location: LocationConfig, source: VariableSource): LocationConfig['params'] {
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
function answerReturn(log: Logger, res: ServerResponse, reqId: string, rule: ReturnRule, source: VariableSource, started: number): void {
  const { status, headers, body } = returnResponse(rule, source);
  if (status === CLOSE_CONNECTION) res.socket?.destroy();
  else {
    res.writeHead(status, headers.flat());
    res.end(Buffer.from(body, 'latin1'));
  }
  const ms = Math.round((performance.now() - started) * 1000) / 1000;
  log.info({ reqId, method: res.req.method, uri: res.req.url, status, bytes: body.length, ms, upstream: '-' }, 'access');
}

function headOf(req: IncomingMessage): RequestHead {
  return { method: req.method ?? 'GET', url: req.url ?? '/', httpVersion: req.httpVersion, rawHeaders: req.rawHeaders };
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
function declaredLength(req: IncomingMessage): number | null {
  if (req.headers['transfer-encoding'] !== undefined) return null;
  const length = req.headers['content-length'];
  return length === undefined ? 0 : Number(length);
}

/** nginx's $server_name: the first name of the matched server, else the Host. */
function serverName(server: ServerConfig, req: IncomingMessage): string {
  const first = server.serverNames[0];
  if (first && !first.includes('*') && !first.startsWith('~')) return first.startsWith('.') ? first.slice(1) : first;
  return hostName(req.headers.host) || req.socket.localAddress || 'localhost';
}

function hostPort(host: string | undefined): number {
  const match = host ? /:(\d+)$/.exec(host) : null;
  return match ? Number(match[1]) : 80;
}
