/**
 * A request body read whole from the client before its request goes to a runner
 * (tsgi_request_buffering on, nginx's proxy_request_buffering): a slow uploader then costs the
 * proxy a socket and some bytes, never an app worker, and a failed try can be sent again.
 *
 * The first client_body_buffer_size bytes stay in memory; past that, the body goes to a file
 * under client_body_temp_path that is unlinked the moment it is created, so only our open
 * descriptor keeps it: it vanishes when closed, and with the process (even on SIGKILL). When
 * the file cannot be created or written (a missing or read-only directory, a full disk), the
 * body falls back to streaming: what was read so far goes first, the rest follows from the
 * client with flow control — a slower path, never a lost or truncated body.
 */
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { open, unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';

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

export class BufferedBody {
  /** Every byte read from the client so far. */
  size = 0;
  /** The whole body is here (memory and file): it can be sent again for a retry. */
  complete = false;
  /** The rest follows from the client (see Collected 'streaming'). */
  streaming = false;
  /** The client's body ended (even if, streaming, not all of it is held here). */
  ended = false;
  private memory: Buffer[] = [];
  private memorySize = 0;
  private file: FileHandle | null = null;
  private fileSize = 0;
  /** Read but not in the file, when writing it failed: sent after the file's bytes. */
  private tail: Buffer[] = [];
  private closed = false;

  constructor(private readonly settings: BodyBuffering) {}

  /** True once the body spilled to a temporary file (for tests and logs). */
  get onDisk(): boolean {
    return this.file !== null;
  }

  /** Reads the client's body; `progress` is called for each chunk (the client_body_timeout). */
  collect(req: IncomingMessage, progress: () => void): Promise<Collected> {
    return new Promise((resolve) => {
      /** The chunk being written to the file, if any: 'end' waits for it. */
      let spilling: Promise<void> | null = null;
      const stop = (outcome: Collected) => {
        req.removeListener('data', onData);
        req.removeListener('end', onEnd);
        req.removeListener('close', onClose);
        resolve(outcome);
      };
      const onData = (chunk: Buffer) => {
        this.size += chunk.length;
        progress();
        if (this.settings.maxBytes > 0 && this.size > this.settings.maxBytes) return stop({ kind: 'too-large' });
        if (this.file === null && this.memorySize + chunk.length <= this.settings.memoryBytes) {
          this.memory.push(chunk);
          this.memorySize += chunk.length;
          return;
        }
        // Nothing more is read until the chunk is on disk: the client waits on TCP meanwhile.
        req.pause();
        spilling = this.spill(chunk).then(
          () => {
            spilling = null;
            if (this.closed) stop({ kind: 'gone' });
            else req.resume();
          },
          (err: Error) => {
            spilling = null;
            this.streaming = true;
            stop({ kind: 'streaming', reason: err.message });
          },
        );
      };
      // 'end' may come while paused (Node's read(0) after the last chunk ends the stream): the
      // body is complete only once that last chunk is in the file.
      const onEnd = () => {
        this.ended = true;
        const done = () => {
          if (this.streaming) return;
          this.complete = true;
          stop({ kind: 'complete' });
        };
        if (spilling) void spilling.then(done);
        else done();
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
    if (this.file) {
      for (let at = 0; at < this.fileSize; ) {
        const piece = Buffer.allocUnsafe(Math.min(FILE_PIECE, this.fileSize - at));
        const { bytesRead } = await this.file.read(piece, 0, piece.length, at);
        if (bytesRead === 0) throw new Error(`temporary body file ended at ${at} of ${this.fileSize} bytes`);
        at += bytesRead;
        yield piece.subarray(0, bytesRead);
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
    const file = this.file;
    this.file = null;
    await file?.close().catch(() => undefined);
  }

  /** Moves the memory part and `chunk` into the file (created on first use); on failure into `tail`. */
  private async spill(chunk: Buffer): Promise<void> {
    const pending = [...this.memory, chunk];
    this.memory = [];
    this.memorySize = 0;
    try {
      this.file ??= await createUnlinked(this.settings.tempDir);
      if (this.closed) return;
      let bytes = 0;
      for (const piece of pending) bytes += piece.length;
      const { bytesWritten } = await this.file.writev(pending, this.fileSize);
      if (bytesWritten !== bytes) throw new Error(`temporary body file took ${bytesWritten} of ${bytes} bytes`);
      this.fileSize += bytes;
    } catch (err) {
      // Whatever is not in the file goes after it, in order.
      this.tail.push(...pending);
      throw err;
    }
  }
}

/** A new file in `dir`, open for reading and writing, already gone from the directory. */
async function createUnlinked(dir: string): Promise<FileHandle> {
  const path = join(dir, `tsgi-body-${randomBytes(8).toString('hex')}`);
  const file = await open(path, 'wx+', 0o600);
  await unlink(path).catch(async (err: Error) => {
    await file.close();
    throw err;
  });
  return file;
}
