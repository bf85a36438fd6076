// The glibc malloc tunables the master gives its JavaScript workers (runner/supervision/allocator.ts).
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES, withAllocatorTunables } from '../../runner/supervision/allocator.js';

const SETTINGS = `glibc.malloc.trim_threshold=${TRIM_THRESHOLD_BYTES}:glibc.malloc.mmap_threshold=${MMAP_THRESHOLD_BYTES}`;

t.test('added to an environment without GLIBC_TUNABLES, the rest kept', async (t) => {
  const env = withAllocatorTunables({ PATH: '/bin', TSGI_WORKER: '1' });
  t.same(env, { PATH: '/bin', TSGI_WORKER: '1', GLIBC_TUNABLES: SETTINGS });
});

t.test("appended to the operator's other tunables", async (t) => {
  t.equal(withAllocatorTunables({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }).GLIBC_TUNABLES, `glibc.malloc.arena_max=2:${SETTINGS}`);
});

t.test("left alone when the operator set either threshold", async (t) => {
  for (const own of ['glibc.malloc.trim_threshold=0', 'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072']) {
    const env = { GLIBC_TUNABLES: own };
    t.equal(withAllocatorTunables(env), env, own);
  }
});

t.test('a process started with them runs (glibc accepts the values)', async (t) => {
  const out = execFileSync(process.execPath, ['-e', 'process.stdout.write(process.env.GLIBC_TUNABLES)'], { env: withAllocatorTunables({ PATH: process.env.PATH }), encoding: 'utf8' });
  t.equal(out, SETTINGS);
});
