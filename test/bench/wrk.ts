/**
 * wrk as a child process on the load CPU, one thread. A Lua `done` hook prints the summary
 * as one JSON line, so nothing depends on wrk's human-readable output. wrk cannot check
 * bodies cheaply; the probe before each measurement does, and the report says so.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadResult, LoadRun, LoadTool } from './load.js';
import { isRunning, type Processes } from './processes.js';

const MARK = 'TSGI_BENCH ';

// Latency percentiles come in microseconds; errors.status counts responses outside 2xx/3xx.
const SCRIPT = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('${MARK}{"requests":%.0f,"bytes":%.0f,"durationUs":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,"p50Us":%.1f,"p99Us":%.1f}\\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;

interface WrkSummary {
  requests: number;
  bytes: number;
  durationUs: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50Us: number;
  p99Us: number;
}

export interface WrkOptions {
  version: string;
  processes: Processes;
  cpu: number | null;
  root: string;
  /** The run's temporary directory, for the Lua script. */
  dir: string;
}

export function wrkTool(options: WrkOptions): LoadTool {
  const script = join(options.dir, 'wrk-summary.lua');
  writeFileSync(script, SCRIPT);
  return {
    name: 'wrk',
    version: options.version,
    limits: ['bodies are checked by the probe before each measurement, not for every response under load', '3xx counts as success'],
    run: (run) => runWrk(options, script, run),
  };
}

async function runWrk(options: WrkOptions, script: string, run: LoadRun): Promise<LoadResult> {
  run.signal.throwIfAborted();
  const args = ['-t1', `-c${run.connections}`, `-d${run.durationS}s`, '--timeout', '10s', '-s', script, run.url];
  const child = options.processes.spawn('wrk', 'wrk', args, { cwd: options.root, cpu: options.cpu, output: 'pipe' });
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  const onAbort = () => void options.processes.stop(child, 1000);
  run.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode) => resolve(exitCode));
    });
    run.signal.throwIfAborted();
    const line = stdout.split('\n').find((l) => l.startsWith(MARK));
    if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}): ${stdout.trim().slice(-500)}`);
    return summarise(JSON.parse(line.slice(MARK.length)) as WrkSummary);
  } finally {
    run.signal.removeEventListener('abort', onAbort);
    if (isRunning(child)) await options.processes.stop(child, 1000);
  }
}

function summarise(s: WrkSummary): LoadResult {
  const durationS = s.durationUs / 1e6;
  const good = s.requests - s.status;
  return {
    requests: s.requests,
    good,
    durationS,
    rps: durationS > 0 ? good / durationS : 0,
    bytes: s.bytes,
    p50Ms: s.p50Us / 1000,
    p99Ms: s.p99Us / 1000,
    non2xx: s.status,
    errors: s.connect + s.read + s.write,
    timeouts: s.timeout,
    mismatches: 0,
    statusCodes: {},
    minPerSecond: null,
  };
}
