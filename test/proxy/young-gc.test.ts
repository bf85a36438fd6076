// The proxy's young-generation collection per few MiB of request body (proxy/young-gc.ts):
// it happens, and leaves no `gc` behind for the proxy's code or later contexts.
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { YOUNG_GC_BYTES, bodyBytesRead } from '../../proxy/young-gc.js';

function minorCollections(run: () => void): Promise<number> {
  return new Promise((resolve) => {
    let count = 0;
    const observer = new PerformanceObserver((list) => {
      count += list.getEntries().filter((e: PerformanceEntry) => (e.detail as { kind?: number } | undefined)?.kind === constants.NODE_PERFORMANCE_GC_MINOR).length;
    });
    observer.observe({ entryTypes: ['gc'] });
    run();
    // gc entries are delivered asynchronously.
    setTimeout(() => {
      observer.disconnect();
      resolve(count);
    }, 50);
  });
}

t.test('a minor collection per YOUNG_GC_BYTES of body', async (t) => {
  const seen = await minorCollections(() => {
    for (let n = 0; n < (3 * YOUNG_GC_BYTES) / (64 * 1024); n++) bodyBytesRead(64 * 1024);
  });
  t.ok(seen >= 3, `3 collections for 3 x ${YOUNG_GC_BYTES} bytes (saw ${seen})`);
});

t.test('no gc global left behind', async (t) => {
  bodyBytesRead(YOUNG_GC_BYTES);
  t.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  t.equal(runInNewContext('typeof gc'), 'undefined', 'nor in a context made afterwards');
});
