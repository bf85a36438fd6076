/**
 * From measurements to the report: per system the median over rounds of requests/s, p50 and
 * p99 (each taken separately), the ratio to node:http direct, and whether every round was clean.
 */
import type { Measurement } from './measure.js';

export interface SystemSummary {
  system: string;
  ok: boolean;
  rounds: number;
  rps: number;
  /** Median requests/s over the median of node:http direct. */
  ratio: number;
  p50Ms: number;
  p99Ms: number;
  rpsPerRound: number[];
  /** Median CPU time the system's processes spent per correct response, µs. */
  cpuUsPerResponse: number;
  /** Median CPU other processes took during the measured runs, % of one CPU. */
  otherCpuPercent: number;
  problems: string[];
  notes: string[];
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarise(systems: readonly string[], measurements: readonly Measurement[], baseline: string): SystemSummary[] {
  const summaries = systems.map((system) => {
    const runs = measurements.filter((m) => m.system === system);
    const results = runs.flatMap((m) => (m.result ? [m.result] : []));
    return {
      system,
      ok: runs.length > 0 && runs.every((m) => m.ok),
      rounds: results.length,
      rps: median(results.map((r) => r.rps)),
      ratio: NaN,
      p50Ms: median(results.map((r) => r.p50Ms)),
      p99Ms: median(results.map((r) => r.p99Ms)),
      rpsPerRound: results.map((r) => r.rps),
      cpuUsPerResponse: median(numbers(runs.map((m) => m.cpuUsPerResponse))),
      otherCpuPercent: median(numbers(runs.map((m) => m.otherCpuPercent))),
      problems: byRounds(runs, (m) => m.problems),
      notes: byRounds(runs, (m) => m.notes),
    };
  });
  const base = summaries.find((s) => s.system === baseline)?.rps ?? NaN;
  for (const s of summaries) s.ratio = s.rps / base;
  return summaries;
}

/** Each distinct message once, with the rounds it came up in ("rounds 1, 3: ..."). */
function byRounds(runs: readonly Measurement[], messages: (m: Measurement) => string[]): string[] {
  const rounds = new Map<string, number[]>();
  for (const m of runs) {
    // A log sample quotes a PID; leave it out when telling messages apart.
    for (const text of messages(m)) {
      const key = text.replace(/\(node:\d+\)/g, '(node)');
      rounds.set(key, [...(rounds.get(key) ?? []), m.round]);
    }
  }
  return [...rounds].map(([text, r]) => `round${r.length > 1 ? 's' : ''} ${r.join(', ')}: ${text}`);
}

const COLUMNS = ['system', 'req/s', 'vs node:http', 'p50 ms', 'p99 ms', 'req/s per round', 'cpu µs/req', "others' cpu", 'check'];
const RIGHT = new Set([1, 2, 3, 4, 6, 7]);

export function table(summaries: readonly SystemSummary[]): string {
  const rows = summaries.map((s) => [
    s.system,
    count(s.rps),
    Number.isFinite(s.ratio) ? `${s.ratio.toFixed(2)}x` : '-',
    ms(s.p50Ms),
    ms(s.p99Ms),
    s.rpsPerRound.map(count).join(' / ') || '-',
    Number.isFinite(s.cpuUsPerResponse) ? s.cpuUsPerResponse.toFixed(0) : '-',
    Number.isFinite(s.otherCpuPercent) ? `${Math.round(s.otherCpuPercent)}%` : '-',
    s.ok ? 'ok' : `BROKEN (${s.problems.length} problem${s.problems.length === 1 ? '' : 's'}, see below)`,
  ]);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (RIGHT.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(COLUMNS), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function numbers(values: (number | null | undefined)[]): number[] {
  return values.filter((v): v is number => typeof v === 'number');
}

function count(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-';
}

function ms(n: number): string {
  return Number.isFinite(n) ? n.toFixed(2) : '-';
}
