import { METHODS } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Address } from '../protocol/index.js';
import { dispatch, type DispatchOptions } from './dispatch.js';

export interface ListenerOptions extends DispatchOptions {
  address: Address;
}

/**
 * One listening address (fastify instance) and the virtual hosts behind it. fastify accepts
 * HTTP and rejects what its parser cannot read; every request is then routed by our own
 * server_name/location rules and relayed with the raw Node request and response, so bodies
 * stream both ways without fastify buffering or re-encoding them.
 */
export class Listener {
  private closing = false;
  /** Swapped whole by a reload: requests already dispatched keep the routes they started with. */
  private routes: DispatchOptions;

  private constructor(
    private readonly app: FastifyInstance,
    options: ListenerOptions,
  ) {
    this.routes = options;
  }

  static async start(options: ListenerOptions): Promise<Listener> {
    let listener: Listener | null = null;
    const handler = (request: FastifyRequest, reply: FastifyReply) => {
      reply.hijack();
      // While stopping, answer what is in flight but let no connection live on after it.
      if (listener!.closing) reply.raw.shouldKeepAlive = false;
      dispatch(listener!.routes, request.raw, reply.raw);
    };
    const app = createApp(handler);
    listener = new Listener(app, options);
    if (options.address.kind === 'unix') await app.listen({ path: options.address.path });
    // `[::]:80` beside `80` must not take the IPv4 side too (nginx's ipv6only=on).
    else await app.listen({ host: options.address.host, port: options.address.port, ipv6Only: options.address.host === '::' });
    return listener;
  }

  /**
   * The key of the address actually bound: `127.0.0.1:0` in a config becomes the port the OS
   * chose, so a reloaded config naming that port finds this listener.
   */
  boundKey(configured: string): string {
    const bound = this.app.addresses()[0];
    if (!bound || typeof bound === 'string' || !configured.endsWith(':0')) return configured;
    return `${configured.slice(0, -2)}:${bound.port}`;
  }

  /** New virtual hosts and upstream groups for the requests that arrive from now on. */
  reroute(routes: DispatchOptions): void {
    this.routes = routes;
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

/**
 * fastify set up to hand every request to `handler` untouched: every method Node's parser
 * accepts, every path (even one fastify's router finds malformed — our own rules answer it),
 * and the body left unread for the relay to stream.
 */
function createApp(handler: (request: FastifyRequest, reply: FastifyReply) => void): FastifyInstance {
  const app = Fastify({
    logger: false,
    // Requests that reach us while stopping are still relayed (fastify's 503 would refuse them).
    return503OnClosing: false,
    requestIdHeader: false,
    // Keep fastify out of the body: the content-type parser below leaves the stream unread.
    bodyLimit: Number.MAX_SAFE_INTEGER,
    frameworkErrors: (_error, request, reply) => handler(request, reply),
  });
  for (const method of METHODS) {
    if (!app.supportedMethods.includes(method)) app.addHttpMethod(method, { hasBody: true });
  }
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
  app.all('*', handler);
  app.setNotFoundHandler(handler);
  return app;
}
