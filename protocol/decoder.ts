import { ErrorCode, ProtocolError } from './errors.js';
import { Flags, FrameType, HEADER_SIZE, MIN_FRAME_SIZE, readU32, type Frame } from './frame.js';

export interface DecoderOptions {
  /**
   * A DATA payload split across chunks is not assembled: each part is returned as soon as it
   * arrives, as a view of its chunk, in a frame with `rest` (bytes still to come) and
   * `continued` (not the first part) set; END_STREAM only on the last part. Body bytes are
   * then never copied nor held back by the decoder, at the price of the receiver handling
   * partial DATA (checking the first part against the whole frame's length).
   */
  dataInPieces?: boolean;
}

/**
 * Incremental frame decoder: `push(chunk)` returns the frames completed by that chunk.
 *
 * The header is checked before any payload byte is buffered: a length above the limit fails
 * at once, so a hostile peer can make us hold at most one frame of `maxFrameSize` bytes.
 * A payload wholly inside one chunk is returned as a view of that chunk (no copy); only a
 * payload split across chunks is assembled into a buffer sized exactly for it.
 *
 * After an error the decoder stays failed: every later push throws the same error.
 */
export class FrameDecoder {
  private readonly header = new Uint8Array(HEADER_SIZE);
  private headerFill = 0;
  private current: Frame | null = null;
  private payloadFill = 0;
  private failure: ProtocolError | null = null;
  private readonly dataInPieces: boolean;
  /** dataInPieces: the DATA frame being passed on, and how many of its bytes are still to come. */
  private dataLeft = 0;
  private dataFlags = 0;
  private dataStream = 0;

  constructor(
    private maxFrameSize = MIN_FRAME_SIZE,
    options: DecoderOptions = {},
  ) {
    this.dataInPieces = options.dataInPieces === true;
  }

  /** Raised after the handshake, when our announced limit takes effect. */
  setMaxFrameSize(size: number): void {
    this.maxFrameSize = size;
  }

  /** True when no partial frame is held (a clean place for the stream to end). */
  get idle(): boolean {
    return this.headerFill === 0 && this.current === null && this.dataLeft === 0;
  }

  push(chunk: Uint8Array): Frame[] {
    if (this.failure) throw this.failure;
    const frames: Frame[] = [];
    try {
      let offset = 0;
      while (offset < chunk.length) offset = this.step(chunk, offset, frames);
    } catch (err) {
      this.failure = err instanceof ProtocolError ? err : new ProtocolError(ErrorCode.INTERNAL_ERROR, String(err));
      throw this.failure;
    }
    return frames;
  }

  /** Consumes bytes from `offset`; returns the new offset. */
  private step(chunk: Uint8Array, offset: number, frames: Frame[]): number {
    if (this.current) return this.fillPayload(chunk, offset, frames);
    if (this.dataLeft > 0) return this.nextPiece(chunk, offset, frames);
    const available = chunk.length - offset;
    let header: Uint8Array;
    let at: number;
    if (this.headerFill === 0 && available >= HEADER_SIZE) {
      header = chunk;
      at = offset;
      offset += HEADER_SIZE;
    } else {
      const take = Math.min(HEADER_SIZE - this.headerFill, available);
      this.header.set(chunk.subarray(offset, offset + take), this.headerFill);
      this.headerFill += take;
      offset += take;
      if (this.headerFill < HEADER_SIZE) return offset;
      this.headerFill = 0;
      header = this.header;
      at = 0;
    }
    const length = readU32(header, at);
    const frame: Frame = {
      type: header[at + 4]!,
      flags: header[at + 5]!,
      stream: readU32(header, at + 6),
      payload: EMPTY,
    };
    checkHeader(frame.type, frame.stream, length, this.maxFrameSize);
    if (length === 0) {
      frames.push(frame);
      return offset;
    }
    if (chunk.length - offset >= length) {
      frame.payload = chunk.subarray(offset, offset + length);
      frames.push(frame);
      return offset + length;
    }
    if (this.dataInPieces && frame.type === FrameType.DATA) return this.firstPiece(frame, length, chunk, offset, frames);
    frame.payload = new Uint8Array(length);
    this.current = frame;
    this.payloadFill = 0;
    return this.fillPayload(chunk, offset, frames);
  }

  /** The start of a DATA frame the chunk does not hold whole: what there is of it, at once. */
  private firstPiece(frame: Frame, length: number, chunk: Uint8Array, offset: number, frames: Frame[]): number {
    frame.payload = chunk.subarray(offset);
    this.dataLeft = length - frame.payload.length;
    this.dataFlags = frame.flags;
    this.dataStream = frame.stream;
    frame.flags &= ~Flags.END_STREAM;
    frame.rest = this.dataLeft;
    frame.continued = false;
    frames.push(frame);
    return chunk.length;
  }

  private nextPiece(chunk: Uint8Array, offset: number, frames: Frame[]): number {
    const take = Math.min(this.dataLeft, chunk.length - offset);
    this.dataLeft -= take;
    const flags = this.dataLeft === 0 ? this.dataFlags : this.dataFlags & ~Flags.END_STREAM;
    const payload = chunk.subarray(offset, offset + take);
    frames.push({ type: FrameType.DATA, flags, stream: this.dataStream, payload, rest: this.dataLeft, continued: true });
    return offset + take;
  }

  private fillPayload(chunk: Uint8Array, offset: number, frames: Frame[]): number {
    const frame = this.current!;
    const take = Math.min(frame.payload.length - this.payloadFill, chunk.length - offset);
    frame.payload.set(chunk.subarray(offset, offset + take), this.payloadFill);
    this.payloadFill += take;
    if (this.payloadFill === frame.payload.length) {
      frames.push(frame);
      this.current = null;
    }
    return offset + take;
  }
}

const EMPTY = new Uint8Array(0);

/** Connection-level rules that depend on the header alone (SPEC.md, "Frame rules"). */
export function checkHeader(type: number, stream: number, length: number, maxFrameSize: number): void {
  if (length > maxFrameSize) {
    throw new ProtocolError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes exceeds max frame size ${maxFrameSize}`);
  }
  switch (type) {
    case FrameType.HELLO:
    case FrameType.GOAWAY:
      if (stream !== 0) throw onStream(type, stream, 'must be on stream 0');
      return;
    case FrameType.PING:
      if (stream !== 0) throw onStream(type, stream, 'must be on stream 0');
      if (length !== 8) throw new ProtocolError(ErrorCode.FRAME_SIZE_ERROR, `PING payload must be 8 bytes, got ${length}`);
      return;
    case FrameType.CREDIT:
      if (length !== 4) throw new ProtocolError(ErrorCode.FRAME_SIZE_ERROR, `CREDIT payload must be 4 bytes, got ${length}`);
      if (stream === 0) throw onStream(type, stream, 'must be on a stream');
      return;
    case FrameType.ACCEPT:
      if (stream === 0) throw onStream(type, stream, 'must be on a stream');
      if (length !== 0) throw new ProtocolError(ErrorCode.FRAME_SIZE_ERROR, `ACCEPT payload must be empty, got ${length} bytes`);
      return;
    case FrameType.REQUEST:
    case FrameType.RESPONSE:
    case FrameType.DATA:
    case FrameType.CANCEL:
      if (stream === 0) throw onStream(type, stream, 'must be on a stream');
      return;
    default:
      return; // unknown types are skipped by the receiver; their length is already bounded
  }
}

function onStream(type: number, stream: number, rule: string): ProtocolError {
  return new ProtocolError(ErrorCode.PROTOCOL_ERROR, `${FrameType[type]} frame on stream ${stream}: ${rule}`);
}

/**
 * One read from a socket: decodes it and hands each frame to `handle`. A decoding error, or an
 * error a handler throws, goes to `fail`; the loop stops early once `closed()` says the
 * connection is gone, so no frame is handled after a connection error.
 */
export function receiveFrames(
  decoder: FrameDecoder,
  chunk: Uint8Array,
  handle: (frame: Frame) => void,
  fail: (err: unknown) => void,
  closed: () => boolean,
): void {
  if (closed()) return;
  let frames: Frame[];
  try {
    frames = decoder.push(chunk);
  } catch (err) {
    return fail(err);
  }
  for (const frame of frames) {
    try {
      handle(frame);
    } catch (err) {
      fail(err);
      if (closed()) return;
    }
  }
}
