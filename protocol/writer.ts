import { Flags, HEADER_SIZE, encodeHeader, writeHeader, writeU32, FrameType } from './frame.js';

/** What the writer needs from a socket (a net.Socket fits); kept abstract so protocol/ stays pure. */
export interface ByteSink {
  write(bytes: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
  readonly destroyed: boolean;
  /** end() was called: it uncorks the socket at once, so nothing written may change after it. */
  readonly writableEnded?: boolean;
  /**
   * Bytes written and not yet handed to the kernel, whoever wrote them, buffered or in flight
   * (a net.Socket's): 0 means the socket holds no view of ours, and the blocks may be reused.
   */
  readonly writableLength: number;
}

/** Above this a payload is written after its header instead of being copied into one buffer. */
const COPY_LIMIT = 16 * 1024;
/**
 * Frames up to COPY_LIMIT are laid out one after the other in blocks of this size, each frame
 * handed to the socket as a view of its block: no allocation per frame (a fresh ArrayBuffer per
 * small frame cost more than its copy, in allocation and in GC). A region is written again only
 * once the socket holds no view of it (see flush); while it does, the socket may hold its views
 * as long as it needs. A block holds a lent payload of 64 KiB less a header (one read of the
 * proxy's shared buffer) with its header; a bigger frame to copy gets a block of its own.
 */
const BLOCK_SIZE = 64 * 1024;
/**
 * Blocks a writer keeps: a turn whose frames fill more than one block (over ~150 requests'
 * environs, hello at c=256) keeps each, to write them again in the next turns. Dropping a full
 * block instead made garbage of the block the writer had kept for many turns whenever that one
 * overflowed, long since promoted, which only a full collection frees: the proxy's ArrayBuffers
 * grew 0.3–0.45 MiB a second behind the Python runner (PROFILE.md, item 26). Past this many, a
 * turn's extra blocks are its own: young garbage once the socket has written them, unless it
 * lags for long enough that they are promoted, as any bytes it holds may be.
 */
const KEPT_BLOCKS = 4;
const CREDIT_FRAME = HEADER_SIZE + 4;

/**
 * Writes frames to a socket, coalescing everything written during one turn of the event loop
 * into a single writev: the first frame corks the socket and `defer` (setImmediate) uncorks it
 * once the turn's promise chains have run. A response's RESPONSE, DATA and END frames, or many
 * streams' frames, then cost one system call instead of one each. A lent frame (a request
 * body's read, lent by the proxy's lane) is written at once, with what the turn had before it.
 */
export class FrameWriter {
  private corked = false;
  /** The blocks kept (up to KEPT_BLOCKS), written in order since the socket last held none of them. */
  private readonly blocks: Uint8Array[] = [];
  /** Where `block` is in `blocks` (past their end for a turn's extra block). */
  private current = -1;
  private block: Uint8Array = new Uint8Array(0);
  private used = 0;
  /** The header of the last frame of this turn when it is DATA, still unsent (see endData). */
  private lastData: Uint8Array | null = null;
  private lastDataAt = 0;
  private lastDataStream = 0;

  constructor(
    private readonly sink: ByteSink,
    private readonly defer: (fn: () => void) => void,
  ) {}

  /** `lent`: the payload is the caller's only until this returns, so it is copied whatever its size. */
  frame(type: FrameType, flags: number, stream: number, payload: Uint8Array, lent = false): void {
    if (!this.begin()) return;
    let header: Uint8Array;
    let at = 0;
    if (payload.length <= COPY_LIMIT || lent) {
      const size = HEADER_SIZE + payload.length;
      at = this.reserve(size);
      header = this.block;
      writeHeader(this.block, at, type, flags, stream, payload.length);
      this.block.set(payload, at + HEADER_SIZE);
      this.sink.write(this.block.subarray(at, at + size));
    } else {
      header = encodeHeader(type, flags, stream, payload.length);
      this.sink.write(header);
      this.sink.write(payload);
    }
    this.lastData = type === FrameType.DATA && (flags & Flags.END_STREAM) === 0 ? header : null;
    this.lastDataAt = at;
    this.lastDataStream = stream;
    // A lent payload comes in reads of up to a block: written now, while the socket has room,
    // the next one finds the same block free (warm in the cache, as nginx's one buffer).
    if (lent) this.flushEarly();
  }

  /**
   * Ends a stream on its last DATA frame instead of an empty one: true when the last frame of
   * this turn is DATA of `stream` — still corked, so its flags can be set in place — and is
   * now marked END_STREAM; false when the caller must send the end itself.
   */
  endData(stream: number): boolean {
    if (this.lastData === null || this.lastDataStream !== stream || !this.corked || this.sink.destroyed || this.sink.writableEnded) return false;
    this.lastData[this.lastDataAt + 5] |= Flags.END_STREAM;
    this.lastData = null;
    return true;
  }

  /**
   * Whether a lent payload of `size` bytes can be copied into a kept block now, without a new
   * allocation: when not, the caller sends a copy of its own instead (and waits for the drain).
   */
  roomFor(size: number): boolean {
    const need = HEADER_SIZE + size;
    if (need > BLOCK_SIZE) return false;
    if (this.used + need <= this.block.length || this.current + 1 < KEPT_BLOCKS) return true;
    // This turn's own frames may be all the socket holds: out with them first.
    if (this.corked && this.sink.writableLength > 0) this.flushEarly();
    return this.sink.writableLength === 0;
  }

  credit(stream: number, increment: number): void {
    if (!this.begin()) return;
    this.lastData = null;
    const at = this.reserve(CREDIT_FRAME);
    writeHeader(this.block, at, FrameType.CREDIT, 0, stream, 4);
    writeU32(this.block, at + HEADER_SIZE, increment);
    this.sink.write(this.block.subarray(at, at + CREDIT_FRAME));
  }

  /** Where `size` fresh bytes start in the current block (the next block when it is full). */
  private reserve(size: number): number {
    if (this.used + size > this.block.length) this.nextBlock(size);
    const at = this.used;
    this.used += size;
    return at;
  }

  /** The next kept block, a new one kept while fewer than KEPT_BLOCKS are, or else one of the turn's own. */
  private nextBlock(size: number): void {
    if (size > BLOCK_SIZE) {
      this.current = this.blocks.length;
      this.block = new Uint8Array(size);
      this.used = 0;
      return;
    }
    // The socket holds nothing of ours (not even this turn's frames): every block is free.
    this.current = this.sink.writableLength === 0 ? 0 : this.current + 1;
    if (this.current < this.blocks.length) this.block = this.blocks[this.current]!;
    else {
      this.block = new Uint8Array(BLOCK_SIZE);
      if (this.blocks.length < KEPT_BLOCKS) this.blocks.push(this.block);
    }
    this.used = 0;
  }

  /** Writes the turn's frames so far, still corked for the rest of the turn. */
  private flushEarly(): void {
    this.lastData = null;
    this.sink.uncork();
    this.sink.cork();
  }

  /** Whether a frame can go out now, corking the socket for the turn; nothing can after end() or destroy(). */
  private begin(): boolean {
    if (this.sink.destroyed || this.sink.writableEnded === true) return false;
    if (!this.corked) {
      this.corked = true;
      this.sink.cork();
      this.defer(this.flush);
    }
    return true;
  }

  /**
   * Ends the turn: the uncork writes its frames. When the socket took them all at once (a
   * reader that keeps up, the usual case on a Unix socket), it holds no view of any block, and
   * the next turn writes the first again from its start: the kept blocks for good. Before
   * this, a block left half full outlived two scavenges at any but the highest rates, was
   * promoted, and once full and replaced was garbage only a full collection frees, which V8
   * starts when 64 MiB of such memory has piled up: a JavaScript worker serving two proxy
   * processes grew by ~1.5 MiB a second up to that (test/bench/PROFILE.md, item 24).
   */
  private readonly flush = (): void => {
    this.corked = false;
    this.lastData = null;
    if (this.sink.destroyed) return;
    this.sink.uncork();
    if (this.sink.writableLength === 0 && this.blocks.length > 0) {
      this.current = 0;
      this.block = this.blocks[0]!;
      this.used = 0;
    }
  };
}
