/**
 * One measurement: start a system, check its answers, warm it up, run one scenario while the
 * memory of all its processes is sampled, stop it (always) and read what it logged. A problem
 * is anything that makes the number meaningless (errors, non-2xx, wrong bodies or byte counts,
 * a crash); a note is anything odd that does not (log warnings, a slow stop).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { coreBusyPercent, coreTicks, cpuPerResponseByProcess, cpuSnapshot, loadCpuPercent, otherCpuPercent, processTicks, serverCpuPerResponseUs } from './cpu.js';
import { clientSocketBytes, spreadOf, type Spread } from './fairness.js';
import { idleFailures, runIdle, type IdleResult } from './idle.js';
import { failures, type LoadResult, type LoadTool } from './load.js';
import { hasFindings, scanLog, type LogFindings } from './logs.js';
import { MemorySampler, setupProcesses, statusBytes, type MemoryReport, type Root } from './memory.js';
import { checkHello, checkJson, checkPage } from './probe.js';
import { isRunning, type StopOutcome } from './processes.js';
import type { Scenario } from './scenarios.js';
import type { System, SystemContext } from './systems.js';
import { probeMs } from './speed.js';
import { runTransfers } from './transfer.js';

export interface Measurement {
  system: string;
  scenario: string;
  round: number;
  /** Nothing makes this run's numbers meaningless. */
  ok: boolean;
  problems: string[];
  notes: string[];
  /** The probe's response head: what each system actually sends. */
  responseHeaders?: string[];
  warmup?: LoadResult;
  result?: LoadResult;
  idle?: IdleResult;
  /** CPU other processes on the machine took during the measured run, % of one CPU. */
  otherCpuPercent?: number | null;
  /** CPU the load generator took during the measured run, % of one CPU. */
  loadCpuPercent?: number | null;
  /** CPU time the system's processes spent per correct response, µs (all its processes). */
  cpuUsPerResponse?: number | null;
  /** The same, per process label (proxy, runner.1, nginx.1, uwsgi.1...). */
  cpuUsByProcess?: Record<string, number>;
  /** How busy the server CPU was during the measured run (between its first and last second), % (interrupts included); null when not pinned. */
  coreBusyPercent?: number | null;
  /** How evenly the connections were served (load scenarios with several connections). */
  spread?: Spread | null;
  /** The speed probe's CPU ms on the server CPU before the system started and after it stopped (speed.ts). */
  probeMs?: [number | null, number | null];
  /** The same on the load generator's CPU (when pinned): a slow client slows a transfer too. */
  loadProbeMs?: [number | null, number | null];
  /** Peak memory of the setup's processes over the whole measurement, warm-up included. */
  memory: MemoryReport | null;
  stops: StopOutcome[];
  logs: Record<string, LogFindings>;
}

export interface MeasureSettings {
  tool: LoadTool;
  durationS: number;
  warmupS: number;
}

const STOP_GRACE_MS = 5000;
const CLIENT_BOUND_PERCENT = 90;
/** Connections of the idle scenario's warm-up load (then closed, before the baseline). */
const WARM_CONNECTIONS = 50;
/** Response heads are a few hundred bytes; more per response means bodies of the wrong size. */
const HEAD_ALLOWANCE = 2048;

export async function measure(system: System, scenario: Scenario, ctx: SystemContext, settings: MeasureSettings): Promise<Measurement> {
  const m: Measurement = { system: system.name, scenario: scenario.name, round: ctx.round, ok: false, problems: [], notes: [], memory: null, stops: [], logs: {} };
  let sampler: MemorySampler | null = null;
  const probeBefore = probeMs(ctx.cpu);
  const loadProbeBefore = ctx.loadCpu === null ? null : probeMs(ctx.loadCpu);
  try {
    const url = await system.start(ctx);
    sampler = new MemorySampler(roots(ctx)).start();
    await run(url, system, scenario, ctx, settings, m);
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    m.problems.push((err as Error).message);
  } finally {
    m.memory = sampler?.finish() ?? null;
    await stopAll(ctx, m);
    m.probeMs = [probeBefore, probeMs(ctx.cpu)];
    if (ctx.loadCpu !== null) m.loadProbeMs = [loadProbeBefore, probeMs(ctx.loadCpu)];
  }
  m.ok = m.problems.length === 0;
  return m;
}

/** SIGKILL when the process still exists (and is not a zombie); true when it had to be killed. */
function killLeftover(pid: number): boolean {
  if (statusBytes(pid, 'VmRSS') === null) return false;
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

function roots(ctx: SystemContext): Root[] {
  return ctx.started.map(({ name, child }) => ({ name, pid: child.pid }));
}

async function run(url: string, system: System, scenario: Scenario, ctx: SystemContext, settings: MeasureSettings, m: Measurement): Promise<void> {
  m.responseHeaders = (await checkHello(url)).rawHeaders;
  if (scenario.path === '/json') await checkJson(url);
  if (scenario.framework) await checkPage(url, scenario.path, scenario.expectBody!);
  if (scenario.kind === 'idle') {
    // The baseline is taken warm: JIT and lazily allocated buffers are not a connection's cost.
    if (settings.warmupS > 0) {
      m.warmup = await settings.tool.run({ url, connections: WARM_CONNECTIONS, durationS: settings.warmupS, expectBody: scenario.expectBody ?? undefined, signal: ctx.signal });
      for (const failure of failures(m.warmup)) m.problems.push(`warm-up: ${failure}`);
    }
    m.idle = await runIdle({
      root: ctx.root,
      port: Number(new URL(url).port),
      connections: scenario.connections,
      processes: ctx.processes,
      loadCpu: ctx.loadCpu,
      roots: roots(ctx),
      signal: ctx.signal,
    });
    m.problems.push(...idleFailures(m.idle));
  } else {
    const load = (durationS: number) => applyLoad(url, scenario, settings.tool, durationS, ctx.signal, m);
    if (settings.warmupS > 0) {
      m.warmup = await load(settings.warmupS);
      for (const failure of failures(m.warmup)) m.problems.push(`warm-up: ${failure}`);
    }
    // The processes as they are now (runner and nginx workers included) for the CPU accounting.
    const processes = setupProcesses(roots(ctx));
    const pids = [...processes.values()];
    const before = cpuSnapshot(pids);
    const beforeByProcess = processTicks(processes);
    // The server CPU's own figure means nothing for a setup that runs on both CPUs.
    const core = ctx.cpu === null || system.bothCpus ? null : ctx.cpu;
    const coreBefore = core === null ? null : coreTicks(core);
    const running = load(settings.durationS);
    // Awaited below; a load that fails while the window is read must not go unhandled.
    running.catch(() => {});
    const window = await readWindow(url, scenario, settings.durationS, core, ctx, running);
    m.result = await running;
    const after = cpuSnapshot(pids);
    m.coreBusyPercent = window ? window.coreBusyPercent : core === null ? null : coreBusyPercent(coreBefore, coreTicks(core));
    m.spread = window?.spread ?? null;
    m.cpuUsByProcess = cpuPerResponseByProcess(beforeByProcess, processTicks(processes), m.result.good);
    m.otherCpuPercent = otherCpuPercent(before, after);
    m.loadCpuPercent = loadCpuPercent(before, after);
    if ((m.loadCpuPercent ?? 0) > CLIENT_BOUND_PERCENT) {
      m.notes.push(`the load generator was busy ${Math.round(m.loadCpuPercent!)}% of its CPU: the client may have set the pace`);
    }
    m.cpuUsPerResponse = serverCpuPerResponseUs(before, after, m.result.good);
    m.problems.push(...failures(m.result), ...byteCountProblems(scenario, m.result));
    if (m.result.minPerSecond === 0) m.problems.push('a one-second sample had no responses at all (stall)');
  }
  for (const { name, child } of ctx.started) {
    if (!isRunning(child)) m.problems.push(`${name} exited during the run (code ${child.exitCode}, signal ${child.signalCode})`);
  }
  // Still answering correctly after the load, on a fresh connection.
  await checkHello(url).catch((err: Error) => m.problems.push(`after the run: ${err.message}`));
}

/** The first and the last second of a run are left out: connections opening, the client starting, then ending. */
const WINDOW_EDGE_S = 1;

interface WindowReadings {
  coreBusyPercent: number | null;
  spread: Spread | null;
}

/**
 * What is read inside the measured run, between its first and its last second: how busy the
 * server CPU was (a stall shows as idle time there, not diluted by the client's start and end)
 * and how evenly a load's connections were served (target 6). null when the run is too short
 * for a window or the load ended before it closed.
 */
async function readWindow(url: string, scenario: Scenario, durationS: number, core: number | null, ctx: SystemContext, running: Promise<unknown>): Promise<WindowReadings | null> {
  if (durationS < 3 * WINDOW_EDGE_S) return null;
  const port = Number(new URL(url).port);
  const connections = scenario.kind === 'load' && scenario.connections > 1 ? scenario.connections : 0;
  const read = async () => ({ core: core === null ? null : coreTicks(core), sockets: connections ? await clientSocketBytes(port, ctx.loadCpu) : null });
  if (!(await stillRunning(WINDOW_EDGE_S * 1000, running, ctx.signal))) return null;
  const first = await read();
  if (!(await stillRunning((durationS - 2 * WINDOW_EDGE_S) * 1000, running, ctx.signal))) return null;
  const last = await read();
  return { coreBusyPercent: coreBusyPercent(first.core, last.core), spread: connections ? spreadOf(first.sockets, last.sockets, connections) : null };
}

/** Waits `ms`; false when the load ended (or failed) first. */
async function stillRunning(ms: number, running: Promise<unknown>, signal: AbortSignal): Promise<boolean> {
  const ended = new AbortController();
  void running.then(
    () => ended.abort(),
    () => ended.abort(),
  );
  try {
    await sleep(ms, undefined, { signal: AbortSignal.any([signal, ended.signal]) });
    return true;
  } catch (err) {
    if (signal.aborted) throw err;
    return false;
  }
}

async function applyLoad(url: string, scenario: Scenario, tool: LoadTool, durationS: number, signal: AbortSignal, m: Measurement): Promise<LoadResult> {
  if (scenario.kind === 'transfer') {
    const { wrong, ...result } = await runTransfers(url, scenario, durationS, signal);
    m.problems.push(...wrong);
    return result;
  }
  const expectBody = scenario.expectBody ?? undefined;
  return tool.run({ url: new URL(scenario.path.slice(1), url).href, connections: scenario.connections, durationS, expectBody, signal });
}

/** The load tools count bytes, not bodies: the bytes per response must fit the body size. */
function byteCountProblems(scenario: Scenario, result: LoadResult): string[] {
  if (scenario.kind !== 'load' || result.requests === 0) return [];
  const perResponse = result.bytes / result.requests;
  if (perResponse >= scenario.bodyBytes && perResponse <= scenario.bodyBytes + HEAD_ALLOWANCE) return [];
  return [`${Math.round(perResponse)} bytes per response, expected the ${scenario.bodyBytes}-byte body plus a head of at most ${HEAD_ALLOWANCE}`];
}

/**
 * Reverse start order (tsgi: proxy first, then the runner it was talking to); then any worker
 * that outlived its stopped parent (nginx, uWSGI, runner workers) is killed by its PID.
 */
async function stopAll(ctx: SystemContext, m: Measurement): Promise<void> {
  const rootPids = new Set(ctx.started.map(({ child }) => child.pid));
  const tree = [...setupProcesses(roots(ctx))].filter(([, pid]) => !rootPids.has(pid));
  for (const { name, child, log, logKind } of [...ctx.started].reverse()) {
    const outcome = await ctx.processes.stop(child, STOP_GRACE_MS);
    m.stops.push(outcome);
    if (outcome.killed) m.notes.push(`${name} did not stop within ${STOP_GRACE_MS} ms of SIGTERM; killed`);
    else if (outcome.code !== null && outcome.code !== 0) m.notes.push(`${name} exited with code ${outcome.code} on SIGTERM`);
    m.logs[name] = scanLog(log, logKind);
    const f = m.logs[name]!;
    if (hasFindings(f)) m.notes.push(`${name} logged ${f.errors} errors, ${f.warnings} warnings, ${f.other} other lines: ${f.samples[0] ?? ''}`);
  }
  for (const [label, pid] of tree) {
    if (killLeftover(pid)) m.notes.push(`${label} (pid ${pid}) outlived its parent; killed`);
  }
  ctx.started.length = 0;
}
