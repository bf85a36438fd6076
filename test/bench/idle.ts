/**
 * The idle scenario: the setup's RSS (all its processes) after one GET on a fresh connection,
 * then with N more connections that each made one keep-alive request and now sit idle. The
 * delta over N is what one idle connection costs the server side. The client is idle-client.js,
 * its own process on the load CPU, as it needs a file descriptor per connection.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuMsPerSecondByProcess, processRunNs } from './cpu.js';
import { rssByProcess, setupProcesses, sum, type Root } from './memory.js';
import type { Processes } from './processes.js';

export interface IdleResult {
  requested: number;
  /** Connections open and answered when the memory was measured. */
  held: number;
  /** Still open when the client checked, after the measurement. */
  stillOpen: number;
  failures: Record<string, number>;
  openingMs: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  /** (after - before) / held. */
  bytesPerConnection: number | null;
  /** The same per process (which one pays: the proxy, nginx's worker …). */
  bytesPerConnectionByProcess: Record<string, number>;
  /** CPU the setup spent doing nothing (one connection, no requests), ms per second; null if unreadable. */
  idleCpuMsPerS: number | null;
  idleCpuMsPerSByProcess: Record<string, number>;
}

export interface IdleRun {
  root: string;
  port: number;
  connections: number;
  processes: Processes;
  loadCpu: number | null;
  /** The setup's processes (their descendants are found and counted too). */
  roots: Root[];
  signal: AbortSignal;
}

/** Lets lazily allocated memory settle before each reading. */
const SETTLE_MS = 1000;
/**
 * How long the setup's CPU is watched while it has nothing to do, before the connections
 * open: heartbeats, timers, a master's rounds. Scheduler time in ns (schedstat), since an idle
 * second costs a few ms at most and the 10 ms clock ticks of /proc/PID/stat would not show it.
 * The watch begins IDLE_CPU_SETTLE_MS after start: a Node process's V8 runs a last collection
 * and compiles some 5-10 s after it starts (10 ms a second of a runner master's CPU then), a
 * cost of starting, not of idling.
 */
const IDLE_CPU_SETTLE_MS = 10_000;
const IDLE_CPU_MS = 5000;
const READY_TIMEOUT_MS = 120_000;

interface ClientReport {
  requested: number;
  open: number;
  closedByServer: number;
  failures: Record<string, number>;
  openingMs?: number;
}

export async function runIdle(run: IdleRun): Promise<IdleResult> {
  await sleep(SETTLE_MS, undefined, { signal: run.signal });
  const idleCpu = await idleCpuMsPerS(run);
  const before = rssByProcess(run.roots);
  const client = run.processes.spawn('idle-client', process.execPath, [`${run.root}dist/test/bench/idle-client.js`, String(run.port), String(run.connections)], {
    cwd: run.root,
    cpu: run.loadCpu,
    output: 'pipe',
    input: 'pipe',
  });
  const lines = createInterface({ input: client.stdout! })[Symbol.asyncIterator]();
  const next = async (mark: string): Promise<ClientReport> => {
    // The timer goes when the line comes: no listener is left on the run's signal.
    const timer = new AbortController();
    const timeout = sleep(READY_TIMEOUT_MS, null, { signal: AbortSignal.any([run.signal, timer.signal]) }).catch((err: Error) => {
      if (run.signal.aborted) throw err;
      return null;
    });
    const line = await Promise.race([lines.next(), timeout]).finally(() => timer.abort());
    run.signal.throwIfAborted();
    if (line === null || line.done) throw new Error(`idle client: no ${mark} line (exit code ${client.exitCode}, signal ${client.signalCode})`);
    if (!line.value.startsWith(`${mark} `)) throw new Error(`idle client: unexpected output ${JSON.stringify(line.value.slice(0, 200))}`);
    return JSON.parse(line.value.slice(mark.length + 1)) as ClientReport;
  };
  try {
    const ready = await next('READY');
    await sleep(SETTLE_MS, undefined, { signal: run.signal });
    const after = rssByProcess(run.roots);
    client.stdin!.write('check\n');
    const done = await next('DONE');
    return {
      requested: run.connections,
      held: ready.open,
      stillOpen: done.open,
      failures: ready.failures,
      openingMs: ready.openingMs ?? NaN,
      rssBeforeBytes: sum(before),
      rssAfterBytes: sum(after),
      bytesPerConnection: ready.open > 0 ? (sum(after) - sum(before)) / ready.open : null,
      bytesPerConnectionByProcess: Object.fromEntries(Object.keys(after).map((label) => [label, (after[label]! - (before[label] ?? 0)) / Math.max(1, ready.open)])),
      idleCpuMsPerS: idleCpu ? sum(idleCpu) : null,
      idleCpuMsPerSByProcess: idleCpu ?? {},
    };
  } finally {
    await run.processes.stop(client, 2000);
  }
}

/** CPU ms per second of each of the setup's processes over IDLE_CPU_MS of nothing to do, once settled; null if unreadable. */
async function idleCpuMsPerS(run: IdleRun): Promise<Record<string, number> | null> {
  await sleep(IDLE_CPU_SETTLE_MS, undefined, { signal: run.signal });
  const processes = setupProcesses(run.roots);
  const start = processRunNs(processes);
  const startedAt = performance.now();
  await sleep(IDLE_CPU_MS, undefined, { signal: run.signal });
  const end = processRunNs(processes);
  if (start.size === 0 || end.size === 0) return null;
  return cpuMsPerSecondByProcess(start, end, (performance.now() - startedAt) / 1000);
}

/** What makes an idle measurement meaningless. */
export function idleFailures(r: IdleResult): string[] {
  const found: string[] = [];
  const failed = Object.entries(r.failures);
  if (failed.length > 0) found.push(`${r.requested - r.held} of ${r.requested} connections failed: ${failed.map(([why, n]) => `${n}× ${why}`).join(', ')}`);
  if (r.stillOpen < r.held) found.push(`the server closed ${r.held - r.stillOpen} idle connections before the check`);
  return found;
}
