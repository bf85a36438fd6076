import { AsyncQueue } from '../../protocol/queue.js';

/**
 * Signals as a queue: the handlers only record what arrived (nothing else is safe or sensible
 * inside them); the main loop takes them one
 * at a time with `next()` and acts.
 */
export class SignalQueue extends AsyncQueue<NodeJS.Signals> {
  constructor(signals: readonly NodeJS.Signals[]) {
    super();
    for (const signal of signals) process.on(signal, () => this.push(signal));
  }
}
