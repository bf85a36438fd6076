/**
 * Reading a request body into one buffer the whole process shares, for the lane (connection.ts).
 *
 * Why: node:http reads each piece of a body into a fresh 64 KiB allocation and its parser then
 * copies it into another (llhttp's on_body), each handed on through a stream. Reading into the
 * same warm buffer every time and handing on a view of it, which the reader passes on before
 * the next read, costs a relay about half as much CPU per uploaded byte on this machine
 * (test/bench/PROFILE.md, item 39): nginx reads into its one client_body_buffer the same way.
 *
 * How: the stream handle is given the buffer (`useUserBuffer`, what net.Socket's documented
 * `onread` option does for sockets it creates) and its read callback is replaced by ours. A
 * read then calls back with the byte count in Node's shared stream state. The buffer is lent
 * for the callback only: whatever keeps bytes past it copies them. A read that comes while no
 * body is being read (a request head when the lane's parser does not consume the handle, EOF,
 * an error) is copied and given to net.Socket's own callback, so the socket stays an ordinary
 * stream for node:http, `socket.pause()` and 'end'. Once given, the buffer stays the handle's
 * for its life (Node offers no way back); a parser consuming the handle reads past it.
 *
 * Undocumented parts (the handle's onread and `process.binding('stream_wrap')`): when a Node
 * release lacks them, or TSGI_SHARED_READ=off is in the environment, `sharedRead` is null and
 * the lane reads bodies through net.Socket's 'data' events (a fresh Buffer a read, no copy).
 */
import type { Socket } from 'node:net';
import { HEADER_SIZE } from '../../protocol/index.js';

/** The lane's reading of body bytes on one socket. */
export interface SharedReader {
  /** `bytes` is lent until this returns: copy what is kept. */
  onBorrowed(bytes: Buffer): void;
}

interface StreamState {
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
}

interface ReadHandle {
  useUserBuffer(buffer: Buffer): void;
  onread: (this: ReadHandle, arrayBuffer?: ArrayBuffer) => unknown;
  readStart(): number;
  readStop(): number;
  reading?: boolean;
  isStreamBase?: boolean;
  [SHARED]?: Installed;
}

/** Per handle: who reads body bytes now (null: give every read to net.Socket). */
interface Installed {
  reader: SharedReader | null;
}

const SHARED = Symbol('tsgi.sharedRead');

/**
 * One read's most: 64 KiB less a frame header, so that a read sent on as one DATA frame is
 * 64 KiB on the runner's socket. A JavaScript worker reads 64 KiB at a time: frames of that
 * size arrive whole, where 64 KiB payloads arrived as two pieces each (two chunks for the app).
 */
export const SHARED_READ_SIZE = 64 * 1024 - HEADER_SIZE;

export interface SharedRead {
  /**
   * Routes the socket's reads to `reader` (installing the buffer the first time); false when
   * the socket's handle cannot (no stream handle): read it through 'data' events instead.
   */
  attach(socket: Socket, reader: SharedReader): boolean;
  /** Reads go to net.Socket again. */
  detach(socket: Socket): void;
  /** Stops or starts the handle's reading (not net.Socket's pause: it would not stop the handle). */
  pause(socket: Socket): void;
  resume(socket: Socket): void;
}

export const sharedRead: SharedRead | null = load();

function load(): SharedRead | null {
  if (process.env.TSGI_SHARED_READ === 'off') return null;
  let state: StreamState;
  try {
    const binding = (process as unknown as { binding(name: string): Partial<StreamState> }).binding('stream_wrap');
    const { streamBaseState, kReadBytesOrError, kArrayBufferOffset } = binding;
    if (!(streamBaseState instanceof Int32Array) || typeof kReadBytesOrError !== 'number' || typeof kArrayBufferOffset !== 'number') return null;
    state = { streamBaseState, kReadBytesOrError, kArrayBufferOffset };
  } catch {
    return null;
  }
  // Alive as long as the process: every handle given it refers to it from C++.
  const buffer = Buffer.allocUnsafeSlow(SHARED_READ_SIZE);
  const handleOf = (socket: Socket) => (socket as Socket & { _handle?: ReadHandle | null })._handle ?? null;

  const install = (handle: ReadHandle): Installed | null => {
    if (handle[SHARED]) return handle[SHARED];
    if (!handle.isStreamBase || typeof handle.useUserBuffer !== 'function' || typeof handle.onread !== 'function') return null;
    const installed: Installed = { reader: null };
    const netRead = handle.onread;
    const { streamBaseState: s, kReadBytesOrError, kArrayBufferOffset } = state;
    handle.useUserBuffer(buffer);
    handle.onread = function sharedOnRead(this: ReadHandle): undefined {
      const n = s[kReadBytesOrError]!;
      const reader = installed.reader;
      if (n > 0 && reader) {
        reader.onBorrowed(buffer.subarray(0, n));
        return undefined;
      }
      if (n > 0) {
        // net.Socket's callback reads an ArrayBuffer at the offset the state says.
        const copy = Buffer.allocUnsafe(n);
        buffer.copy(copy, 0, 0, n);
        s[kArrayBufferOffset] = copy.byteOffset;
        netRead.call(this, copy.buffer as ArrayBuffer);
      } else netRead.call(this, undefined);
      // Anything but undefined would be taken as the next read's buffer.
      return undefined;
    };
    handle[SHARED] = installed;
    return installed;
  };

  return {
    attach(socket, reader) {
      // A TLS socket's reads are its decryption's to make, not the handle's.
      if ((socket as Socket & { encrypted?: boolean }).encrypted) return false;
      const handle = handleOf(socket);
      const installed = handle && install(handle);
      if (!installed) return false;
      installed.reader = reader;
      return true;
    },
    detach(socket) {
      const installed = handleOf(socket)?.[SHARED];
      if (installed) installed.reader = null;
    },
    pause(socket) {
      handleOf(socket)?.readStop();
    },
    resume(socket) {
      const handle = handleOf(socket);
      if (!handle || socket.destroyed) return;
      // net.Socket believes the handle reads (the lane keeps the stream flowing for 'end').
      handle.reading = true;
      handle.readStart();
    },
  };
}
