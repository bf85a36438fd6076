/**
 * `npm run bench`: hello world through tsgi next to fastify and node:http answering the same
 * 12 bytes directly. Each system runs as its own processes, one at a time, on the server CPU;
 * the load generator runs on the other CPU. Rounds interleave the systems; the report gives
 * the median requests/s, the ratio to node:http, p50 and p99 — reported, never asserted.
 * The run fails (exit 1) when any system gave an error, a non-2xx or a wrong body: a broken
 * system must not look fast.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chooseTool, type LoadTool } from './load.js';
import { measure, type Measurement } from './measure.js';
import { SetupError, UsageError } from './errors.js';
import { USAGE, parseBenchArgs, type BenchOptions } from './options.js';
import { Processes, setUpPinning, type Pinning } from './processes.js';
import { summarise, table, type SystemSummary } from './report.js';
import { SYSTEMS, nodeHttp, type SystemContext } from './systems.js';

const EXIT = { OK: 0, BROKEN: 1, USAGE: 2, INTERRUPTED: 130 } as const;
const root = fileURLToPath(new URL('../../../', import.meta.url));
const RESULTS = `${root}test/bench/results/hello.json`;

class Interrupted extends Error {
  override readonly name = 'Interrupted';
}

async function main(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseBenchArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench: ${err.message}\n\n${USAGE}`);
    return EXIT.USAGE;
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return EXIT.OK;
  }
  for (const built of ['dist/proxy/cli.js', 'dist/runner/cli.js', 'dist/test/bench/node-server.js']) {
    if (!existsSync(`${root}${built}`)) throw new SetupError(`${built} is missing: build first (npx tsc -p .)`);
  }

  const processes = new Processes();
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-'));
  // Last resort (a crash, a second Ctrl-C): nothing we started outlives us.
  process.on('exit', () => {
    processes.killAllNow();
    rmSync(dir, { recursive: true, force: true });
  });
  const signal = interruptions(processes);
  const pinning = setUpPinning();
  try {
    const tool = chooseTool(options.tool, { root, dir, processes, loadCpu: pinning.load });
    process.stdout.write(header(options, tool, pinning));
    const settings = { tool, connections: options.connections, durationS: options.durationS, warmupS: options.warmupS };
    const measurements: Measurement[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      for (const system of SYSTEMS) {
        const ctx: SystemContext = { root, dir, round, processes, cpu: pinning.servers, logLevel: options.logLevel, signal, started: [] };
        const m = await measure(system, ctx, settings);
        measurements.push(m);
        process.stderr.write(progress(m, options.rounds));
      }
    }
    const summaries = summarise(SYSTEMS.map((s) => s.name), measurements, nodeHttp.name);
    process.stdout.write(`\n${table(summaries)}\n${LEGEND}${contention(measurements)}${findings(summaries)}`);
    writeResults({ options, tool, pinning, summaries, measurements });
    process.stdout.write(`\nresults: ${RESULTS}\n`);
    const broken = summaries.filter((s) => !s.ok);
    if (broken.length === 0) return EXIT.OK;
    process.stderr.write(`bench: FAILED — ${broken.map((s) => s.system).join(', ')} did not answer correctly under load\n`);
    return EXIT.BROKEN;
  } catch (err) {
    if (err instanceof Interrupted || signal.aborted) {
      process.stderr.write(`bench: interrupted; all started processes stopped\n`);
      return EXIT.INTERRUPTED;
    }
    throw err;
  } finally {
    processes.killAllNow();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Handlers only record the signal (the run stops and cleans up); a second one kills at once. */
function interruptions(processes: Processes): AbortSignal {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (!controller.signal.aborted) return controller.abort(new Interrupted(`interrupted by ${name}`));
    processes.killAllNow();
    process.exit(EXIT.INTERRUPTED);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller.signal;
}

function header(options: BenchOptions, tool: LoadTool, pinning: Pinning): string {
  return [
    `tsgi hello-world benchmark: GET / -> 200 text/plain "Hello World!" (12 bytes)`,
    `load: ${tool.name} ${tool.version}, ${options.connections} keep-alive connections, ` +
      `${options.warmupS} s warm-up + ${options.durationS} s measured, ${options.rounds} rounds interleaved, medians reported`,
    `cpu: ${pinning.note}${pinning.servers === null ? '' : "; tsgi's proxy and runner share the server CPU"}`,
    `tsgi log level: ${options.logLevel}${options.logLevel === 'warn' ? ' (no access log)' : ''}`,
    ...tool.limits.map((limit) => `note: ${tool.name}: ${limit}`),
    '',
  ].join('\n') + '\n';
}

function progress(m: Measurement, rounds: number): string {
  const rps = m.result ? `${Math.round(m.result.rps).toLocaleString('en-US')} req/s` : 'no result';
  const status = m.ok ? 'ok' : `PROBLEM: ${m.problems.join('; ')}`;
  const others = typeof m.otherCpuPercent === 'number' ? `others' cpu ${Math.round(m.otherCpuPercent)}%` : '';
  return `  round ${m.round}/${rounds}  ${m.system.padEnd(9)}  ${rps.padStart(14)}  ${others.padEnd(16)}  ${status}\n`;
}

const LEGEND =
  'req/s counts only 2xx responses with the right body; medians over rounds\n' +
  "cpu µs/req: CPU time the system's own processes spent per response (steadier than req/s when shared)\n" +
  "others' cpu: CPU other processes on this machine took during the measured runs\n" +
  '(% of one CPU) — high values mean a shared machine and noisy numbers\n';

const BUSY_MACHINE_PERCENT = 15;

function contention(measurements: readonly Measurement[]): string {
  const worst = Math.max(0, ...measurements.map((m) => m.otherCpuPercent ?? 0));
  if (worst <= BUSY_MACHINE_PERCENT) return '';
  return (
    `\nwarning: a shared machine: other processes took up to ${Math.round(worst)}% of a CPU during measured runs,\n` +
    'so req/s and latencies are noisy; cpu µs/req is the steadier comparison\n'
  );
}

function findings(summaries: readonly SystemSummary[]): string {
  const lines: string[] = [];
  for (const s of summaries) {
    for (const problem of s.problems) lines.push(`  ${s.system}: PROBLEM ${problem}`);
    for (const note of s.notes) lines.push(`  ${s.system}: note ${note}`);
  }
  return lines.length ? `\n${lines.join('\n')}\n` : '\nno errors, non-2xx, wrong bodies, stalls or log warnings in any run\n';
}

interface Results {
  options: BenchOptions;
  tool: LoadTool;
  pinning: Pinning;
  summaries: SystemSummary[];
  measurements: Measurement[];
}

function writeResults({ options, tool, pinning, summaries, measurements }: Results): void {
  const json = {
    benchmark: 'hello',
    date: new Date().toISOString(),
    node: process.version,
    cpu: { count: cpus().length, model: cpus()[0]?.model ?? 'unknown' },
    pinning,
    loadGenerator: { name: tool.name, version: tool.version, limits: tool.limits },
    options,
    systems: SYSTEMS.map((s) => ({ name: s.name, describe: s.describe })),
    summary: summaries,
    measurements,
  };
  mkdirSync(join(RESULTS, '..'), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(json, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? null : value), 2)}\n`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${err instanceof SetupError ? err.message : ((err as Error).stack ?? String(err))}\n`);
    process.exit(EXIT.BROKEN);
  },
);
