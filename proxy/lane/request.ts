/**
 * A request the lane serves: GET or HEAD over HTTP/1.1, its head whole, no body (connection.ts
 * takes no other). It offers what the relay reads of node:http's IncomingMessage: the head,
 * the socket, and a body stream that is empty — 'end' once something reads it, as Node's.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { HeaderMap } from './headers.js';

export class LaneRequest extends EventEmitter {
  readonly httpVersion = '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  /** The parser has the whole request (there is no body to wait for). */
  readonly complete = true;
  /** 'end' was emitted. */
  readableEnded = false;
  private ending = false;

  constructor(
    readonly method: string,
    readonly url: string,
    readonly rawHeaders: string[],
    readonly headers: HeaderMap,
    readonly socket: Socket,
  ) {
    super();
  }

  /** A 'data' listener starts the flow, as on a Node stream. */
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    super.on(event, listener);
    if (event === 'data') this.resume();
    return this;
  }

  resume(): this {
    if (!this.ending) {
      this.ending = true;
      process.nextTick(() => {
        this.readableEnded = true;
        this.emit('end');
      });
    }
    return this;
  }

  pause(): this {
    return this;
  }
}
