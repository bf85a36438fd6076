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
    /** Called with the byte count handed to the app, to return credit. */
    private readonly consumed: (bytes: number) => void,
  ) {
    super({ highWaterMark: 64 * 1024 });
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
    this.flush();
  }

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
      this.consumed(chunk.length);
    }
  }
}
