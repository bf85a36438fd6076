/**
 * A young-generation collection after every few MiB of body read into Buffers that die young:
 * by the proxy from clients (request bodies) and from runners (a read buffer given up because a
 * client write still refers to it: upstream/connection.ts; a bulk one only when it cannot be
 * taken back once written), the copies it keeps of a response for a client that is behind
 * (exchange.ts, response-body.ts) and the pieces of a body read back from its temporary file
 * (temp-file.ts), and by the runner's JavaScript
 * worker from the proxy (runner/serving/connection.ts, which imports it from proxy/, as the
 * master's allocator settings import node-options.ts: Node runtime matters both processes
 * share, kept out of protocol/, which stays pure).
 *
 * Node's HTTP parser copies each body chunk it hands us into a Buffer of its own (llhttp's
 * on_body: up to 64 KiB of memory outside the V8 heap). They die young, but only a scavenge
 * frees them, and the proxy allocates so little on the heap per chunk that a 64 MiB upload
 * passed without one. Meanwhile V8 counts the external bytes allocated since the last full
 * collection against the old generation's limit (10-15 MiB of room for the proxy's ~10 MiB
 * heap), so it ran a full mark-compact every 10-25 MiB of upload instead: 28-30 of them in
 * ten 64 MiB uploads, each with marking steps of up to 30 ms on the main thread and a
 * marking thread besides. A scavenge with nothing much alive costs ~0.1-0.5 ms and frees
 * the same Buffers (test/bench/PROFILE.md, "Upload, 2026-12-05 night"). The worker's socket
 * reads are the same kind of garbage (a new 64 KiB Buffer per read, dead once its frames are
 * handled): a 64 MiB upload peaked the worker at 96-98 MiB before it counted them, 70-73
 * after. On a busy machine a 256 MiB download gave up enough of the proxy's read buffers
 * (256 KiB then; 1 MiB and 16 KiB now for a connection's single saturated stream) to take the
 * proxy to 110-115 MiB; 92 once they were counted (PROFILE.md, "Session of 2026-12-06,
 * morning"). A buffered 256 MiB download to a client slower than the app, spilled to the
 * temporary file and read back, took the proxy from 59 to 87–98 MiB until those copies and
 * pieces were counted too, 65–75 after (PROFILE.md, item 36). Each is counted at its whole
 * size, as V8 counts it.
 *
 * Node has no public call for a minor collection: V8's gc() is taken once from a fresh
 * context with --expose-gc set for that moment only (no `gc` global here or in later
 * contexts). The counter is per process, as the heap is.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Body bytes between two collections: well inside the room above. */
export const YOUNG_GC_BYTES = 4 * 1024 * 1024;
/**
 * At most one forced collection per this many ms, whatever the upload rate: with hundreds of
 * uploads at once, 4 MiB arrive every few ms, and a scavenge then copies every request in
 * flight. 5 ms leaves one upload at up to ~800 MB/s its collection per 4 MiB, and caps the
 * rest at 200 a second; beyond, V8's own collections take over, as before. (At 10 ms an
 * upload at 850 MB/s was collected every ~8.5 MiB: the worker peaked at 73–76 MiB instead of
 * 63–68; PROFILE.md, item 35.)
 */
export const YOUNG_GC_MIN_INTERVAL_MS = 5;

type Collect = (options: { type: 'minor' }) => void;

function takeGc(): Collect | null {
  // Started with --expose-gc (some test runs): the global one, and the flag left as it is.
  const global = (globalThis as { gc?: unknown }).gc;
  if (typeof global === 'function') return global as Collect;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as Collect) : null;
  } catch {
    return null;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

let collect: Collect | null | undefined;
let sinceLast = 0;
let lastAt = -Infinity;

/** `n` bytes were read into a Buffer of their own that dies young (a body chunk of Node's HTTP parser, a socket read). */
export function bodyBytesRead(n: number): void {
  sinceLast += n;
  if (sinceLast < YOUNG_GC_BYTES) return;
  const now = performance.now();
  if (now - lastAt < YOUNG_GC_MIN_INTERVAL_MS) return;
  sinceLast = 0;
  lastAt = now;
  if (collect === undefined) collect = takeGc();
  collect?.({ type: 'minor' });
}

/** A copy of body bytes made to be kept (a view must not outlive its read buffer), counted as read. */
export function copyCounted(bytes: Uint8Array): Buffer {
  bodyBytesRead(bytes.length);
  return Buffer.from(bytes);
}
