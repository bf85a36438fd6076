/**
 * The load generator behind one interface: wrk when it is on PATH (it costs less CPU, so the
 * ceiling it measures is higher), otherwise autocannon from node_modules, used in-process.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { autocannonTool } from './autocannon.js';
import { SetupError } from './errors.js';
import type { Processes } from './processes.js';
import { wrkTool } from './wrk.js';

export interface LoadRun {
  url: string;
  connections: number;
  durationS: number;
  /** Every response body must equal this (checked where the tool can do it cheaply). */
  expectBody?: string;
  signal: AbortSignal;
}

export interface LoadResult {
  /** Completed responses over the measured time. */
  requests: number;
  /** Of those, 2xx with the expected body: the only ones counted in rps. */
  good: number;
  durationS: number;
  rps: number;
  /** Bytes read from the server (response heads included), or body bytes moved by a transfer. */
  bytes: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  /** Connect/read/write errors (socket level). */
  errors: number;
  timeouts: number;
  /** 2xx responses whose body was not the expected one (autocannon only). */
  mismatches: number;
  statusCodes: Record<string, number>;
  /** Fewest responses in any one-second sample (autocannon only): 0 means a stall. */
  minPerSecond: number | null;
}

export interface LoadTool {
  name: string;
  version: string;
  /** What this tool cannot check, for the report. */
  limits: string[];
  run(run: LoadRun): Promise<LoadResult>;
}

/** Problems a run must not have; a system with any is broken, however fast it looked. */
export function failures(result: LoadResult): string[] {
  const found: string[] = [];
  if (result.non2xx > 0) found.push(`${result.non2xx} non-2xx (${JSON.stringify(result.statusCodes)})`);
  if (result.errors > 0) found.push(`${result.errors} errors`);
  if (result.timeouts > 0) found.push(`${result.timeouts} timeouts`);
  if (result.mismatches > 0) found.push(`${result.mismatches} wrong bodies${result.non2xx > 0 ? ' (the non-2xx included)' : ''}`);
  if (result.good === 0) found.push('no correct responses at all');
  return found;
}

export type ToolChoice = 'auto' | 'wrk' | 'autocannon';

export interface ToolContext {
  root: string;
  dir: string;
  processes: Processes;
  loadCpu: number | null;
}

export function chooseTool(choice: ToolChoice, { root, dir, processes, loadCpu }: ToolContext): LoadTool {
  const wrk = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  const wrkFound = wrk.error === undefined;
  if (choice === 'wrk' || (choice === 'auto' && wrkFound)) {
    if (!wrkFound) throw new SetupError('--tool wrk: wrk is not on PATH (Debian: apt-get install wrk)');
    const version = /wrk\s+(\S+)/.exec(`${wrk.stdout}${wrk.stderr}`)?.[1] ?? 'unknown';
    return wrkTool({ version, processes, cpu: loadCpu, root, dir });
  }
  if (!existsSync(`${root}node_modules/autocannon/package.json`)) {
    throw new SetupError('no load generator: neither wrk on PATH nor autocannon installed (npm install -D autocannon)');
  }
  const require = createRequire(`${root}package.json`);
  return autocannonTool(require('autocannon'), (require('autocannon/package.json') as { version: string }).version);
}
