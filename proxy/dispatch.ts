import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { answer } from './answer.js';
import type { LocationConfig, ServerConfig } from './config/types.js';
import { EnvironError, buildEnviron } from './environ.js';
import { HttpError } from './errors.js';
import { Exchange } from './exchange.js';
import { requestId } from './request-id.js';
import { hostName, matchLocation, type VirtualHosts } from './router.js';
import type { UpstreamGroup } from './upstream/group.js';
import { DEFAULT_RETRY } from './upstream/retry.js';
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
  const server = options.hosts.match(req.headers.host);
  const target = parseTarget(req.method ?? 'GET', req.url ?? '/');
  if (!target.ok) return answer(options.log, res, id, HttpError.BAD_REQUEST, target.reason, started);
  const location = matchLocation(server, target.path);
  if (!location) return answer(options.log, res, id, HttpError.NO_LOCATION, `no location matches ${target.path}`, started);
  const contentLength = declaredLength(req);
  const name = serverName(server, req);
  const port = req.socket.localPort ?? hostPort(req.headers.host);
  const source: VariableSource = {
    method: req.method ?? 'GET',
    target: req.url ?? '/',
    path: target.path,
    query: target.query,
    headers: req.headers,
    remoteAddress: req.socket.remoteAddress ?? 'unix:',
    remotePort: req.socket.remotePort ?? 0,
    serverName: name,
    serverPort: port,
    scheme: 'http',
    requestId: id,
  };
  const params = expandParams(location, source);
  let environ;
  try {
    environ = buildEnviron({
      method: req.method ?? 'GET',
      target: req.url ?? '/',
      httpVersion: req.httpVersion,
      rawHeaders: req.rawHeaders,
      remoteAddress: req.socket.remoteAddress ?? 'unix:',
      remotePort: req.socket.remotePort ?? 0,
      serverName: name,
      serverPort: port,
      scheme: 'http',
      scriptName: '',
      params,
      requestId: id,
    });
  } catch (err) {
    if (err instanceof EnvironError) return answer(options.log, res, id, HttpError.BAD_REQUEST, err.message, started);
    throw err;
  }
  const group = groupFor(options, location);
  const hashKey = group.method.kind === 'hash' ? expand(group.method.key, source) : '';
  const exchange = new Exchange({
    req,
    res,
    environ,
    location,
    group,
    requestId: id,
    log: options.log,
    contentLength,
    retry: DEFAULT_RETRY,
    remoteAddress: source.remoteAddress,
    hashKey,
  });
  exchange.start().catch((err: unknown) => {
    options.log.error({ err, reqId: id }, 'internal error while relaying');
    if (!res.headersSent) answer(options.log, res, id, HttpError.UPSTREAM_UNREACHABLE, 'internal error', started);
    else res.destroy();
  });
}

function expandParams(location: LocationConfig, source: VariableSource): LocationConfig['params'] {
  if (location.params.length === 0) return location.params;
  return location.params.map((p) => ({ name: p.name, value: expand(p.value, source), ifNotEmpty: p.ifNotEmpty }));
}

function groupFor(options: DispatchOptions, location: LocationConfig): UpstreamGroup {
  const group = options.groups.get(location.upstream);
  if (!group) throw new Error(`no upstream group "${location.upstream}" (config validation should have caught this)`);
  return group;
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
  if (first && !first.includes('*') && !first.startsWith('~')) return first;
  return hostName(req.headers.host) || req.socket.localAddress || 'localhost';
}

function hostPort(host: string | undefined): number {
  const match = host ? /:(\d+)$/.exec(host) : null;
  return match ? Number(match[1]) : 80;
}
