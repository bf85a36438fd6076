/**
 * A first-in, first-out queue whose `next()` waits for an item: event handlers (signals, IPC
 * messages, child exits) only `push`, and one loop takes the items in order and acts, as
 * gunicorn's arbiter does. The proxy's and the runner's signal queues, the runner master's
 * events and a runner worker's stop requests are all this. Pure: no I/O, no timers.
 *
 * It lives in protocol/ although it is not the wire: protocol/ is the one module both the proxy
 * and the runner import (they never import each other), and it already holds their other shared
 * pure helpers (address.ts).
 */
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private readonly waiting: Array<(item: T) => void> = [];

  /** Hands `item` to the oldest waiting `next()`, else keeps it. */
  push(item: T): void {
    const take = this.waiting.shift();
    if (take) take(item);
    else this.items.push(item);
  }

  /** The oldest item, as soon as there is one; each item goes to exactly one caller. */
  next(): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift()!);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  get size(): number {
    return this.items.length;
  }
}
