/**
 * Large bodies, one at a time: GET /download/N must bring exactly N bytes; POST /upload sends
 * N bytes of the pattern and must get back "N". Transfers repeat until the duration is over
 * (at least one). Results in the load tools' shape: requests are transfers, bytes are body
 * bytes (received for a download, sent for an upload), latency is the time per transfer.
 *
 * By curl when it is installed: a node:http client tops out near 1.4 GB/s of its own CPU on
 * this kind of machine and set the pace against the fastest servers (PERF-NOTES.md), curl
 * does not. Without curl, our own node:http client on one keep-alive connection, and the
 * report says so.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
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

/** Which client moves the bodies: curl when it runs here. */
export const TRANSFER_CLIENT: 'curl' | 'node:http' = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0 ? 'curl' : 'node:http';

export async function runTransfers(url: string, scenario: Scenario, durationS: number, signal: AbortSignal): Promise<LoadResult & { wrong: string[] }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const upload = scenario.method === 'POST' && TRANSFER_CLIENT === 'curl' ? await uploadFile(scenario.bodyBytes) : null;
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
        outcome = TRANSFER_CLIENT === 'curl' ? await curlTransfer(url, scenario, upload, signal) : await transfer(url, scenario, agent, signal);
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

/** The pattern, N bytes of it, in a file curl can stream (made once per size, removed at exit). */
const files = new Map<number, string>();
async function uploadFile(bytes: number): Promise<string> {
  const made = files.get(bytes);
  if (made) return made;
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-upload-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, `pattern-${bytes}`);
  const out = createWriteStream(path);
  for (let left = bytes; left > 0; left -= CHUNK_BYTES) {
    if (!out.write(left >= CHUNK_BYTES ? CHUNK : CHUNK.subarray(0, left))) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  out.end();
  await finished(out);
  files.set(bytes, path);
  return path;
}

/** One transfer by curl: the status and byte counts from its --write-out line, the upload's answer from its output. */
function curlTransfer(url: string, scenario: Scenario, file: string | null, signal: AbortSignal): Promise<Outcome> {
  const target = `${url.replace(/\/$/, '')}${scenario.path}`;
  const args = ['-sS', '--max-time', String(TRANSFER_TIMEOUT_MS / 1000), '-w', '\n%{http_code} %{size_download} %{size_upload}'];
  // No "Expect: 100-continue": the servers differ in answering it, and it is not what is measured.
  if (file) args.push('-X', 'POST', '-T', file, '-H', 'Expect:', '-H', 'Content-Type: application/octet-stream', '-o', '-');
  else args.push('-o', '/dev/null');
  return new Promise((resolve, reject) => {
    execFile('curl', [...args, target], { signal, maxBuffer: 1024 * 1024, encoding: 'latin1' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${scenario.name}: curl: ${stderr.trim() || err.message}`));
      const lines = stdout.split('\n');
      const [status, downloaded, uploaded] = lines.pop()!.split(' ').map(Number) as [number, number, number];
      if (!file) {
        const wrong = downloaded === scenario.bodyBytes ? null : `download: got ${downloaded} bytes, expected ${scenario.bodyBytes}`;
        return resolve({ status, bytes: downloaded, wrong: status === 200 ? wrong : `status ${status}` });
      }
      const answer = lines.join('\n');
      const wrong = answer === scenario.expectBody ? null : `upload: the app counted ${JSON.stringify(answer.slice(0, 64))}, expected ${scenario.expectBody}`;
      resolve({ status, bytes: uploaded, wrong: status === 200 ? wrong : `status ${status}: ${answer.slice(0, 64)}` });
    });
  });
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
