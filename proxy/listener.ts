import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, ListenOptions, Server as NetServer, Socket } from 'node:net';
import { answerClientError, answeredOn, refuseConnect } from './client-error.js';
import type { ClientConfig } from './config/types.js';
import { formatAddress } from '../protocol/index.js';
import { BindError, systemReason } from './errors.js';
import { dispatch, type DispatchOptions } from './dispatch.js';
import { Lane } from './lane/lane.js';
import { closeCopies, copyListeningSocket } from './multi-accept.js';
import { admit } from './pipeline.js';
import type { Binding } from './router.js';

export interface ListenerRoutes extends DispatchOptions {
  /** The address to bind, and the virtual hosts for each local address a connection comes to. */
  binding: Binding;
}

/**
 * One listening address (a Node HTTP server) and the virtual hosts behind it. Every request goes
 * from Node's parser straight to our own server_name/location rules and is relayed with the raw
 * Node request and response, so bodies stream both ways without being buffered or re-encoded.
 *
 * fastify used to own the server's life (listen, close, the client-error hook) around this same
 * server, its router and request objects bypassed for speed. Loading it cost the proxy ~14 MiB
 * resident (135 modules, no request ever reaching them) of the 80 MiB it is allowed under load,
 * for what Node's server does itself: test/bench/PROFILE.md, "fastify's memory".
 */
export class Listener {
  private closing = false;
  /** Serves the common requests before node:http's server sees them (lane/lane.ts); null when off. */
  private lane: Lane | null = null;
  /** Swapped whole by a reload: requests already dispatched keep the routes they started with. */
  private routes: ListenerRoutes;
  /** More descriptors of the listening socket, each accepting once per turn too (multi-accept.ts). */
  private copies: NetServer[] = [];

  private constructor(
    private readonly server: Server,
    routes: ListenerRoutes,
  ) {
    this.routes = routes;
  }

  static async start(routes: ListenerRoutes, { multiAccept }: { multiAccept: boolean }): Promise<Listener> {
    let listener: Listener | null = null;
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      const { routes } = listener!;
      // Node closes the connection once the answer that said `Connection: close` is written:
      // a request pipelined after it would never be answered, so the app does not get it.
      if (listener!.lastTaken.has(req.socket)) return void req.resume();
      // A wildcard socket also serves the specific addresses of its port (router.ts, bindings).
      const hosts = routes.binding.hosts(req.socket.localAddress);
      // While stopping, answer what is in flight but let no connection live on after it;
      // keepalive_timeout 0 means no keep-alive at all (Node would read 0 as "no timeout").
      if (listener!.closing || !listener!.keepAlive(req.socket, hosts.fallback.client)) {
        res.shouldKeepAlive = false;
        listener!.lastTaken.add(req.socket);
      }
      // Pipelined requests after an unsafe one wait for its answer (pipeline.ts).
      admit(req, res, listener!.start);
    };
    const server = createHttpServer(handler, routes.binding.own.fallback.client);
    listener = new Listener(server, routes);
    listener.lane = Lane.install(server, {
      handler,
      client: () => listener!.client,
      headBytes: () => headBytes(listener!.client),
      headerTimedOut: (socket) => answerClientError(listener!.routes.log, listener!.client, requestTimeout(), socket),
    });
    server.on('clientError', (err: Error, socket: Socket) => answerClientError(listener!.routes.log, listener!.client, err, socket));
    server.on('connect', (_req: unknown, socket: Socket) => refuseConnect(listener!.routes.log, listener!.client, socket));
    const { address } = routes.binding;
    // `[::]:80` beside `80` must not take the IPv4 side too (nginx's ipv6only=on).
    const at: ListenOptions =
      address.kind === 'unix' ? { path: address.path } : { host: address.host, port: address.port, ipv6Only: address.host === '::' };
    try {
      await listen(server, at);
    } catch (err) {
      // Leaves nothing behind whichever Node made it: before 20.5 the server's
      // connection-checking timer started when it was made, and only close stops it.
      server.close();
      throw new BindError(formatAddress(address), err as NodeJS.ErrnoException);
    }
    // Named as bound: a config's port 0 is logged as the port the system chose.
    const label = listener.addresses().map(boundLabel)[0] ?? formatAddress(address);
    const onError = acceptFailures(() => listener!.routes.log, label);
    server.on('error', onError);
    if (multiAccept) {
      const failed = (reason: string) => listener!.routes.log.warn({ listen: label, reason }, 'multi_accept: no copies of the listening socket; one accept per turn');
      listener.copies = await copyListeningSocket({ server, onError }, failed);
    }
    return listener;
  }

  /**
   * The key of the address actually bound: `127.0.0.1:0` in a config becomes the port the OS
   * chose, so a reloaded config naming that port finds this listener.
   */
  boundKey(configured: string): string {
    const bound = this.server.address();
    if (!bound || typeof bound === 'string' || !configured.endsWith(':0')) return configured;
    return `${configured.slice(0, -2)}:${bound.port}`;
  }

  /**
   * New virtual hosts and upstream groups for the requests that arrive from now on, and the
   * new default server's connection limits for the connections that open from now on.
   */
  reroute(routes: ListenerRoutes): void {
    this.routes = routes;
    applyLimits(this.server, routes.binding.own.fallback.client);
  }

  /**
   * Relays a request once pipeline.ts lets it start, on the routes in force by then. None that
   * could not be answered: pipelined after an answer that closes the connection, or on one
   * Node has begun to end (the client closed its side). Its body is dropped.
   */
  private readonly start = (req: IncomingMessage, res: ServerResponse): void => {
    if (answeredOn(req.socket) || !req.socket.writable) return void req.resume();
    const { routes } = this;
    dispatch(routes, routes.binding.hosts(req.socket.localAddress), req, res);
  };

  /** Requests served per connection, for keepalive_requests. */
  private readonly served = new WeakMap<Socket, number>();
  /** Connections whose last request has come (its answer says `Connection: close`). */
  private readonly lastTaken = new WeakSet<Socket>();

  /**
   * May the connection stay open after this request? Not with keepalive_timeout 0 (which
   * Node would read as "no timeout"), nor after keepalive_requests. Counted here because
   * Node's maxRequestsPerSocket says `Connection: close` but leaves the socket open until
   * the idle timeout, and answers 503 to pipelined requests beyond it where nginx just closes.
   */
  private keepAlive(socket: Socket, client: ClientConfig): boolean {
    const count = (this.served.get(socket) ?? 0) + 1;
    this.served.set(socket, count);
    return client.keepaliveTimeoutMs > 0 && count < client.keepaliveRequests;
  }

  /**
   * The limits Node applies to the whole listening socket (head size and time, idle timeout):
   * those of the default server of the bound address.
   */
  get client(): ClientConfig {
    return this.routes.binding.own.fallback.client;
  }

  /** Bound addresses, port 0 resolved (none once closed). */
  addresses(): (AddressInfo | string)[] {
    const bound = this.server.address();
    return bound === null ? [] : [bound];
  }

  /**
   * Graceful stop: no new connections; idle keep-alive connections closed as soon as they are
   * idle (a request in flight finishes first); after `graceMs` whatever is left is cut.
   */
  async stop(graceMs: number): Promise<void> {
    this.closing = true;
    const { server } = this;
    // close() ends the idle connections of this moment itself (Node 19 and later); the reaper
    // ends the busy ones as their answers finish.
    const reaper = setInterval(() => server.closeIdleConnections(), 50);
    const deadline = setTimeout(() => {
      server.closeAllConnections();
      this.lane?.closeAll();
    }, graceMs);
    this.lane?.stop();
    try {
      // The copies too: the socket listens until its last descriptor is closed, and each
      // server's close waits for the connections that server accepted.
      await Promise.all([new Promise<void>((resolve) => server.close(() => resolve())), closeCopies(this.copies)]);
    } finally {
      clearInterval(reaper);
      clearTimeout(deadline);
    }
  }
}

/** How logs name an address as bound: `unix:PATH`, or HOST:PORT with the port the system chose for port 0. */
export function boundLabel(bound: AddressInfo | string): string {
  return typeof bound === 'string' ? `unix:${bound}` : formatAddress({ kind: 'tcp', host: bound.address, port: bound.port });
}

/** At most one log line per this many ms for a listener's failing accept(). */
const ACCEPT_FAILURE_LOG_MS = 1000;

/**
 * Once bound, a server's errors are accept()'s. At the descriptor limit libuv closes the
 * connections that wait (it keeps a spare descriptor for that) and says nothing; when it
 * cannot (no spare) or accept() fails otherwise (ENFILE, ENOMEM…), Node emits 'error', which,
 * unheard, would throw and end the proxy with every request it holds. Logged instead, as nginx
 * logs "accept() failed (24: Too many open files)" and serves on: one line per `everyMs` at
 * most, with how many failed since the last.
 */
export function acceptFailures(
  log: () => Pick<ListenerRoutes['log'], 'error'>,
  address: string,
  everyMs = ACCEPT_FAILURE_LOG_MS,
): (err: NodeJS.ErrnoException) => void {
  let lastAt = -Infinity;
  let failed = 0;
  return (err) => {
    failed++;
    const now = performance.now();
    if (now - lastAt < everyMs) return;
    lastAt = now;
    log().error({ listen: address, code: err.code, failed }, `accept() failed (${err.code ?? 'error'}: ${systemReason(err)})`);
    failed = 0;
  };
}

/** What node:http's parser reports when a head does not come within headersTimeout. */
function requestTimeout(): Error {
  return Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
}

/** Binds `server`; rejects with the bind's own error (EADDRINUSE, EACCES…). */
function listen(server: Server, at: ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (err: Error) => {
      server.off('listening', bound);
      reject(err);
    };
    const bound = () => {
      server.off('error', failed);
      resolve();
    };
    server.once('error', failed);
    server.once('listening', bound);
    server.listen(at);
  });
}

/**
 * Node's HTTP server with every option that decides what a hostile client can do set here,
 * not left to defaults: the strict parser (never insecureHTTPParser), the head bounded by
 * large_client_header_buffers, client_header_timeout for the whole head (Node's
 * headersTimeout, checked every `checkEveryMs`), no whole-request timeout (client_body_timeout
 * bounds each read of the body instead), and the Host check made by us (Node's own would
 * answer 400 without a log line).
 */
function createHttpServer(listener: (req: IncomingMessage, res: ServerResponse) => void, client: ClientConfig): Server {
  const checkEveryMs = Math.min(1000, Math.max(100, Math.floor(client.headerTimeoutMs / 4)));
  const server = createServer(
    {
      insecureHTTPParser: false,
      requireHostHeader: false,
      joinDuplicateHeaders: false,
      maxHeaderSize: headBytes(client),
      headersTimeout: client.headerTimeoutMs,
      requestTimeout: 0,
      connectionsCheckingInterval: checkEveryMs,
    },
    listener,
  );
  applyLimits(server, client);
  return server;
}

/** The limits Node reads per connection (or per check): a reload changes them in place. */
function applyLimits(server: Server, client: ClientConfig): void {
  // Read by Node for each new connection, though @types/node does not declare it.
  (server as Server & { maxHeaderSize: number }).maxHeaderSize = headBytes(client);
  server.headersTimeout = client.headerTimeoutMs;
  server.requestTimeout = 0;
  server.keepAliveTimeout = client.keepaliveTimeoutMs;
  server.maxRequestsPerSocket = 0; // see Listener.keepAlive
  // Node drops header lines beyond maxHeadersCount without a word; one more than allowed
  // lets request-head.ts see that there were too many and refuse.
  server.maxHeadersCount = client.maxHeaders + 1;
}

function headBytes(client: ClientConfig): number {
  return client.headerBuffers.number * client.headerBuffers.size;
}
