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

  /** Up to `max` bytes from `at`, in a new buffer; the file ending early is an error. */
  async read(at: number, max: number): Promise<Buffer> {
    const piece = Buffer.allocUnsafe(Math.min(max, this.size - at));
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
