import { Duplex } from 'node:stream';

/**
 * Two connected in-memory Duplex ends, like a socketpair: what one writes, the other reads.
 * (Node 20 has no stream.duplexPair.) Backpressure crosses the pair: a write completes only
 * when the other end's readable buffer accepted it, so a reader that stops holds the writer.
 */
export class PairEnd extends Duplex {
  private peer!: PairEnd;
  /** The callback of a write the peer could not take yet; called when the peer reads again. */
  private blockedWrite: (() => void) | null = null;

  static pair(): [PairEnd, PairEnd] {
    const a = new PairEnd();
    const b = new PairEnd();
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  private constructor() {
    super({ allowHalfOpen: true });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.touch();
    this.peer.touch();
    if (this.peer.destroyed) {
      callback(new Error('the other end of the pair is closed'));
      return;
    }
    if (this.peer.push(chunk)) callback();
    else this.peer.blockedWrite = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    callback();
  }

  override _read(): void {
    const blocked = this.blockedWrite;
    this.blockedWrite = null;
    blocked?.();
  }

  // What code written for a net.Socket calls on req.socket (req.setTimeout(), Express
  // middleware): idle timeouts emit 'timeout' as a socket's do; the TCP options mean nothing here.
  private idleMs = 0;
  private idleTimer: NodeJS.Timeout | null = null;

  setTimeout(ms: number, callback?: () => void): this {
    if (callback) this.once('timeout', callback);
    this.idleMs = ms;
    this.touch();
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  /** Activity restarts the idle timer. */
  private touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = this.idleMs > 0 && !this.destroyed ? setTimeout(() => this.emit('timeout'), this.idleMs).unref() : null;
  }

  /** Closing one end closes the other, as a connection does. */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.blockedWrite = null;
    this.idleMs = 0;
    this.touch();
    if (!this.peer.destroyed) this.peer.destroy();
    callback(error);
  }
}
