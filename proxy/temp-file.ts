/**
 * The temporary files of buffered bodies (client_body_temp_path, tsgi_temp_path): each is
 * removed from its directory the moment it is created, so only the proxy's open descriptor
 * holds it. It vanishes when closed, and with the process, even on SIGKILL: a restart never
 * finds files left behind.
 */
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { bodyBytesRead } from './young-gc.js';

/** An append-only file read back at any offset. */
export class TempFile {
  /** Bytes written so far. */
  size = 0;

  private constructor(private readonly handle: FileHandle) {}

  /** A new file in `dir`, open for reading and writing, already gone from the directory. */
  static async create(dir: string, prefix: string): Promise<TempFile> {
    const path = join(dir, `${prefix}-${randomBytes(8).toString('hex')}`);
    const handle = await open(path, 'wx+', 0o600);
    await unlink(path).catch(async (err: Error) => {
      await handle.close();
      throw err;
    });
    return new TempFile(handle);
  }

  /** Appends the chunks in one write; a short write (a full disk, a file size limit) is an error. */
  async append(chunks: Uint8Array[], bytes: number): Promise<void> {
    const { bytesWritten } = await this.handle.writev(chunks, this.size);
    if (bytesWritten !== bytes) throw new Error(`temporary file took ${bytesWritten} of ${bytes} bytes`);
    this.size += bytes;
  }

  /**
   * Up to `max` bytes from `at`, in a new buffer; the file ending early is an error. The buffer
   * is counted for a young collection (young-gc.ts): a body read back from its file is as much
   * short-lived memory outside the heap as the same body read from a socket.
   */
  async read(at: number, max: number): Promise<Buffer> {
    const piece = Buffer.allocUnsafe(Math.min(max, this.size - at));
    bodyBytesRead(piece.length);
    const { bytesRead } = await this.handle.read(piece, 0, piece.length, at);
    if (bytesRead === 0) throw new Error(`temporary file ended at ${at} of ${this.size} bytes`);
    return piece.subarray(0, bytesRead);
  }

  /** Starts over at offset 0: what was written is no longer needed. */
  reset(): void {
    this.size = 0;
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/** What a Spool tells its owner. */
export interface SpoolEvents {
  /** A batch of `bytes` is in the file. */
  written(bytes: number): void;
  /** The file could not be made or written: `unwritten`, in order, never reached it. Nothing more is written. */
  failed(err: Error, unwritten: Buffer[]): void;
  /** Writing stopped: everything queued is in the file, or the spool was closed. */
  idle(): void;
}

/**
 * Chunks appended to a temporary file made at the first write, while their source goes on:
 * what arrives during one write goes in the next, as one batch. Shared by the buffered request
 * and response bodies.
 */
export class Spool {
  file: TempFile | null = null;
  /** Bytes queued and not yet in the file. */
  queuedBytes = 0;
  private queued: Buffer[] = [];
  private running = false;
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly prefix: string,
    private readonly events: SpoolEvents,
  ) {}

  /** A batch is being written (or the file made). */
  get writing(): boolean {
    return this.running;
  }

  /** Queues chunks the caller no longer changes; those pushed together are written together. */
  push(...chunks: Buffer[]): void {
    for (const chunk of chunks) {
      this.queued.push(chunk);
      this.queuedBytes += chunk.length;
    }
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.queued.length > 0 && !this.closed) {
      const batch = this.queued;
      const bytes = this.queuedBytes;
      this.queued = [];
      this.queuedBytes = 0;
      try {
        if (!this.file) {
          const file = await TempFile.create(this.dir, this.prefix);
          // Closed while the file was being made: close() found nothing to close.
          if (this.closed) {
            await file.close();
            break;
          }
          this.file = file;
        }
        await this.file.append(batch, bytes);
      } catch (err) {
        // An owner that closed the spool meanwhile wants none of it: it hears only idle.
        if (this.closed) break;
        const unwritten = [...batch, ...this.queued];
        this.queued = [];
        this.queuedBytes = 0;
        // Nothing more is written; the file keeps what was, for reading back.
        this.closed = true;
        this.running = false;
        return this.events.failed(err as Error, unwritten);
      }
      if (!this.closed) this.events.written(bytes);
    }
    this.running = false;
    this.events.idle();
  }

  /** Drops what is queued and closes the file (which the system then removes). */
  async close(): Promise<void> {
    this.closed = true;
    this.queued = [];
    this.queuedBytes = 0;
    const file = this.file;
    this.file = null;
    // FileHandle.close waits for a write or read in flight.
    await file?.close();
  }
}
