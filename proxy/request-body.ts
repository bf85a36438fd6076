/**
 * A request body read whole from the client before its request goes to a runner
 * (tsgi_request_buffering on, nginx's proxy_request_buffering): a slow uploader then costs the
 * proxy a socket and some bytes, never an app worker, and a failed try can be sent again.
 *
 * The first client_body_buffer_size bytes stay in memory; past that, the body goes to a file
 * under client_body_temp_path (temp-file.ts: gone from the directory from the start). When
 * the file cannot be created or written (a missing or read-only directory, a full disk), the
 * body falls back to streaming: what was read so far goes first, the rest follows from the
 * client with flow control — a slower path, never a lost or truncated body.
 */
import type { IncomingMessage } from 'node:http';
import { Spool } from './temp-file.js';
import { bodyBytesRead } from './young-gc.js';

export interface BodyBuffering {
  /** Bytes held in memory before spilling to a file. */
  memoryBytes: number;
  tempDir: string;
  /** client_max_body_size, 0 for no limit. */
  maxBytes: number;
}

/** How reading the body ended. */
export type Collected =
  | { kind: 'complete' }
  | { kind: 'too-large' }
  /** The rest of the body must be streamed from the client (the temporary file failed). */
  | { kind: 'streaming'; reason: string }
  | { kind: 'gone' };

/** Pieces read back from the file: the size of the proxy's frames to runners. */
const FILE_PIECE = 256 * 1024;
/** Unwritten bytes at which the client is paused, and at which it is read again. */
const QUEUE_HIGH = 1024 * 1024;
const QUEUE_LOW = 256 * 1024;

export class BufferedBody {
  /** Every byte read from the client so far. */
  size = 0;
  /** The whole body is here (memory and file): it can be sent again for a retry. */
  complete = false;
  /** The client's body ended (even if, streaming, not all of it is held here). */
  ended = false;
  private memory: Buffer[] = [];
  private memorySize = 0;
  /** The temporary file, made when the body outgrows memory. */
  private spool: Spool | null = null;
  /** Read but not in the file, when writing it failed: sent after the file's bytes. */
  private tail: Buffer[] = [];
  private closed = false;
  private failure: Error | null = null;

  constructor(private readonly settings: BodyBuffering) {}

  /** The temporary file failed: the rest follows from the client (see Collected 'streaming'). */
  get streaming(): boolean {
    return this.failure !== null;
  }

  /** True once the body spilled to a temporary file (for tests and logs). */
  get onDisk(): boolean {
    return this.spool?.file != null;
  }

  /** Reads the client's body; `progress` is called for each chunk (the client_body_timeout). */
  collect(req: IncomingMessage, progress: () => void): Promise<Collected> {
    return new Promise((resolve) => {
      let paused = false;
      const stop = (outcome: Collected) => {
        req.removeListener('data', onData);
        req.removeListener('end', onEnd);
        req.removeListener('close', onClose);
        // Streaming from here on: nothing may be read before the relay takes over.
        if (outcome.kind === 'streaming') req.pause();
        resolve(outcome);
      };
      const finish = () => {
        if (this.failure) return stop({ kind: 'streaming', reason: this.failure.message });
        if (this.ended) {
          this.complete = true;
          return stop({ kind: 'complete' });
        }
        if (this.closed) return stop({ kind: 'gone' });
      };
      // The file is written while the client goes on sending; only a backlog pauses it.
      const spool = () =>
        (this.spool ??= new Spool(this.settings.tempDir, 'tsgi-body', {
          written: () => {
            if (paused && this.spool!.queuedBytes <= QUEUE_LOW) {
              paused = false;
              req.resume();
            }
          },
          failed: (err, unwritten) => {
            // Whatever is not in the file goes after it, in order.
            this.failure = err;
            this.tail.push(...unwritten);
            finish();
          },
          idle: finish,
        }));
      const onData = (chunk: Buffer) => {
        this.size += chunk.length;
        bodyBytesRead(chunk.length);
        progress();
        if (this.settings.maxBytes > 0 && this.size > this.settings.maxBytes) return stop({ kind: 'too-large' });
        if (this.failure) return void this.tail.push(chunk);
        if (!this.spool && this.memorySize + chunk.length <= this.settings.memoryBytes) {
          this.memory.push(chunk);
          this.memorySize += chunk.length;
          return;
        }
        if (this.spool) this.spool.push(chunk);
        else {
          // The first chunk past memory takes the memory part to the file, ahead of it.
          spool().push(...this.memory, chunk);
          this.memory = [];
          this.memorySize = 0;
        }
        if (this.spool!.queuedBytes > QUEUE_HIGH && !paused) {
          paused = true;
          req.pause();
        }
      };
      // 'end' may come while the last chunks are still being written (Node even ends a paused
      // request after its last chunk): the body is complete once they are in the file.
      const onEnd = () => {
        this.ended = true;
        if (!this.spool?.writing) finish();
      };
      const onClose = () => {
        if (!req.readableEnded) stop({ kind: 'gone' });
      };
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('close', onClose);
    });
  }

  /** The body held, in order: the file's bytes (read back in pieces), then what stayed in memory. */
  async *pieces(): AsyncGenerator<Uint8Array> {
    const file = this.spool?.file;
    if (file) {
      for (let at = 0; at < file.size; ) {
        const piece = await file.read(at, FILE_PIECE);
        at += piece.length;
        yield piece;
      }
    }
    yield* this.memory;
    yield* this.tail;
  }

  /** Frees the memory and closes the file (which the system then removes). */
  async close(): Promise<void> {
    this.closed = true;
    this.memory = [];
    this.tail = [];
    await this.spool?.close();
  }
}
