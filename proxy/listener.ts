import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Address } from '../protocol/index.js';
import type { LocationConfig, ServerConfig } from './config/types.js';
import { EnvironError, buildEnviron } from './environ.js';
import { HttpError, errorBody, type HttpErrorKind } from './errors.js';
import { Exchange } from './exchange.js';
import { hostName, matchLocation, type VirtualHosts } from './router.js';
import type { UpstreamGroup } from './upstream/group.js';
import { parseTarget } from './uri.js';
import { expand, type VariableSource } from './variables.js';

export interface ListenerOptions {
  address: Address;
  hosts: VirtualHosts;
  groups: ReadonlyMap<string, UpstreamGroup>;
  log: Logger;
}

/**
 * One listening address (fastify instance) and the virtual hosts behind it. fastify accepts
 * HTTP and rejects what its parser cannot read; every request is then routed by our own
 * server_name/location rules and relayed with the raw Node request and response, so bodies
 * stream both ways without fastify buffering or re-encoding them.
 */
export class Listener {
  private closing = false;

  private constructor(
    private readonly app: FastifyInstance,
    readonly options: ListenerOptions,
  ) {}

  static async start(options: ListenerOptions): Promise<Listener> {
    const app = createApp();
    const listener = new Listener(app, options);
    app.all('*', (request, reply) => {
      reply.hijack();
      // While stopping, answer what is in flight but let no connection live on after it.
      if (listener.closing) reply.raw.shouldKeepAlive = false;
      handle(options, request.raw, reply.raw);
    });
    if (options.address.kind === 'unix') await app.listen({ path: options.address.path });
    else await app.listen({ host: options.address.host, port: options.address.port });
    return listener;
  }

  /** Bound addresses, port 0 resolved. */
  addresses(): ReturnType<FastifyInstance['addresses']> {
    return this.app.addresses();
  }

  /**
   * Graceful stop: no new connections; idle keep-alive connections closed as soon as they are
   * idle (a request in flight finishes first); after `graceMs` whatever is left is cut.
   */
  async stop(graceMs: number): Promise<void> {
    this.closing = true;
    const { server } = this.app;
    const reaper = setInterval(() => server.closeIdleConnections(), 50);
    const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
    try {
      await this.app.close();
    } finally {
      clearInterval(reaper);
      clearTimeout(deadline);
    }
  }
}

function createApp(): FastifyInstance {
  const app = Fastify({
    logger: false,
    // Requests that reach us while stopping are still relayed (fastify's 503 would refuse them).
    return503OnClosing: false,
    requestIdHeader: false,
    // Keep fastify out of the body: the content-type parser below leaves the stream unread.
    bodyLimit: Number.MAX_SAFE_INTEGER,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
  return app;
}

/** Request ids like nginx's $request_id: 32 hex digits, cheap to make (from a pooled buffer). */
let idPool = Buffer.alloc(0);
let idOffset = 0;
export function requestId(): string {
  if (idOffset + 16 > idPool.length) {
    idPool = randomBytes(16 * 256);
    idOffset = 0;
  }
  idOffset += 16;
  return idPool.toString('hex', idOffset - 16, idOffset);
}

function handle(options: ListenerOptions, req: IncomingMessage, res: ServerResponse): void {
  const id = requestId();
  const server = options.hosts.match(req.headers.host);
  const target = parseTarget(req.method ?? 'GET', req.url ?? '/');
  if (!target.ok) return answer(options.log, res, id, HttpError.BAD_REQUEST, target.reason);
  const location = matchLocation(server, target.path);
  if (!location) return answer(options.log, res, id, HttpError.NO_LOCATION, `no location matches ${target.path}`);
  const contentLength = declaredLength(req);
  const name = serverName(server, req);
  const port = req.socket.localPort ?? hostPort(req.headers.host);
  const params = expandParams(location, {
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
  });
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
    if (err instanceof EnvironError) return answer(options.log, res, id, HttpError.BAD_REQUEST, err.message);
    throw err;
  }
  const group = groupFor(options, location);
  const exchange = new Exchange({ req, res, environ, location, group, requestId: id, log: options.log, contentLength });
  exchange.start().catch((err: unknown) => {
    options.log.error({ err, reqId: id }, 'internal error while relaying');
    if (!res.headersSent) answer(options.log, res, id, HttpError.UPSTREAM_UNREACHABLE, String(err));
    else res.destroy();
  });
}

function expandParams(location: LocationConfig, source: VariableSource): LocationConfig['params'] {
  if (location.params.length === 0) return location.params;
  return location.params.map((p) => ({ name: p.name, value: expand(p.value, source), ifNotEmpty: p.ifNotEmpty }));
}

function groupFor(options: ListenerOptions, location: LocationConfig): UpstreamGroup {
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

/** An answer the proxy gives itself, before any upstream was involved. */
function answer(log: Logger, res: ServerResponse, reqId: string, kind: HttpErrorKind, reason: string): void {
  log.error({ reqId, code: kind.code, status: kind.status, reason }, 'request failed');
  const body = errorBody(kind);
  res.writeHead(kind.status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
  log.info({ reqId, method: res.req.method, uri: res.req.url, status: kind.status, bytes: 0, upstream: '-', code: kind.code }, 'access');
}
