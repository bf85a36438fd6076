/**
 * The tsgi frame: a fixed 10-byte header followed by `length` payload bytes.
 *
 *   0       1       2       3       4       5       6       7       8       9
 * +-------+-------+-------+-------+-------+-------+-------+-------+-------+-------+
 * |        payload length         | type  | flags |          stream id            |
 * |        (u32, big-endian)      | (u8)  | (u8)  |       (u32, big-endian)       |
 * +-------+-------+-------+-------+-------+-------+-------+-------+-------+-------+
 * |  payload: `length` bytes — MessagePack for HELLO, REQUEST, RESPONSE, CANCEL,  |
 * |  GOAWAY; raw body bytes for DATA; u32 for CREDIT; 8 opaque bytes for PING;    |
 * |  nothing for ACCEPT                                                           |
 * +-------------------------------------------------------------------------------+
 *
 * protocol/SPEC.md is the normative description; keep the two in step.
 */

export const HEADER_SIZE = 10;

/** Frame types. Receivers ignore types they do not know (after bounding their length). */
export enum FrameType {
  /** Stream 0. Handshake: version, limits, identity. First frame each way. */
  HELLO = 0x01,
  /** Proxy → runner. Opens a stream; payload is the environ map. END_STREAM = no body. */
  REQUEST = 0x02,
  /** Runner → proxy. Response head: status, reason, headers. END_STREAM = no body. */
  RESPONSE = 0x03,
  /** Either way. Raw body bytes, counted against the receiver's window. */
  DATA = 0x04,
  /** Either way. Grants the peer more window on a stream: u32 increment. */
  CREDIT = 0x05,
  /** Either way. Abandons one stream: {code, reason}. */
  CANCEL = 0x06,
  /** Stream 0. No new streams above lastStream; the sender closes when they finish. */
  GOAWAY = 0x07,
  /** Stream 0. Liveness check, 8 opaque bytes echoed back with ACK. */
  PING = 0x08,
  /**
   * Runner → proxy, empty. The app is about to be called for this stream: from here on the
   * request may have run. Before it, a lost stream is safe to retry whatever its method.
   */
  ACCEPT = 0x09,
}

/** Flag bits. Bits a frame type does not define are sent as 0 and ignored on receipt. */
export const Flags = {
  /** REQUEST, RESPONSE, DATA: the sender has nothing more to send on this stream. */
  END_STREAM: 0x01,
  /** PING: this is the answer. */
  ACK: 0x01,
} as const;

/** Largest frame payload a peer may announce; keeps one frame's buffer bounded. */
export const MAX_FRAME_SIZE_LIMIT = 16 * 1024 * 1024;
/** Smallest max frame size a peer may announce; every HELLO must fit in it. */
export const MIN_FRAME_SIZE = 16 * 1024;
/** Largest window or credit increment (2^31 - 1), as in HTTP/2. */
export const MAX_WINDOW = 0x7fffffff;
/** Stream ids are u32; 0 is the connection itself. */
export const MAX_STREAM_ID = 0xffffffff;

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Uint8Array;
  /**
   * DATA read in pieces (FrameDecoder with `dataInPieces`): payload bytes of this frame that
   * follow in later pieces. 0 or absent: this piece ends the frame (and alone may carry
   * END_STREAM).
   */
  rest?: number;
  /** DATA read in pieces: this piece continues a frame whose header came with an earlier one. */
  continued?: boolean;
}

const EMPTY = new Uint8Array(0);

/** Writes a frame header into `target` at `offset`. */
export function writeHeader(
  target: Uint8Array,
  offset: number,
  type: number,
  flags: number,
  stream: number,
  length: number,
): void {
  target[offset] = length >>> 24;
  target[offset + 1] = (length >>> 16) & 0xff;
  target[offset + 2] = (length >>> 8) & 0xff;
  target[offset + 3] = length & 0xff;
  target[offset + 4] = type;
  target[offset + 5] = flags;
  target[offset + 6] = stream >>> 24;
  target[offset + 7] = (stream >>> 16) & 0xff;
  target[offset + 8] = (stream >>> 8) & 0xff;
  target[offset + 9] = stream & 0xff;
}

/** A header alone, for sending a large body chunk after it without copying the chunk. */
export function encodeHeader(type: number, flags: number, stream: number, length: number): Uint8Array {
  const header = new Uint8Array(HEADER_SIZE);
  writeHeader(header, 0, type, flags, stream, length);
  return header;
}

/** A whole frame in one buffer (header + copy of the payload). */
export function encodeFrame(type: number, flags: number, stream: number, payload: Uint8Array = EMPTY): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  writeHeader(out, 0, type, flags, stream, payload.length);
  out.set(payload, HEADER_SIZE);
  return out;
}

/** CREDIT payload: the increment as u32 big-endian. */
export function encodeCredit(stream: number, increment: number): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + 4);
  writeHeader(out, 0, FrameType.CREDIT, 0, stream, 4);
  writeU32(out, HEADER_SIZE, increment);
  return out;
}

export function encodePing(opaque: Uint8Array, ack: boolean): Uint8Array {
  return encodeFrame(FrameType.PING, ack ? Flags.ACK : 0, 0, opaque);
}

export function readU32(source: Uint8Array, offset: number): number {
  return (
    source[offset]! * 0x1000000 + ((source[offset + 1]! << 16) | (source[offset + 2]! << 8) | source[offset + 3]!)
  );
}

export function writeU32(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value >>> 24;
  target[offset + 1] = (value >>> 16) & 0xff;
  target[offset + 2] = (value >>> 8) & 0xff;
  target[offset + 3] = value & 0xff;
}

export function frameTypeName(type: number): string {
  return FrameType[type] ?? `UNKNOWN(0x${type.toString(16).padStart(2, '0')})`;
}
