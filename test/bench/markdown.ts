/**
 * The same summaries as Markdown tables, ready for test/bench/RESULTS.md
 * (`--markdown`): one table per scenario, the columns a reader compares.
 */
import { formatSpread } from './fairness.js';
import type { SystemSummary } from './report.js';
import type { Scenario } from './scenarios.js';

export function markdown(scenario: Scenario, summaries: readonly SystemSummary[], baseline: string): string {
  const rows = summaries.map((s) => (scenario.kind === 'idle' ? idleRow(s) : speedRow(s)));
  const head =
    scenario.kind === 'idle'
      ? ['system', 'KiB/connection', `vs ${baseline}`, 'peak RSS MiB', 'idle CPU ms/s']
      : ['system', 'req/s', `vs ${baseline}`, 'p50 ms', 'p99 ms', 'MB/s', 'peak RSS MiB', 'core busy', 'per connection'];
  return [
    `**${scenario.name}** — ${scenario.describe}`,
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
  ].join('\n');
}

function speedRow(s: SystemSummary): string[] {
  return [name(s), count(s.rps), times(s.ratio), fixed(s.p50Ms, 2), fixed(s.p99Ms, 2), fixed(s.mbPerS, 1), mib(s.peakRssBytes), percent(s.coreBusyPercent), formatSpread(s.spread, '–')];
}

function idleRow(s: SystemSummary): string[] {
  return [name(s), fixed(s.bytesPerConnection / 1024, 1), times(s.ratio), mib(s.peakRssBytes), fixed(s.idleCpuMsPerS, 1)];
}

function name(s: SystemSummary): string {
  return s.ok ? s.system : `${s.system} (BROKEN)`;
}

function count(n: number): string {
  if (!Number.isFinite(n)) return '-';
  return n < 10 ? n.toFixed(2) : Math.round(n).toLocaleString('en-US');
}

function times(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(2)}×` : '-';
}

function fixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

function percent(n: number): string {
  return Number.isFinite(n) ? `${Math.round(n)} %` : '-';
}

function mib(n: number): string {
  return Number.isFinite(n) ? (n / 1024 / 1024).toFixed(0) : '-';
}
