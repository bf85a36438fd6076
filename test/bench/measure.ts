/**
 * One measurement: start a system, check its answer on a keep-alive connection, warm it up,
 * measure, note its memory, stop it (always) and read what it logged. A problem is anything
 * that makes the number meaningless (errors, non-2xx, wrong bodies, a crash); a note is
 * anything odd that does not (log warnings, a slow stop).
 */
import { cpuSnapshot, otherCpuPercent, serverCpuPerResponseUs } from './cpu.js';
import { failures, type LoadResult, type LoadTool } from './load.js';
import { hasFindings, scanLog, type LogFindings } from './logs.js';
import { HELLO, checkHello } from './probe.js';
import { isRunning, residentBytes, type StopOutcome } from './processes.js';
import type { System, SystemContext } from './systems.js';

export interface Measurement {
  system: string;
  round: number;
  /** Nothing makes this run's numbers meaningless. */
  ok: boolean;
  problems: string[];
  notes: string[];
  /** The probe's response head: what each system actually sends. */
  responseHeaders?: string[];
  warmup?: LoadResult;
  result?: LoadResult;
  /** CPU other processes on the machine took during the measured run, % of one CPU. */
  otherCpuPercent?: number | null;
  /** CPU time the system's processes spent per correct response, µs (all its processes). */
  cpuUsPerResponse?: number | null;
  /** Resident memory of each process right after the measured run. */
  rssBytes: Record<string, number | null>;
  stops: StopOutcome[];
  logs: Record<string, LogFindings>;
}

export interface MeasureSettings {
  tool: LoadTool;
  connections: number;
  durationS: number;
  warmupS: number;
}

const STOP_GRACE_MS = 5000;

export async function measure(system: System, ctx: SystemContext, settings: MeasureSettings): Promise<Measurement> {
  const m: Measurement = { system: system.name, round: ctx.round, ok: false, problems: [], notes: [], rssBytes: {}, stops: [], logs: {} };
  try {
    await run(system, ctx, settings, m);
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    m.problems.push((err as Error).message);
  } finally {
    await stopAll(ctx, m);
  }
  m.ok = m.problems.length === 0;
  return m;
}

async function run(system: System, ctx: SystemContext, settings: MeasureSettings, m: Measurement): Promise<void> {
  const url = await system.start(ctx);
  m.responseHeaders = (await checkHello(url)).rawHeaders;
  const load = { url, connections: settings.connections, expectBody: HELLO, signal: ctx.signal };
  if (settings.warmupS > 0) {
    m.warmup = await settings.tool.run({ ...load, durationS: settings.warmupS });
    for (const failure of failures(m.warmup)) m.problems.push(`warm-up: ${failure}`);
  }
  const pids = ctx.started.map(({ child }) => child.pid);
  const before = cpuSnapshot(pids);
  m.result = await settings.tool.run({ ...load, durationS: settings.durationS });
  const after = cpuSnapshot(pids);
  m.otherCpuPercent = otherCpuPercent(before, after);
  m.cpuUsPerResponse = serverCpuPerResponseUs(before, after, m.result.good);
  m.problems.push(...failures(m.result));
  if (m.result.minPerSecond === 0) m.problems.push('a one-second sample had no responses at all (stall)');
  for (const { name, child } of ctx.started) {
    m.rssBytes[name] = residentBytes(child.pid);
    if (!isRunning(child)) m.problems.push(`${name} exited during the run (code ${child.exitCode}, signal ${child.signalCode})`);
  }
  // Still answering correctly after the load, on a fresh connection.
  await checkHello(url).catch((err: Error) => m.problems.push(`after the run: ${err.message}`));
}

/** Reverse start order (tsgi: proxy first, then the runner it was talking to). */
async function stopAll(ctx: SystemContext, m: Measurement): Promise<void> {
  for (const { name, child, log } of [...ctx.started].reverse()) {
    const outcome = await ctx.processes.stop(child, STOP_GRACE_MS);
    m.stops.push(outcome);
    if (outcome.killed) m.notes.push(`${name} did not stop within ${STOP_GRACE_MS} ms of SIGTERM; killed`);
    else if (outcome.code !== null && outcome.code !== 0) m.notes.push(`${name} exited with code ${outcome.code} on SIGTERM`);
    m.logs[name] = scanLog(log);
    const f = m.logs[name]!;
    if (hasFindings(f)) m.notes.push(`${name} logged ${f.errors} errors, ${f.warnings} warnings, ${f.other} other lines: ${f.samples[0] ?? ''}`);
  }
  ctx.started.length = 0;
}
