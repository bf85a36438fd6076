/**
 * Rules of the wire that each endpoint applies to the other (SPEC.md §3–§5), written once for
 * the proxy's and the runner's connections: the handshake check, the `software` string, the
 * bound on PING answers left unsent by a peer that does not read, and the never-opened-stream
 * check. Pure: the connection passes in what it knows (its unsent bytes, its highest stream).
 */
import { ErrorCode, ProtocolError } from './errors.js';
import { FrameType, type Frame } from './frame.js';
import { PROTOCOL_VERSION, type Hello } from './messages.js';

/** The version tsgi's endpoints announce in HELLO's `software` (the package's version). */
export const SOFTWARE_VERSION = '0.1.0';

/** HELLO's `software` for one of tsgi's programs: `tsgi-proxy/0.1.0`, `tsgi-runner/0.1.0`. */
export function software(program: string): string {
  return `${program}/${SOFTWARE_VERSION}`;
}

/** The peer's HELLO must speak our version and come from the other role (SPEC.md §3). */
export function checkPeerHello(hello: Hello, expected: Hello['role']): void {
  if (hello.version !== PROTOCOL_VERSION) {
    throw new ProtocolError(ErrorCode.UNSUPPORTED_VERSION, `${expected} speaks protocol version ${hello.version}, not ${PROTOCOL_VERSION}`);
  }
  if (hello.role !== expected) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `HELLO role must be "${expected}"`);
}

/**
 * PING answers that may wait unsent. Each is a tiny write that costs far more memory than its
 * 18 bytes, so a byte bound comes too late for a peer that sends PINGs and never reads the
 * answers (HTTP/2 servers bound their queued control frames the same way).
 */
export const MAX_UNSENT_PING_ANSWERS = 1000;
/** Unsent output from which PING answers are counted against MAX_UNSENT_PING_ANSWERS. */
export const PILED_UP_BYTES = 64 * 1024;

/**
 * Counts the PING answers of one connection (SPEC.md §5): only while output piles up, so a peer
 * reading normally (even one sending a burst of PINGs, or while a large response is in flight)
 * never reaches the bound; past it the peer is judged not to read (FLOW_CONTROL_ERROR).
 */
export class PingAnswers {
  private unsent = 0;

  /** Call before writing an answer, with the bytes already waiting unsent. */
  count(unsentBytes: number, peer: string): void {
    if (unsentBytes < PILED_UP_BYTES) this.unsent = 0;
    if (++this.unsent > MAX_UNSENT_PING_ANSWERS) {
      throw new ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, `${peer} is not reading: over ${MAX_UNSENT_PING_ANSWERS} PING answers unsent`);
    }
  }
}

/**
 * A frame (other than CANCEL) for a stream this connection does not know: a PROTOCOL_ERROR when
 * its id is above the highest ever opened (SPEC.md §4); a stream opened and since closed is
 * not an error, its stragglers are ignored.
 */
export function checkOpened(frame: Frame, highestOpened: number): void {
  if (frame.stream > highestOpened) {
    throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `${FrameType[frame.type]} on stream ${frame.stream}, which was never opened`);
  }
}
