/**
 * From measurements to the report, per scenario and system: medians over runs of requests/s,
 * p50, p99 and MB/s (each taken separately), the ratio to node:http direct, the highest peak
 * RSS (the setup's sum, and each process's), and whether every run was clean. The idle
 * scenario reports memory per connection instead of speed.
 */
import { formatSpread, type Spread } from './fairness.js';
import { median } from './median.js';
import { slowest } from './speed.js';
import type { Measurement } from './measure.js';
import type { ScenarioKind } from './scenarios.js';

export interface SystemSummary {
  system: string;
  scenario: string;
  ok: boolean;
  rounds: number;
  rps: number;
  /** Median requests/s over the median of node:http direct (idle: bytes per connection). */
  ratio: number;
  p50Ms: number;
  p99Ms: number;
  /** Median of bytes moved per second, in MB (10^6 bytes). */
  mbPerS: number;
  rpsPerRound: number[];
  /** Median CPU time the system's processes spent per correct response, µs. */
  cpuUsPerResponse: number;
  /** Median per process label of the CPU µs per response. */
  cpuUsByProcess: Record<string, number>;
  /** Median CPU other processes took during the measured runs, % of one CPU. */
  otherCpuPercent: number;
  /** Median CPU the load generator took, % of its one CPU. */
  loadCpuPercent: number;
  /** Median over runs of the slower of each run's two speed probes, ms (speed.ts). */
  probeMs: number;
  /** Median of how busy the server CPU was, % (interrupts included). */
  coreBusyPercent: number;
  /** Extremes over runs: the lowest share of a slowest connection, the highest of a fastest one. */
  spread: Spread | null;
  /** Highest over runs of the peak sum of VmRSS over the setup's processes. */
  peakRssBytes: number;
  /** Highest over runs, per process label. */
  peakRssByProcess: Record<string, number>;
  /** Idle scenario: median RSS delta per held connection, and connections held. */
  bytesPerConnection: number;
  /** Idle scenario: the median delta per connection of each process. */
  bytesPerConnectionByProcess: Record<string, number>;
  connectionsHeld: number;
  /** Idle scenario: median CPU ms per second the setup spent with nothing to do, and by process. */
  idleCpuMsPerS: number;
  idleCpuMsPerSByProcess: Record<string, number>;
  problems: string[];
  notes: string[];
}

export function summarise(scenario: string, systems: readonly string[], measurements: readonly Measurement[], baseline: string): SystemSummary[] {
  const summaries = systems.map((system) => summariseOne(scenario, system, measurements.filter((m) => m.system === system && m.scenario === scenario)));
  const base = summaries.find((s) => s.system === baseline);
  for (const s of summaries) s.ratio = Number.isFinite(s.bytesPerConnection) ? s.bytesPerConnection / (base?.bytesPerConnection ?? NaN) : s.rps / (base?.rps ?? NaN);
  return summaries;
}

function summariseOne(scenario: string, system: string, runs: readonly Measurement[]): SystemSummary {
  const results = runs.flatMap((m) => (m.result ? [m.result] : []));
  const idle = runs.flatMap((m) => (m.idle ? [m.idle] : []));
  const byProcess: Record<string, number> = {};
  for (const m of runs) for (const [label, bytes] of Object.entries(m.memory?.peakBytes ?? {})) byProcess[label] = Math.max(byProcess[label] ?? 0, bytes);
  return {
    system,
    scenario,
    ok: runs.length > 0 && runs.every((m) => m.ok),
    rounds: runs.length,
    rps: median(results.map((r) => r.rps)),
    ratio: NaN,
    p50Ms: median(results.map((r) => r.p50Ms)),
    p99Ms: median(results.map((r) => r.p99Ms)),
    mbPerS: median(results.map((r) => r.bytes / r.durationS / 1e6)),
    rpsPerRound: results.map((r) => r.rps),
    cpuUsPerResponse: median(numbers(runs.map((m) => m.cpuUsPerResponse))),
    cpuUsByProcess: medianByLabel(runs.map((m) => m.cpuUsByProcess ?? {})),
    otherCpuPercent: median(numbers(runs.map((m) => m.otherCpuPercent))),
    loadCpuPercent: median(numbers(runs.map((m) => m.loadCpuPercent))),
    coreBusyPercent: median(numbers(runs.map((m) => m.coreBusyPercent))),
    probeMs: median(numbers(runs.map((m) => slowest(m.probeMs)))),
    spread: leastEven(runs.flatMap((m) => (m.spread ? [m.spread] : []))),
    peakRssBytes: highest(numbers(runs.map((m) => m.memory?.peakSumBytes))),
    peakRssByProcess: byProcess,
    bytesPerConnection: median(numbers(idle.map((r) => r.bytesPerConnection))),
    bytesPerConnectionByProcess: medianByLabel(idle.map((r) => r.bytesPerConnectionByProcess)),
    connectionsHeld: median(idle.map((r) => r.held)),
    idleCpuMsPerS: median(numbers(idle.map((r) => r.idleCpuMsPerS))),
    idleCpuMsPerSByProcess: medianByLabel(idle.map((r) => r.idleCpuMsPerSByProcess)),
    problems: byRounds(runs, (m) => m.problems),
    notes: byRounds(runs, (m) => m.notes),
  };
}

function leastEven(spreads: readonly Spread[]): Spread | null {
  if (spreads.length === 0) return null;
  return {
    minShare: Math.min(...spreads.map((s) => s.minShare)),
    maxShare: Math.max(...spreads.map((s) => s.maxShare)),
    connections: Math.min(...spreads.map((s) => s.connections)),
  };
}

function medianByLabel(records: readonly Record<string, number>[]): Record<string, number> {
  const labels = [...new Set(records.flatMap((r) => Object.keys(r)))];
  return Object.fromEntries(labels.map((label) => [label, median(numbers(records.map((r) => r[label])))]));
}

/** Each distinct message once, with the rounds it came up in ("rounds 1, 3: ..."). */
function byRounds(runs: readonly Measurement[], messages: (m: Measurement) => string[]): string[] {
  const rounds = new Map<string, number[]>();
  for (const m of runs) {
    // A log sample quotes a PID; leave it out when telling messages apart.
    for (const text of messages(m)) {
      const key = text.replace(/\(node:\d+\)/g, '(node)').replace(/pid \d+/g, 'pid …');
      rounds.set(key, [...(rounds.get(key) ?? []), m.round]);
    }
  }
  return [...rounds].map(([text, r]) => `run${r.length > 1 ? 's' : ''} ${r.join(', ')}: ${text}`);
}

interface Column {
  title: string;
  right: boolean;
  cell(s: SystemSummary): string;
}

const col = (title: string, right: boolean, cell: (s: SystemSummary) => string): Column => ({ title, right, cell });

const SYSTEM = col('system', false, (s) => s.system);
const LOAD_CPU = col('client cpu', true, (s) => (Number.isFinite(s.loadCpuPercent) ? `${Math.round(s.loadCpuPercent)}%` : '-'));
const CHECK = col('check', false, (s) => (s.ok ? 'ok' : `BROKEN (${s.problems.length} problem${s.problems.length === 1 ? '' : 's'}, see below)`));
const PEAK = col('peak RSS MiB', true, (s) => mibs(s.peakRssBytes));
const PER_PROCESS = col('per process (peak MiB)', false, (s) => perProcess(s.peakRssByProcess));

const speed = (baseline: string): Column[] => [
  SYSTEM,
  col('req/s', true, (s) => count(s.rps)),
  col(`vs ${baseline}`, true, (s) => ratio(s.ratio)),
  col('p50 ms', true, (s) => ms(s.p50Ms)),
  col('p99 ms', true, (s) => ms(s.p99Ms)),
  col('MB/s', true, (s) => (Number.isFinite(s.mbPerS) ? s.mbPerS.toFixed(1) : '-')),
  PEAK,
  col('cpu µs/req', true, (s) => (Number.isFinite(s.cpuUsPerResponse) ? s.cpuUsPerResponse.toFixed(0) : '-')),
  col('core busy', true, (s) => (Number.isFinite(s.coreBusyPercent) ? `${Math.round(s.coreBusyPercent)}%` : '-')),
  col('per connection', true, (s) => formatSpread(s.spread)),
  LOAD_CPU,
  col('probe ms', true, (s) => (Number.isFinite(s.probeMs) ? s.probeMs.toFixed(0) : '-')),
  col("others' cpu", true, (s) => (Number.isFinite(s.otherCpuPercent) ? `${Math.round(s.otherCpuPercent)}%` : '-')),
  CHECK,
  col('cpu µs/req by process', false, (s) => cpuByProcess(s.cpuUsByProcess)),
  PER_PROCESS,
];

const memory = (baseline: string): Column[] => [
  SYSTEM,
  col('connections', true, (s) => count(s.connectionsHeld)),
  col('KiB/connection', true, (s) => (Number.isFinite(s.bytesPerConnection) ? (s.bytesPerConnection / 1024).toFixed(1) : '-')),
  col(`vs ${baseline}`, true, (s) => ratio(s.ratio)),
  PEAK,
  CHECK,
  col('idle cpu ms/s', true, (s) => (Number.isFinite(s.idleCpuMsPerS) ? s.idleCpuMsPerS.toFixed(1) : '-')),
  col('KiB/connection by process', false, (s) => oneDecimalByProcess(s.bytesPerConnectionByProcess, 1024)),
  col('idle cpu ms/s by process', false, (s) => oneDecimalByProcess(s.idleCpuMsPerSByProcess)),
];

export function table(kind: ScenarioKind, summaries: readonly SystemSummary[], baseline: string): string {
  const columns = kind === 'idle' ? memory(baseline) : speed(baseline);
  const rows = summaries.map((s) => columns.map((c) => c.cell(s)));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (columns[i]!.right ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.title)), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** `label value` for each process, the value divided by `unit` with one decimal. */
function oneDecimalByProcess(values: Record<string, number>, unit = 1): string {
  return Object.entries(values).map(([label, value]) => `${label} ${Number.isFinite(value) ? (value / unit).toFixed(1) : '-'}`).join(', ') || '-';
}

/** Processes that spent next to nothing (a master, nginx's master) are left out. */
function cpuByProcess(values: Record<string, number>): string {
  const shown = Object.entries(values).filter(([, us]) => Number.isFinite(us) && us >= 0.5);
  const digits = (us: number) => (us >= 1000 ? `${(us / 1000).toFixed(1)}k` : us.toFixed(0));
  return shown.map(([label, us]) => `${label} ${digits(us)}`).join(', ') || '-';
}

function perProcess(peaks: Record<string, number>): string {
  return Object.entries(peaks).map(([label, bytes]) => `${label} ${mibs(bytes)}`).join(', ') || '-';
}

function highest(values: number[]): number {
  return values.length ? Math.max(...values) : NaN;
}

function numbers(values: (number | null | undefined)[]): number[] {
  return values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
}

function count(n: number): string {
  if (!Number.isFinite(n)) return '-';
  // Transfers of hundreds of MiB take seconds each.
  return n < 10 ? n.toFixed(2) : Math.round(n).toLocaleString('en-US');
}

function ratio(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(2)}x` : '-';
}

function ms(n: number): string {
  return Number.isFinite(n) ? n.toFixed(2) : '-';
}

function mibs(n: number): string {
  return Number.isFinite(n) ? (n / 1024 / 1024).toFixed(0) : '-';
}
