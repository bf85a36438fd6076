/**
 * autocannon, used programmatically in this process (which is pinned to the load CPU).
 * Latency (2xx only) comes from our own histogram fed by its 'response' events: autocannon's
 * own histogram has 1 ms resolution, too coarse for a hello world.
 */
import { LatencyHistogram } from './latency.js';
import type { LoadResult, LoadRun, LoadTool } from './load.js';

/** The part of autocannon's result we read (the package ships no types). */
interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  mismatches: number;
  non2xx: number;
  '2xx': number;
  statusCodeStats: Record<string, { count: number }>;
  requests: { total: number; min: number };
  throughput: { total: number };
}

interface AutocannonInstance {
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, ms: number) => void): void;
  stop(): void;
}

type Autocannon = (options: Record<string, unknown>, done: (err: Error | null, result: AutocannonResult) => void) => AutocannonInstance;

export function autocannonTool(autocannon: unknown, version: string): LoadTool {
  return {
    name: 'autocannon',
    version,
    limits: [],
    run: (run) => runAutocannon(autocannon as Autocannon, run),
  };
}

function runAutocannon(autocannon: Autocannon, run: LoadRun): Promise<LoadResult> {
  run.signal.throwIfAborted();
  const latency = new LatencyHistogram();
  return new Promise((resolve, reject) => {
    const onAbort = () => instance.stop();
    const instance = autocannon(
      { url: run.url, connections: run.connections, pipelining: 1, duration: run.durationS, expectBody: run.expectBody, timeout: 10 },
      (err, result) => {
        run.signal.removeEventListener('abort', onAbort);
        if (err) return reject(err);
        if (run.signal.aborted) return reject(run.signal.reason);
        resolve(summarise(result, latency));
      },
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latency.record(ms);
    });
    run.signal.addEventListener('abort', onAbort, { once: true });
  });
}

function summarise(result: AutocannonResult, latency: LatencyHistogram): LoadResult {
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = count;
  // A wrong body is a mismatch whatever its status; those beyond the non-2xx were 2xx.
  const good = result['2xx'] - Math.max(0, result.mismatches - result.non2xx);
  return {
    requests: result.requests.total,
    good,
    durationS: result.duration,
    rps: result.duration > 0 ? good / result.duration : 0,
    bytes: result.throughput.total,
    p50Ms: latency.percentile(50),
    p99Ms: latency.percentile(99),
    non2xx: result.non2xx,
    errors: result.errors - result.timeouts,
    timeouts: result.timeouts,
    mismatches: result.mismatches,
    statusCodes,
    minPerSecond: result.requests.min,
  };
}
