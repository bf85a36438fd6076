/**
 * The lane of a listener (connection.ts): it takes every connection the listening socket
 * accepts, serves the common requests itself, and hands the rest to the node:http server it
 * sits in front of, through that server's own connection listener (the documented way to give
 * an HTTP server a socket).
 *
 * Why: node:http spends 19–22 µs of CPU per hello request on this machine; a server on the same
 * parser that writes its answer in one string spends 8.5–10 (test/bench/PROFILE.md, item 34).
 * The proxy's client side is most of what it spends beyond nginx.
 *
 * TSGI_LANE=off in the proxy's environment leaves every connection to node:http.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ClientConfig } from '../config/types.js';
import { LaneConnection, type LaneOwner } from './connection.js';
import { parserBinding, type ParserBinding } from './parser.js';
import type { LaneRequest } from './request.js';
import type { LaneResponse } from './response.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface LaneListener {
  /** The request handler node:http's 'request' event calls. */
  handler: RequestHandler;
  /** The connection limits of the moment (the listener's default server). */
  client(): ClientConfig;
  /** The most a request head may take (large_client_header_buffers), as node:http's parser is set. */
  headBytes(): number;
  /** A new connection sent no request within client_header_timeout. */
  headerTimedOut(socket: Socket): void;
}

export class Lane implements LaneOwner {
  private readonly connections = new Set<LaneConnection>();
  stopping = false;

  private constructor(
    private readonly binding: ParserBinding,
    private readonly server: Server,
    private readonly nodeConnection: (socket: Socket) => void,
    private readonly listener: LaneListener,
  ) {}

  /** Puts a lane in front of `server`, unless Node's parser is out of reach or TSGI_LANE=off. */
  static install(server: Server, listener: LaneListener): Lane | null {
    if (!parserBinding || process.env.TSGI_LANE === 'off') return null;
    const listeners = server.listeners('connection');
    if (listeners.length !== 1) return null;
    const nodeConnection = listeners[0] as (socket: Socket) => void;
    const lane = new Lane(parserBinding, server, nodeConnection, listener);
    server.removeListener('connection', nodeConnection);
    server.on('connection', (socket: Socket) => lane.accept(socket));
    return lane;
  }

  private accept(socket: Socket): void {
    if (this.stopping) return void socket.destroy();
    this.connections.add(new LaneConnection(socket, this, this.binding));
  }

  handle(req: LaneRequest, res: LaneResponse): void {
    // The relay reads of a request and its response only what these two offer (request.ts, response.ts).
    this.listener.handler(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  }

  handOver(socket: Socket, unread: Buffer): void {
    this.nodeConnection.call(this.server, socket);
    // Read again, from the first byte of the request the lane did not serve, then what the
    // stream holds (a connection the lane paused while it answered).
    socket.unshift(unread);
    if (socket.isPaused()) socket.resume();
  }

  headerTimedOut(socket: Socket): void {
    this.listener.headerTimedOut(socket);
  }

  forget(connection: LaneConnection): void {
    this.connections.delete(connection);
  }

  get headerTimeoutMs(): number {
    return this.listener.client().headerTimeoutMs;
  }

  get keepaliveTimeoutMs(): number {
    return this.listener.client().keepaliveTimeoutMs;
  }

  get headBytes(): number {
    return this.listener.headBytes();
  }

  /** A graceful stop: idle connections close now, the others once their answer is written. */
  stop(): void {
    this.stopping = true;
    for (const connection of this.connections) connection.closeIdle();
  }

  /** The stop's grace is over. */
  closeAll(): void {
    for (const connection of this.connections) connection.socket.destroy();
  }
}
