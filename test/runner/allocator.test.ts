// The glibc malloc tunables the master gives its JavaScript workers (runner/supervision/allocator.ts)
// and the proxy is started with (proxy/node-options.ts).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { PROXY_GLIBC_TUNABLES, PROXY_NODE_OPTIONS, PROXY_V8_FLAGS, proxyEnvironment, proxyV8Flags, withTunables } from '../../proxy/node-options.js';
import { ARENA_MAX, MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES, withAllocatorTunables } from '../../runner/supervision/allocator.js';

const THRESHOLDS = `glibc.malloc.trim_threshold=${TRIM_THRESHOLD_BYTES}:glibc.malloc.mmap_threshold=${MMAP_THRESHOLD_BYTES}`;
const ARENAS = `glibc.malloc.arena_max=${ARENA_MAX}`;

t.test('added to an environment without GLIBC_TUNABLES, the rest kept', async (t) => {
  const env = withAllocatorTunables({ PATH: '/bin', TSGI_WORKER: '1' });
  t.same(env, { PATH: '/bin', TSGI_WORKER: '1', GLIBC_TUNABLES: `${THRESHOLDS}:${ARENAS}` });
});

t.test("appended to the operator's other tunables", async (t) => {
  t.equal(withAllocatorTunables({ GLIBC_TUNABLES: 'glibc.malloc.tcache_count=0' }).GLIBC_TUNABLES, `glibc.malloc.tcache_count=0:${THRESHOLDS}:${ARENAS}`);
});

t.test("the thresholds left out when the operator set either; the arena count left to the operator's", async (t) => {
  t.equal(withAllocatorTunables({ GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=0' }).GLIBC_TUNABLES, `glibc.malloc.trim_threshold=0:${ARENAS}`);
  t.equal(withAllocatorTunables({ GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=131072' }).GLIBC_TUNABLES, `glibc.malloc.mmap_threshold=131072:${ARENAS}`);
  t.equal(withAllocatorTunables({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=4' }).GLIBC_TUNABLES, `glibc.malloc.arena_max=4:${THRESHOLDS}`);
  const own = { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072' };
  t.equal(withAllocatorTunables(own), own, 'all three set: the same environment');
});

t.test("the proxy's pretenuring off, unless the operator's node command line names it either way", async (t) => {
  t.equal(proxyV8Flags([]), PROXY_V8_FLAGS);
  t.equal(proxyV8Flags(['--max-semi-space-size=8', '--perf-basic-prof']), PROXY_V8_FLAGS);
  t.equal(proxyV8Flags(['--allocation-site-pretenuring']), null);
  t.equal(proxyV8Flags(['--no-allocation-site-pretenuring']), null);
  t.equal(proxyV8Flags(['--allocation_site_pretenuring']), null, "V8's underscores");
  t.equal(proxyV8Flags(['--allocation-site-pretenuring-x']), PROXY_V8_FLAGS, 'another flag');
});

t.test("the proxy's: its node flags and one arena, the operator's own first and winning", async (t) => {
  t.same(proxyEnvironment({ PATH: '/bin' }), { PATH: '/bin', NODE_OPTIONS: '--max-semi-space-size=8', GLIBC_TUNABLES: PROXY_GLIBC_TUNABLES.join(':') });
  const own = proxyEnvironment({ NODE_OPTIONS: '--max-semi-space-size=4', GLIBC_TUNABLES: 'glibc.malloc.arena_max=8' });
  t.equal(own.NODE_OPTIONS, '--max-semi-space-size=8 --max-semi-space-size=4');
  t.equal(own.GLIBC_TUNABLES, 'glibc.malloc.arena_max=8');
  t.equal(withTunables({}, ['a=1', 'b=2']).GLIBC_TUNABLES, 'a=1:b=2');
  t.equal(withTunables({ GLIBC_TUNABLES: 'b=3' }, ['a=1', 'b=2']).GLIBC_TUNABLES, 'b=3:a=1');
  const older = proxyEnvironment({ MALLOC_ARENA_MAX: '4' });
  t.equal(older.GLIBC_TUNABLES, undefined, 'MALLOC_ARENA_MAX of the operator: no GLIBC_TUNABLES to override it');
  t.equal(older.MALLOC_ARENA_MAX, '4');
});

t.test("glibc's older variables count as the tunables they set (a GLIBC_TUNABLES entry would override them)", async (t) => {
  t.equal(withAllocatorTunables({ MALLOC_ARENA_MAX: '4' }).GLIBC_TUNABLES, THRESHOLDS);
  t.equal(withAllocatorTunables({ MALLOC_TRIM_THRESHOLD_: '131072' }).GLIBC_TUNABLES, ARENAS);
  t.equal(withAllocatorTunables({ MALLOC_MMAP_THRESHOLD_: '131072', GLIBC_TUNABLES: 'glibc.malloc.tcache_count=0' }).GLIBC_TUNABLES, `glibc.malloc.tcache_count=0:${ARENAS}`);
  const all = { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '0' };
  t.equal(withAllocatorTunables(all), all, 'all set: the same environment');
});

t.test('processes started with them run (glibc accepts the values)', async (t) => {
  const print = ['-e', 'process.stdout.write(process.env.GLIBC_TUNABLES)'];
  const worker = execFileSync(process.execPath, print, { env: withAllocatorTunables({ PATH: process.env.PATH }), encoding: 'utf8' });
  t.equal(worker, `${THRESHOLDS}:${ARENAS}`);
  const proxy = execFileSync(process.execPath, print, { env: proxyEnvironment({ PATH: process.env.PATH }), encoding: 'utf8' });
  t.equal(proxy, PROXY_GLIBC_TUNABLES.join(':'));
});

t.test("the systemd unit starts the proxy with the same settings as npm start and the bench", async (t) => {
  const unit = readFileSync(new URL('../../../deploy/systemd/tsgi-proxy.service', import.meta.url), 'utf8');
  t.match(unit, new RegExp(`^Environment=NODE_OPTIONS=${PROXY_NODE_OPTIONS}$`, 'm'));
  t.match(unit, new RegExp(`^Environment=GLIBC_TUNABLES=${PROXY_GLIBC_TUNABLES.join(':')}$`, 'm'));
});
