import { Readable } from 'node:stream';

/**
 * `environ['wsgi.input']`: the request body as a Node Readable (so also an async iterable).
 *
 * DATA frames land in `queue`; bytes move into the Readable only when the app asks for more
 * (`_read`), and only then is their credit returned to the proxy. So an app that reads slowly
 * holds at most one window plus the Readable's high-water mark, and the upload waits for it.
 */
export class RequestInput extends Readable {
  private readonly queue: Uint8Array[] = [];
  private ended = false;
  private wanted = false;

  constructor(
    /**
     * Called with the byte count handed to the app, to return credit; `keepingUp` when that
     * left nothing queued (the app reads as fast as the bytes come: the proxy is the slow side).
     */
    private readonly consumed: (bytes: number, keepingUp: boolean) => void,
  ) {
    // One chunk at a time in the Readable's own buffer: with several there, read() — and so
    // for-await, which calls it — concatenates them into a new Buffer, a copy of every upload
    // byte (5-7 % of the runner's CPU on a 64 MiB upload). The queue above holds the rest.
    super({ highWaterMark: 1 });
  }

  /** A DATA payload arrived from the proxy. */
  deliver(chunk: Uint8Array): void {
    if (chunk.length > 0) this.queue.push(chunk);
    if (this.wanted) this.flush();
  }

  /** The request half ended (END_STREAM). */
  finish(): void {
    this.ended = true;
    if (this.wanted) this.flush();
  }

  override _read(): void {
    this.wanted = true;
    // Not within read(): what _read pushes at once, read() hands out together with what it
    // was already returning — concatenated into a new Buffer.
    if (this.flushing) return;
    this.flushing = true;
    queueMicrotask(this.flushSoon);
  }

  private flushing = false;
  private readonly flushSoon = (): void => {
    this.flushing = false;
    this.flush();
  };

  private flush(): void {
    while (this.wanted) {
      const chunk = this.queue.shift();
      if (chunk === undefined) {
        if (this.ended) {
          this.wanted = false;
          this.push(null);
        }
        return;
      }
      this.wanted = this.push(chunk);
      this.consumed(chunk.length, this.queue.length === 0);
    }
  }
}
