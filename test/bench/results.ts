/** The JSON file of a run in test/bench/results/ (gitignored): options, summaries, every measurement. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { LoadTool } from './load.js';
import type { Measurement } from './measure.js';
import type { BenchOptions } from './options.js';
import { skipped, type Plan } from './plan.js';
import type { Pinning } from './processes.js';
import type { SystemSummary } from './report.js';

export interface Results {
  options: BenchOptions;
  tool: LoadTool;
  pinning: Pinning;
  plans: Plan[];
  summaries: SystemSummary[];
  measurements: Measurement[];
}

export function writeResults(dir: string, { options, tool, pinning, plans, summaries, measurements }: Results): string {
  const date = new Date().toISOString();
  const json = {
    benchmark: 'tsgi suite (issue #7)',
    date,
    node: process.version,
    cpu: { count: cpus().length, model: cpus()[0]?.model ?? 'unknown' },
    pinning,
    loadGenerator: { name: tool.name, version: tool.version, limits: tool.limits },
    options,
    scenarios: plans.map((p) => ({ ...p.scenario, baseline: p.baseline, systems: p.systems.map((s) => ({ name: s.name, describe: s.describe })) })),
    skipped: [...skipped],
    summary: summaries,
    measurements,
  };
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(json, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? null : value), 2)}\n`);
  return file;
}

