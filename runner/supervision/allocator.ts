/**
 * The C allocator's settings for the JavaScript workers the master forks (GLIBC_TUNABLES, read
 * by glibc when the process starts; other C libraries ignore it). Malloc tunables the operator
 * set already are left as they are.
 *
 * Memory held for reuse: glibc keeps up to TRIM_THRESHOLD_BYTES of freed memory at the top of
 * its heap instead of giving it back to the kernel at once. An upload brings the worker a
 * fresh 64 KiB read buffer per socket read (Node allocates them); a scavenge frees many MiB of
 * them at once, glibc trimmed its heap (128 KiB default threshold) and the next reads faulted
 * the same pages back in: 2,000-5,800 page faults and 80-130 ms of CPU per 64 MiB upload,
 * against 5-400 faults and 30-40 ms when the heap happened not to be trimmable. That was the
 * JavaScript runner's "bimodal" upload (test/bench/PROFILE.md, "Upload, 2026-12-05 night").
 * Setting the trim threshold turns off glibc's dynamic mmap threshold (which would otherwise
 * rise to the largest block freed so far), so the mmap threshold is set too: blocks up to
 * MMAP_THRESHOLD_BYTES come from the heap, as they would once the dynamic threshold had
 * risen, not from an mmap and munmap each. The two go together: an operator's own value for
 * either leaves both unset.
 *
 * One arena (ARENA_MAX): glibc gives each thread that allocates an arena of its own, and V8's
 * platform threads each kept 1-1.4 MiB resident in theirs, besides the memory the trim
 * threshold keeps in each. With one arena the worker's peak was 3.4 MiB lower at 256
 * connections and 6 MiB lower in 64 MiB uploads, with no CPU cost that showed
 * (test/bench/PROFILE.md, item 23): its threads allocate little.
 */
import { tunablesSet, withTunables } from '../../proxy/node-options.js';

export const TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024;
export const MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024;
export const ARENA_MAX = 1;

const THRESHOLDS = [`glibc.malloc.trim_threshold=${TRIM_THRESHOLD_BYTES}`, `glibc.malloc.mmap_threshold=${MMAP_THRESHOLD_BYTES}`];
const ARENAS = [`glibc.malloc.arena_max=${ARENA_MAX}`];

/**
 * `env` with the workers' allocator tunables added to GLIBC_TUNABLES where it does not set them
 * (there or through glibc's older variables, MALLOC_ARENA_MAX and the like).
 */
export function withAllocatorTunables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const named = tunablesSet(env);
  const ownThreshold = named.has('glibc.malloc.trim_threshold') || named.has('glibc.malloc.mmap_threshold');
  return withTunables(env, [...(ownThreshold ? [] : THRESHOLDS), ...ARENAS]);
}
