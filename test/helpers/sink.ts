/**
 * An in-memory ResponseSink for the runner's unit tests: records what the contract sends;
 * with `credit = false` each write waits for grant(), and cancel() plays the proxy leaving.
 */
import type { Header } from '../../runner/apps/app.js';
import type { AppLog, ResponseSink } from '../../runner/apps/contract.js';

/** A sink that records what the contract sends; with `credit = false` writes wait for grant(). */
export class Sink implements ResponseSink {
  head: { status: number; reason: string; headers: Header[]; end: boolean } | null = null;
  readonly chunks: Buffer[] = [];
  ended = false;
  aborted: string | null = null;
  cancelled = false;
  credit = true;
  private readonly waiting: Array<() => void> = [];
  private onCancelled!: () => void;
  readonly whenCancelled = new Promise<void>((resolve) => (this.onCancelled = resolve));

  sendHead(status: number, reason: string, headers: Header[], end: boolean): void {
    this.head = { status, reason, headers, end };
    if (end) this.ended = true;
  }

  write(chunk: Uint8Array): Promise<void> | undefined {
    this.chunks.push(Buffer.from(chunk));
    if (this.credit) return undefined;
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  end(): void {
    this.ended = true;
  }

  abort(reason: string): void {
    this.aborted = reason;
  }

  grant(): void {
    this.waiting.shift()?.();
  }

  cancel(): void {
    this.cancelled = true;
    this.onCancelled();
    for (const resolve of this.waiting.splice(0)) resolve();
  }

  get body(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export class Log implements AppLog {
  readonly errors: Array<{ details: object; message: string }> = [];
  error(details: object, message: string): void {
    this.errors.push({ details, message });
  }
}
