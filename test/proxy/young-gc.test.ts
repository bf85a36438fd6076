// The proxy's young-generation collection per few MiB of request body (proxy/young-gc.ts):
// it happens, and leaves no `gc` behind for the proxy's code or later contexts.
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { YOUNG_GC_BYTES, YOUNG_GC_MIN_INTERVAL_MS, bodyBytesRead } from '../../proxy/young-gc.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function minorCollections(run: () => Promise<void>): Promise<number> {
  let count = 0;
  const observer = new PerformanceObserver((list) => {
    count += list.getEntries().filter((e: PerformanceEntry & { detail?: { kind?: number } }) => e.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR).length;
  });
  observer.observe({ entryTypes: ['gc'] });
  await run();
  await sleep(50); // gc entries are delivered asynchronously
  observer.disconnect();
  return count;
}

/** One YOUNG_GC_BYTES of body in 64 KiB chunks, as Node's parser hands them over. */
function oneBatch(): void {
  for (let n = 0; n < YOUNG_GC_BYTES / (64 * 1024); n++) bodyBytesRead(64 * 1024);
}

t.test('a minor collection per YOUNG_GC_BYTES of body', async (t) => {
  await sleep(YOUNG_GC_MIN_INTERVAL_MS);
  const seen = await minorCollections(async () => {
    for (let i = 0; i < 3; i++) {
      oneBatch();
      await sleep(YOUNG_GC_MIN_INTERVAL_MS + 5);
    }
  });
  t.ok(seen >= 3, `3 collections for 3 x ${YOUNG_GC_BYTES} bytes (saw ${seen})`);
});

t.test('at most one per YOUNG_GC_MIN_INTERVAL_MS, however fast the bodies come', async (t) => {
  await sleep(YOUNG_GC_MIN_INTERVAL_MS);
  let ms = 0;
  const seen = await minorCollections(async () => {
    const started = performance.now();
    for (let i = 0; i < 20; i++) oneBatch(); // 80 MiB within a few ms
    ms = performance.now() - started;
  });
  // One at the start and at most one per interval after it, however long a busy machine
  // stretched the loop; far below one per batch.
  const allowed = 1 + Math.floor(ms / YOUNG_GC_MIN_INTERVAL_MS);
  t.ok(seen <= allowed && seen < 20, `20 x ${YOUNG_GC_BYTES} bytes in ${ms.toFixed(1)} ms: ${seen} collection(s), at most ${allowed}`);
});

t.test('no gc global left behind', async (t) => {
  bodyBytesRead(YOUNG_GC_BYTES);
  t.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  t.equal(runInNewContext('typeof gc'), 'undefined', 'nor in a context made afterwards');
});
