/**
 * Large bodies, one at a time on one keep-alive connection, by our own node:http client:
 * GET /download/N must bring exactly N bytes; POST /upload streams N bytes of the pattern
 * (with backpressure) and must get back "N". Transfers repeat until the duration is over
 * (at least one). Results in the load tools' shape: requests are transfers, bytes are body
 * bytes (received for a download, sent for an upload), latency is the time per transfer.
 */
import { Agent, request } from 'node:http';
import { CHUNK_BYTES, patternChunk } from './endpoints.js';
import { LatencyHistogram } from './latency.js';
import type { LoadResult } from './load.js';
import type { Scenario } from './scenarios.js';

const CHUNK = patternChunk();
const TRANSFER_TIMEOUT_MS = 120_000;

interface Outcome {
  status: number;
  /** Body bytes received (download) or sent (upload). */
  bytes: number;
  /** The check failed: why. */
  wrong: string | null;
}

export async function runTransfers(url: string, scenario: Scenario, durationS: number, signal: AbortSignal): Promise<LoadResult & { wrong: string[] }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const latency = new LatencyHistogram();
  const statusCodes: Record<string, number> = {};
  const wrong: string[] = [];
  let requests = 0;
  let good = 0;
  let bytes = 0;
  let errors = 0;
  const started = performance.now();
  try {
    do {
      signal.throwIfAborted();
      const t0 = performance.now();
      let outcome: Outcome;
      try {
        outcome = await transfer(url, scenario, agent, signal);
      } catch (err) {
        if (signal.aborted) throw err;
        errors += 1;
        wrong.push((err as Error).message);
        break;
      }
      requests += 1;
      bytes += outcome.bytes;
      statusCodes[outcome.status] = (statusCodes[outcome.status] ?? 0) + 1;
      if (outcome.wrong) wrong.push(outcome.wrong);
      else if (outcome.status >= 200 && outcome.status < 300) {
        good += 1;
        latency.record(performance.now() - t0);
      }
    } while (performance.now() - started < durationS * 1000);
  } finally {
    agent.destroy();
  }
  const elapsedS = (performance.now() - started) / 1000;
  const non2xx = Object.entries(statusCodes).reduce((n, [code, count]) => n + (code.startsWith('2') ? 0 : count), 0);
  return {
    requests,
    good,
    durationS: elapsedS,
    rps: good / elapsedS,
    bytes,
    p50Ms: latency.percentile(50),
    p99Ms: latency.percentile(99),
    non2xx,
    errors,
    timeouts: 0,
    mismatches: wrong.length - errors,
    statusCodes,
    minPerSecond: null,
    wrong: [...new Set(wrong)],
  };
}

function transfer(url: string, scenario: Scenario, agent: Agent, signal: AbortSignal): Promise<Outcome> {
  const upload = scenario.method === 'POST';
  const headers = upload ? { 'Content-Type': 'application/octet-stream', 'Content-Length': String(scenario.bodyBytes) } : {};
  return new Promise((resolve, reject) => {
    const req = request(`${url.replace(/\/$/, '')}${scenario.path}`, { method: scenario.method, agent, headers, timeout: TRANSFER_TIMEOUT_MS, signal }, (res) => {
      let received = 0;
      const small: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (upload && received <= 64) small.push(chunk);
      });
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (!upload) {
          const wrong = received === scenario.bodyBytes ? null : `download: got ${received} bytes, expected ${scenario.bodyBytes}`;
          return resolve({ status, bytes: received, wrong: status === 200 ? wrong : `status ${status}` });
        }
        const answer = Buffer.concat(small).toString('utf8');
        const wrong = answer === scenario.expectBody ? null : `upload: the app counted ${JSON.stringify(answer.slice(0, 64))}, expected ${scenario.expectBody}`;
        resolve({ status, bytes: scenario.bodyBytes, wrong: status === 200 ? wrong : `status ${status}: ${answer.slice(0, 64)}` });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${scenario.name}: no progress within ${TRANSFER_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    if (upload) writeBody(req, scenario.bodyBytes);
    else req.end();
  });
}

/** N bytes of the pattern, a chunk at a time, waiting for 'drain' when the socket is full. */
function writeBody(req: ReturnType<typeof request>, size: number): void {
  let left = size;
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, CHUNK_BYTES);
      left -= n;
      if (!req.write(n === CHUNK_BYTES ? CHUNK : CHUNK.subarray(0, n))) return void req.once('drain', pump);
    }
    req.end();
  };
  pump();
}
