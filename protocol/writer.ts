import { encodeCredit, encodeFrame, encodeHeader, type FrameType } from './frame.js';

/** What the writer needs from a socket (a net.Socket fits); kept abstract so protocol/ stays pure. */
export interface ByteSink {
  write(bytes: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
  readonly destroyed: boolean;
}

/** Above this a payload is written after its header instead of being copied into one buffer. */
const COPY_LIMIT = 16 * 1024;

/**
 * Writes frames to a socket, coalescing everything written during one turn of the event loop
 * into a single writev: the first frame corks the socket and `defer` (setImmediate) uncorks it
 * once the turn's promise chains have run. A response's RESPONSE, DATA and END frames, or many
 * streams' frames, then cost one system call instead of one each.
 */
export class FrameWriter {
  private corked = false;

  constructor(
    private readonly sink: ByteSink,
    private readonly defer: (fn: () => void) => void,
  ) {}

  frame(type: FrameType, flags: number, stream: number, payload: Uint8Array): void {
    if (!this.begin()) return;
    if (payload.length <= COPY_LIMIT) {
      this.sink.write(encodeFrame(type, flags, stream, payload));
    } else {
      this.sink.write(encodeHeader(type, flags, stream, payload.length));
      this.sink.write(payload);
    }
  }

  credit(stream: number, increment: number): void {
    if (this.begin()) this.sink.write(encodeCredit(stream, increment));
  }

  private begin(): boolean {
    if (this.sink.destroyed) return false;
    if (!this.corked) {
      this.corked = true;
      this.sink.cork();
      this.defer(this.flush);
    }
    return true;
  }

  private readonly flush = (): void => {
    this.corked = false;
    if (!this.sink.destroyed) this.sink.uncork();
  };
}
