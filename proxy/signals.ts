/**
 * Signals as a queue: the handlers only record what arrived; the main loop takes them one at a
 * time with `next()` and acts (reload, stop, force).
 */
export class SignalQueue {
  private readonly queue: NodeJS.Signals[] = [];
  private wake: (() => void) | null = null;

  constructor(signals: readonly NodeJS.Signals[]) {
    for (const signal of signals) process.on(signal, () => this.record(signal));
  }

  async next(): Promise<NodeJS.Signals> {
    while (this.queue.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    return this.queue.shift()!;
  }

  private record(signal: NodeJS.Signals): void {
    this.queue.push(signal);
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
