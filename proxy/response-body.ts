/**
 * A response body on its way from a runner to the client, and when the runner may send more.
 *
 * Streaming (tsgi_buffering off): the runner gets credit for bytes only once the client socket
 * took them, so a slow client holds the app's thread for as long as it reads.
 *
 * Buffered (tsgi_buffering on, nginx's proxy_buffering): the proxy takes the response off the
 * runner as fast as it is produced and feeds the client at the client's pace. Up to
 * `memoryBytes` may wait in memory on the client socket; past that, the bytes go to a temporary
 * file under tsgi_temp_path (temp-file.ts) and reach the client from there, in order; once
 * the file holds `maxFileBytes`, the runner is held back as when streaming until the client has
 * caught up and the file can start over. A
 * file that cannot be created or written also falls back to holding the runner back, with the
 * bytes that missed the file sent from memory after the file's: slower, never a lost or
 * truncated response.
 *
 * Memory per response: `memoryBytes` plus one window on the socket (held for SPILL_AFTER_MS
 * before the client is taken for a slow one), `busyBytes` plus two file pieces while feeding
 * from the file, and whatever the runner sent without credit (one window) while the file is
 * being written. A window is 256 KiB, up to 1 MiB once grown for a client that kept up
 * (upstream/stream.ts).
 */
import type { ServerResponse } from 'node:http';
import { Spool } from './temp-file.js';
import { copyCounted } from './young-gc.js';

export interface ResponseBuffering {
  /** tsgi_buffer_size + tsgi_buffers: bytes that may wait in memory for the client. */
  memoryBytes: number;
  /** tsgi_busy_buffers_size: bytes from the temporary file that may wait on the client socket. */
  busyBytes: number;
  /** tsgi_max_temp_file_size: bytes that may wait in the file; 0 for no file. */
  maxFileBytes: number;
  /** tsgi_temp_path. */
  tempDir: string;
}

export interface ResponseBodyHost {
  /** `n` bytes are off the runner's hands: credit for them; `keepingUp` when the client took them at once. */
  consumed(n: number, keepingUp: boolean): void;
  /** The client took bytes, or the response began to wait for it: see `waitsForClient`. */
  clientProgress(): void;
  /** The temporary file failed: the rest of this response holds the runner back instead. */
  spillFailed(err: Error): void;
  /** The bytes in the temporary file could not be read back: the response cannot be completed. */
  broken(err: Error): void;
}

/** How long a client may stay behind before it is taken for a slow one (see watchBacklog). */
const SPILL_AFTER_MS = 20;

/**
 * Pieces read back from the temporary file. Each read is a trip through libuv's thread pool:
 * at 64 KiB, one piece at a time, a 256 MiB download to a fast client that spilled ran at
 * 277 MB/s; bigger pieces, with the next read under way while the socket sends the last one,
 * cut those trips fourfold.
 */
const FILE_PIECE = 256 * 1024;

export class ResponseBody {
  /** Written to the client socket, credited once it takes them ('drain'). */
  private drainOwed = 0;
  private waitingForDrain = false;
  /** In the file while more than maxFileBytes wait there: credited as the client catches up. */
  private fileOwed = 0;
  /** Bytes wait in the file or behind it: later chunks go after them. */
  private spilling = false;
  /** The temporary file, made with the first spilled chunk; it holds owned copies, credited once written. */
  private spool: Spool | null = null;
  private fileFailed = false;
  /** Offset of the next byte to read back from the file. */
  private readAt = 0;
  /** Chunks the file could not take: sent after its bytes, credited as the client takes them. */
  private tail: Buffer[] = [];
  private pumping = false;
  /** Bytes from the file written to the socket and not yet flushed to the kernel. */
  private busy = 0;
  private wakePump: (() => void) | null = null;
  /** The runner's response ended: end the client's once the backlog is out. */
  private ended = false;
  private closed = false;

  constructor(
    private readonly res: ServerResponse,
    /** null: streaming. */
    private readonly buffering: ResponseBuffering | null,
    private readonly host: ResponseBodyHost,
  ) {}

  /** The runner is held back, or the response ended, until the client reads: send_timeout applies, not the read timeout. */
  get waitsForClient(): boolean {
    return this.drainOwed > 0 || this.fileOwed > 0 || (this.ended && this.spilling);
  }

  /**
   * Body bytes from the runner. `owned`: the caller made a copy, so they may be kept; otherwise
   * they are a view of the connection's read buffer, which the next read overwrites.
   *
   * The client socket is corked for the whole read (the relay gathers a read's pieces into one
   * write), so `res.write` says "behind" as soon as the read holds more than the socket's
   * highWaterMark, whatever the kernel will take. Whether the client keeps up is judged in
   * readEnd, once the socket is uncorked. (Judged here, a fast client never counted as keeping
   * up: the window never grew, and every 220 KiB read of a download cost a 'drain' and a
   * CREDIT of its own.)
   */
  write(chunk: Uint8Array, owned: boolean): void {
    if (this.closed) return;
    if (this.spilling) return this.spill(chunk, owned);
    this.drainOwed += chunk.length;
    this.unjudged = true;
    this.res.write(chunk);
  }

  /** Bytes written since the last readEnd: credit for them waits for the socket's verdict. */
  private unjudged = false;

  /** The read that wrote is over and the client socket uncorked: what it could not take shows now. */
  readEnd(): void {
    if (!this.unjudged || this.closed) return;
    this.unjudged = false;
    const held = this.res.writableLength;
    // Taken whole: keeping up. Node sends 'drain' only after a write() that answered false, so
    // a read smaller than the socket's highWaterMark that the kernel did not take whole gets
    // none: those bytes wait on the socket's own turn, credited as before, without growth.
    if (held === 0 || !this.res.writableNeedDrain) {
      if (!this.waitingForDrain) this.release(held === 0);
      return;
    }
    // The client is behind. Within the memory buffers the bytes are ours to hold: credit now;
    // beyond them, a client still behind a moment later is a slow one: spill from then on.
    const { buffering } = this;
    if (buffering && held <= buffering.memoryBytes) this.release(false);
    else if (this.fileAllowed) this.watchBacklog();
    const waiting = this.waitingForDrain;
    this.awaitDrain();
    // Credit held back since an earlier wait began: send_timeout now, not the read timeout.
    if (waiting && this.drainOwed > 0) this.host.clientProgress();
  }

  /** The runner's response ended, with `last` as its final bytes. */
  end(last?: Uint8Array, owned = false): void {
    if (this.closed) return;
    if (this.spilling) {
      this.ended = true;
      // The pump ends the response once the backlog is out; it may not be running yet (the
      // backlog was spilled with no chunk after it).
      if (last && last.length > 0) this.spill(last, owned);
      else this.pump();
      return;
    }
    this.ended = true;
    // No credit is owed after the runner's end: what the socket still holds is timed by the
    // exchange (send_timeout, re-armed while the client takes bytes), not waited for here.
    this.drainOwed = 0;
    this.unjudged = false;
    if (last && last.length > 0) this.res.end(last);
    else this.res.end();
  }

  /** The client is gone: drop what is held and close the file. */
  close(): void {
    this.closed = true;
    if (this.backlogTimer) clearTimeout(this.backlogTimer);
    this.tail = [];
    this.wakePump?.();
    void this.spool?.close();
  }

  private get fileAllowed(): boolean {
    return this.buffering !== null && this.buffering.maxFileBytes > 0 && !this.fileFailed;
  }

  private release(keepingUp: boolean): void {
    const n = this.drainOwed;
    this.drainOwed = 0;
    if (n > 0) this.host.consumed(n, keepingUp);
  }

  private awaitDrain(): void {
    if (this.waitingForDrain) return;
    this.waitingForDrain = true;
    this.backlogSince = performance.now();
    if (this.drainOwed > 0) this.host.clientProgress();
    this.res.once('drain', () => {
      this.waitingForDrain = false;
      this.release(false);
      this.wakePump?.();
      this.host.clientProgress();
    });
  }

  /**
   * A fast client that is momentarily behind (its socket buffer full for a moment) drains
   * within milliseconds: its response keeps streaming, with no trip through the disk. One
   * still behind after SPILL_AFTER_MS is slow: the bytes held for it are credited and what
   * follows goes to the temporary file. (Spilling at once cost a 256 MiB download to curl 3.5x
   * its CPU, all of it through the file.)
   */
  private watchBacklog(): void {
    if (this.backlogTimer) return;
    this.backlogTimer = setTimeout(() => this.checkBacklog(), SPILL_AFTER_MS);
  }

  private checkBacklog(): void {
    this.backlogTimer = null;
    if (this.closed || this.spilling || this.ended || !this.waitingForDrain) return;
    const waited = performance.now() - this.backlogSince;
    if (waited < SPILL_AFTER_MS) {
      // A drain came, and a new backlog since: watch that one for its own time.
      this.backlogTimer = setTimeout(() => this.checkBacklog(), SPILL_AFTER_MS - waited);
      return;
    }
    this.spilling = true;
    this.release(false);
    this.host.clientProgress();
  }

  private backlogTimer: NodeJS.Timeout | null = null;
  private backlogSince = 0;

  // ---- the temporary file ----

  private spill(chunk: Uint8Array, owned: boolean): void {
    if (chunk.length === 0) return;
    // A copy of its own for the file, counted as the relay's copies are (young-gc.ts).
    const copy = owned ? (chunk as Buffer) : copyCounted(chunk);
    if (this.fileFailed) this.tail.push(copy);
    else (this.spool ??= this.newSpool()).push(copy);
    this.pump();
  }

  private newSpool(): Spool {
    return new Spool(this.buffering!.tempDir, 'tsgi-response', {
      written: (bytes) => {
        this.fileOwed += bytes;
        this.creditFile();
        // New bytes to read back: a pump waiting for the file goes on (the runner may keep
        // the spool busy for as long as it produces).
        this.wakePump?.();
      },
      failed: (err, unwritten) => {
        // Whatever is not in the file follows it from memory, in order, credited as it goes out.
        this.fileFailed = true;
        this.tail.push(...unwritten);
        this.host.spillFailed(err);
        this.wakePump?.();
      },
      idle: () => this.wakePump?.(),
    });
  }

  /**
   * Credit for bytes in the file while it holds no more than maxFileBytes (as nginx counts: all
   * that was written, not what is left to read, so the disk used stays within the bound; the
   * file starts over whenever the client catches up).
   */
  private creditFile(): void {
    if (this.fileOwed === 0) return;
    if ((this.spool?.file?.size ?? 0) > this.buffering!.maxFileBytes) return this.host.clientProgress();
    const n = this.fileOwed;
    this.fileOwed = 0;
    this.host.consumed(n, false);
  }

  /** Feeds the client from the file, then from the tail, until it has caught up with the runner. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    this.feed().then(
      () => {
        this.pumping = false;
        if (this.closed) return;
        // Caught up: later chunks go straight to the client again, the file starts over.
        this.spilling = false;
        this.spool?.file?.reset();
        this.readAt = 0;
        this.creditFile();
        if (this.ended) {
          this.ended = false;
          this.end();
        }
      },
      (err: Error) => {
        this.pumping = false;
        if (!this.closed) this.host.broken(err);
      },
    );
  }

  private async feed(): Promise<void> {
    const { res } = this;
    // One piece in flight beyond the busy buffers, so the next read overlaps the socket's send.
    const busyBytes = this.buffering!.busyBytes + FILE_PIECE;
    while (!this.closed) {
      if (this.busy >= busyBytes || this.waitingForDrain) {
        this.host.clientProgress();
        await this.wake();
      } else if (this.spool?.file && this.readAt < this.spool.file.size) {
        const piece = await this.spool.file.read(this.readAt, FILE_PIECE);
        if (this.closed) return;
        this.readAt += piece.length;
        this.busy += piece.length;
        res.write(piece, () => this.flushed(piece.length));
      } else if (this.spool?.writing) {
        await this.wake();
      } else if (this.tail.length > 0) {
        const chunk = this.tail.shift()!;
        this.drainOwed += chunk.length;
        if (res.write(chunk)) this.release(false);
        else this.awaitDrain();
      } else return;
    }
  }

  /** A piece from the file reached the kernel: the client is reading. */
  private flushed(n: number): void {
    this.busy -= n;
    if (!this.closed) this.host.clientProgress();
    this.wakePump?.();
  }

  private wake(): Promise<void> {
    return new Promise((resolve) => {
      this.wakePump = () => {
        this.wakePump = null;
        resolve();
      };
    });
  }
}
