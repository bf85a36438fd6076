import { Worker } from 'node:worker_threads';

/** Streams the watchdog can watch at once; more are left to the master's kill alone. */
const SLOTS = 1024;
/** The main thread marks itself alive this often. */
const ALIVE_MS = 50;

/**
 * Harakiri for a worker whose event loop is blocked (`while (true) {}`): the main thread
 * cannot send anything then, so a thread of its own watches it. The main thread records, in
 * shared memory, that it is alive and which streams are in flight (socket fd, stream id, start);
 * when it has been silent and a stream passes the deadline, the thread writes CANCEL(TIMEOUT)
 * on that stream's socket itself, so the proxy answers 504 before the master kills the worker.
 *
 * Layout (Int32): [0] = main thread's last sign of life (ms since `base`), then per slot
 * [fd + 1 (0 = free), stream id, start (ms since `base`)].
 */
export class Watchdog {
  private readonly cells = new Int32Array(new SharedArrayBuffer(4 * (1 + SLOTS * 3)));
  private readonly base = Date.now();
  private readonly free: number[] = Array.from({ length: SLOTS }, (_, i) => SLOTS - 1 - i);
  private readonly thread: Worker;

  constructor(deadlineMs: number) {
    this.alive();
    this.thread = new Worker(new URL('./watchdog-thread.js', import.meta.url), {
      workerData: { cells: this.cells, base: this.base, deadlineMs, slots: SLOTS, aliveMs: ALIVE_MS },
    });
    this.thread.unref();
    setInterval(() => this.alive(), ALIVE_MS).unref();
  }

  /** A stream started on the socket with file descriptor `fd`; returns its slot (-1: none free). */
  track(fd: number, stream: number): number {
    const slot = this.free.pop();
    if (slot === undefined) return -1;
    const at = 1 + slot * 3;
    Atomics.store(this.cells, at + 1, stream | 0);
    Atomics.store(this.cells, at + 2, Date.now() - this.base);
    Atomics.store(this.cells, at, fd + 1);
    return slot;
  }

  untrack(slot: number): void {
    if (slot < 0) return;
    Atomics.store(this.cells, 1 + slot * 3, 0);
    this.free.push(slot);
  }

  private alive(): void {
    Atomics.store(this.cells, 0, Date.now() - this.base);
  }
}
