import { ErrorCode, ProtocolError } from './errors.js';
import { MAX_WINDOW } from './frame.js';

/**
 * Credit-based flow control for one stream and one direction (SPEC.md, "Flow control").
 *
 * The receiver starts the sender with the window it announced in HELLO. The sender spends
 * credit on DATA payload bytes and must stop at zero; the receiver hands credit back with a
 * CREDIT frame only once it has *consumed* the bytes (written them on, or the app read them).
 * So no side ever holds more than one window of a stream's data it did not ask for.
 */

/** The sender's view: how much it may still send. */
export class SendWindow {
  constructor(private available: number) {}

  get credit(): number {
    return this.available;
  }

  /** Spends credit for `n` bytes about to be sent; the caller checked `credit` first. */
  spend(n: number): void {
    this.available -= n;
  }

  /** A CREDIT frame arrived. */
  grant(increment: number, stream: number): void {
    if (increment === 0) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'CREDIT increment of 0', stream);
    if (this.available + increment > MAX_WINDOW) {
      throw new ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, 'CREDIT overflows the window', stream);
    }
    this.available += increment;
  }
}

/** The receiver's view: how much the peer may still send, and what to give back. */
export class ReceiveWindow {
  private pending = 0;
  /** The window the sender is granted in all (grows, see consume). */
  private size: number;
  private threshold: number;

  constructor(
    private remaining: number,
    /** Credit is returned in batches of at least this many bytes, to keep CREDIT frames few. */
    threshold: number,
    /** How far the window may grow for a consumer that keeps up; the initial window by default. */
    private readonly maxSize = remaining,
  ) {
    this.size = remaining;
    // A threshold above the window would never be reached: the sender would wait forever.
    this.threshold = Math.max(1, Math.min(threshold, remaining));
  }

  /** DATA of `n` bytes arrived; more than the window allows is a connection error. */
  receive(n: number): void {
    if (n > this.remaining) {
      throw new ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, `DATA of ${n} bytes exceeds the window of ${this.remaining}`);
    }
    this.remaining -= n;
  }

  /**
   * `n` received bytes were consumed; returns the increment to send now, or 0 to wait.
   * `keepingUp`: the consumer took them as they came (nothing waited for it), so the sender is
   * the slow side and a larger window saves round trips: the window doubles, up to maxSize,
   * and the batches grow with it. A consumer that falls behind stops the growth, and what it
   * can be made to hold stays bounded by maxSize.
   */
  consume(n: number, keepingUp = false): number {
    this.pending += n;
    if (this.pending < this.threshold) return 0;
    let increment = this.pending;
    this.pending = 0;
    if (keepingUp && this.size < this.maxSize) {
      const growth = Math.min(this.size, this.maxSize - this.size);
      this.size += growth;
      increment += growth;
      this.threshold *= 2;
    }
    this.remaining += increment;
    return increment;
  }
}

/**
 * Sends as much of `chunk` as the window allows, in pieces of at most `maxFrame` bytes (views,
 * not copies), spending the credit; returns the part that must wait for more credit.
 */
export function sendWithinCredit(window: SendWindow, chunk: Uint8Array, maxFrame: number, emit: (piece: Uint8Array) => void): Uint8Array {
  while (chunk.length > 0 && window.credit > 0) {
    const size = Math.min(chunk.length, window.credit, maxFrame);
    window.spend(size);
    emit(size === chunk.length ? chunk : chunk.subarray(0, size));
    chunk = chunk.subarray(size);
  }
  return chunk;
}
