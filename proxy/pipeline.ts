/**
 * The order in which the requests pipelined on one connection may start. Node's HTTP server
 * hands every request it parses to the handler at once, so a GET sent after a POST on the same
 * connection could reach the app first (a chunked POST waits a turn before it is dispatched).
 * RFC 9112 §9.3.2 lets a server process pipelined requests in parallel only when they all have
 * safe methods, so here an unsafe request (any method but GET, HEAD, OPTIONS, TRACE) starts only
 * once every earlier response on its connection has finished, and no request after it starts
 * before its own response has finished. Safe requests with no unsafe one between them start at
 * once, in parallel. Node already sends the responses in the order of the requests.
 *
 * A connection that never had an unsafe request costs nothing here. The requests waiting on one
 * connection are bounded: at MAX_WAITING, reading from the connection stops until they start
 * (Node's parser still parses what it already read: at most one more read's worth). The state
 * lives in a WeakMap keyed by the socket and is dropped when the connection closes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** RFC 9110 §9.2.1. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** Requests waiting on one connection before it is read from no more. */
export const MAX_WAITING = 32;

export type Start = (req: IncomingMessage, res: ServerResponse) => void;

interface Waiting {
  req: IncomingMessage;
  res: ServerResponse;
  start: Start;
}

/** Starts `req` now, or once the requests before it on its connection allow it. */
export function admit(req: IncomingMessage, res: ServerResponse, start: Start): void {
  const { socket } = req;
  let order = orders.get(socket);
  if (!order) {
    if (isSafe(req)) return start(req, res);
    orders.set(socket, (order = new ConnectionOrder(socket)));
  }
  order.admit({ req, res, start });
}

function isSafe(req: IncomingMessage): boolean {
  return SAFE_METHODS.has(req.method ?? 'GET');
}

const orders = new WeakMap<Socket, ConnectionOrder>();

/** One connection's requests that must wait, and the unsafe one they wait for. */
class ConnectionOrder {
  /** The last unsafe request started, until its response has finished. */
  private barrier: ServerResponse | null = null;
  private readonly waiting: Waiting[] = [];
  /** The response a 'finish'/'close' or 'socket' listener is on, so none is added twice. */
  private watched: ServerResponse | null = null;
  /** Reading from the socket stopped because too many requests wait. */
  private paused = false;

  constructor(private readonly socket: Socket) {
    socket.once('close', () => {
      // Nothing waiting can be answered any more: let go of it with the connection.
      this.waiting.length = 0;
      this.barrier = null;
      this.watched = null;
    });
  }

  admit(request: Waiting): void {
    this.waiting.push(request);
    if (this.waiting.length === 1) this.pump();
    if (this.waiting.length >= MAX_WAITING && !this.paused) {
      this.paused = true;
      this.socket.pause();
      this.socket.on('resume', this.stayPaused);
    }
  }

  /** Starts what may start now; reads again once few enough requests wait. */
  private pump(): void {
    this.startReady();
    if (this.paused && this.waiting.length < MAX_WAITING) {
      this.paused = false;
      this.socket.removeListener('resume', this.stayPaused);
      this.socket.resume();
    }
  }

  /** Starts the waiting requests that may start now, in order; arms a listener for the next. */
  private startReady(): void {
    while (this.waiting.length > 0) {
      if (this.barrier && !this.barrier.writableFinished) return this.watch(this.barrier, ['finish', 'close']);
      this.barrier = null;
      const next = this.waiting[0]!;
      // Unsafe: every earlier response must have finished. Node gives a response its socket
      // only then (until then it waits in Node's queue of pipelined responses).
      const safe = isSafe(next.req);
      if (!safe && !next.res.socket) return this.watch(next.res, ['socket', 'close']);
      this.waiting.shift();
      if (!safe) this.barrier = next.res;
      next.start(next.req, next.res);
    }
  }

  private watch(res: ServerResponse, events: readonly string[]): void {
    if (this.watched === res) return;
    this.watched = res;
    const next = () => {
      if (this.watched !== res) return;
      this.watched = null;
      for (const event of events) res.removeListener(event, next);
      // Not from inside Node's handler: 'socket' is emitted while Node hands the connection to
      // the next response, which must be done before that response can be written and ended.
      // A response that closed without finishing took its connection with it: 'close' of the
      // socket has emptied the queue by then.
      process.nextTick(() => this.pump());
    };
    for (const event of events) res.once(event, next);
  }

  /**
   * Node resumes the socket on its own (when a response drains, when a request body wants
   * more): while too many requests wait, it stays paused. (The bodies of the waiting requests
   * are complete but the last one's, and nobody reads that one yet.)
   */
  private readonly stayPaused = (): void => {
    if (this.paused) this.socket.pause();
  };
}
