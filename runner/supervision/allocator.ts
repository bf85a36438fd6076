/**
 * The C allocator's settings for the JavaScript workers the master forks: glibc keeps up to
 * TRIM_THRESHOLD_BYTES of freed memory at the top of its heap instead of giving it back to
 * the kernel at once.
 *
 * An upload brings the worker a fresh 64 KiB read buffer per socket read (Node allocates
 * them); a scavenge frees many MiB of them at once, glibc trimmed its heap (128 KiB default
 * threshold) and the next reads faulted the same pages back in: 2,000-5,800 page faults and
 * 80-130 ms of CPU per 64 MiB upload, against 5-400 faults and 30-40 ms when the heap
 * happened not to be trimmable. That was the JavaScript runner's "bimodal" upload
 * (test/bench/PROFILE.md, "Upload, 2026-12-05 night"). The memory stays the worker's to
 * reuse; the peak it reaches is the same.
 *
 * Setting the trim threshold turns off glibc's dynamic mmap threshold (which would otherwise
 * rise to the largest block freed so far), so the mmap threshold is set too: blocks up to
 * MMAP_THRESHOLD_BYTES come from the heap, as they would once the dynamic threshold had
 * risen, not from an mmap and munmap each.
 *
 * GLIBC_TUNABLES is read by glibc when the process starts; other C libraries ignore it.
 * Malloc tunables the operator set already are left as they are.
 */
export const TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024;
export const MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024;

/** `env` with the allocator tunables added to GLIBC_TUNABLES, unless it sets either already. */
export function withAllocatorTunables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const current = env.GLIBC_TUNABLES ?? '';
  const names = current.split(':').map((entry) => entry.split('=')[0]);
  if (names.includes('glibc.malloc.trim_threshold') || names.includes('glibc.malloc.mmap_threshold')) return env;
  const settings = `glibc.malloc.trim_threshold=${TRIM_THRESHOLD_BYTES}:glibc.malloc.mmap_threshold=${MMAP_THRESHOLD_BYTES}`;
  return { ...env, GLIBC_TUNABLES: current ? `${current}:${settings}` : settings };
}
