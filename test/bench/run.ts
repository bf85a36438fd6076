/**
 * `npm run bench`: issue #7's suite. Every scenario (scenarios.ts) against every system
 * (catalogue.ts; the framework scenarios against the Python ones), each measurement on freshly
 * started processes pinned to the server CPU, the load generator on the other; runs interleave
 * the systems. Per scenario a table of medians, the ratio to node:http (nginx + uWSGI for the
 * framework scenarios), peak RSS; then tsgi on one core against two. Reported, never
 * asserted. The run fails (exit 1) when any system gave an error, a non-2xx, a wrong body or
 * byte count: a broken system must not look fast.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SetupError, UsageError } from './errors.js';
import { chooseTool, type LoadTool } from './load.js';
import { markdown } from './markdown.js';
import { measure, type Measurement } from './measure.js';
import { USAGE, parseBenchArgs, type BenchOptions } from './options.js';
import { openFiles, plan, type Plan } from './plan.js';
import { Processes, setUpPinning, type Pinning } from './processes.js';
import { summarise, table, type SystemSummary } from './report.js';
import { steadyTake, type MachineSpeed } from './retake.js';
import { SLOW_FACTOR, startProbes, usual } from './speed.js';
import { formatTargets, targets } from './targets.js';
import { TRANSFER_CLIENT } from './transfer.js';
import { writeResults } from './results.js';
import type { SystemContext } from './systems.js';

const EXIT = { OK: 0, BROKEN: 1, USAGE: 2, INTERRUPTED: 130 } as const;
const root = fileURLToPath(new URL('../../../', import.meta.url));
const RESULTS_DIR = `${root}test/bench/results`;
const BUILT = ['dist/proxy/cli.js', 'dist/runner/cli.js', 'dist/test/bench/node-server.js', 'dist/test/bench/tsgi-app.js', 'dist/test/bench/idle-client.js'];

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
  for (const built of BUILT) {
    if (!existsSync(`${root}${built}`)) throw new SetupError(`${built} is missing: build first (npx tsc -p .)`);
  }
  const plans = plan(options);
  const processes = new Processes(openFiles(plans));
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
    // Every probe so far on each CPU: the usual pace is their median, learned as the bench goes.
    const speed: MachineSpeed = { server: startProbes(pinning.servers), load: pinning.load === null ? [] : startProbes(pinning.load) };
    process.stdout.write(header(options, tool, pinning, plans));
    process.stdout.write(`${probeLine('server', usual(speed.server), options.retakes)}${pinning.load === null ? '' : probeLine("load generator's", usual(speed.load), options.retakes)}`);
    const measurements: Measurement[] = [];
    const summaries: SystemSummary[] = [];
    const tables: string[] = [];
    let sequence = 0;
    for (const { scenario, systems, baseline } of plans) {
      process.stdout.write(`\n== ${scenario.name}: ${scenario.describe}\n`);
      const here: Measurement[] = [];
      for (let round = 1; round <= options.runs; round++) {
        for (const system of systems) {
          const take = () => {
            const ctx: SystemContext = {
              root, dir, tag: `m${++sequence}`, round, processes, cpu: pinning.servers, loadCpu: pinning.load, logLevel: options.logLevel, signal, started: [], wsgiApp: scenario.framework?.app,
            };
            return measure(system, scenario, ctx, { tool, durationS: options.durationS, warmupS: options.warmupS });
          };
          const m = await steadyTake(take, speed, options.retakes);
          here.push(m);
          process.stderr.write(progress(m, options.runs));
        }
      }
      const summary = summarise(scenario.name, systems.map((s) => s.name), here, baseline);
      process.stdout.write(`\n${scenario.name === 'scaling' ? SCALING_NOTE : ''}${table(scenario.kind, summary, baseline)}\n${findings(summary)}`);
      if (options.markdown) tables.push(markdown(scenario, summary, baseline));
      measurements.push(...here);
      summaries.push(...summary);
    }
    process.stdout.write(`\n== targets (issue #12): ratios of this run's medians\n${formatTargets(targets(summaries))}\n`);
    process.stdout.write(`\n${LEGEND}${contention(measurements)}`);
    if (options.markdown) process.stdout.write(`\n${tables.join('\n')}`);
    const file = writeResults(RESULTS_DIR, { options, tool, pinning, plans, summaries, measurements });
    process.stdout.write(`\nresults: ${file}\n`);
    const broken = summaries.filter((s) => !s.ok);
    if (broken.length === 0) return EXIT.OK;
    process.stderr.write(`bench: FAILED — ${broken.map((s) => `${s.system} (${s.scenario})`).join(', ')} did not answer correctly\n`);
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

function probeLine(cpu: string, reference: number | null, retakes: number): string {
  const rule = retakes > 0 ? `taken again (up to ${retakes} time${retakes === 1 ? '' : 's'}) and noted` : 'noted';
  const at = reference === null ? 'could not run' : `${reference.toFixed(0)} ms of fixed work at the start; a run whose probe takes over ${SLOW_FACTOR}x the median so far is ${rule}`;
  return `speed probe on the ${cpu} CPU: ${at}\n`;
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

function header(options: BenchOptions, tool: LoadTool, pinning: Pinning, plans: readonly Plan[]): string {
  const systems = [...new Set(plans.flatMap((p) => p.systems))];
  return [
    `tsgi benchmark suite${options.quick ? ' (--quick)' : ''}: ${plans.map((p) => p.scenario.name).join(', ')}`,
    `load: ${tool.name} ${tool.version} for the load scenarios, ${TRANSFER_CLIENT} for transfers, idle-client.js for idle; ` +
      `${options.warmupS} s warm-up + ${options.durationS} s measured, ${options.runs} run(s) per system interleaved, medians reported`,
    `cpu: ${pinning.note}${pinning.servers === null ? '' : '; every process of a setup shares the server CPU (except "tsgi 2 cores")'}`,
    `tsgi log level: ${options.logLevel}${options.logLevel === 'warn' ? ' (no access log)' : ''}`,
    ...systems.map((s) => `system ${s.name}: ${s.describe}`),
    ...tool.limits.map((limit) => `note: ${tool.name}: ${limit}`),
    '',
  ].join('\n');
}

function progress(m: Measurement, rounds: number): string {
  const what = m.idle
    ? `${m.idle.held} held, ${m.idle.bytesPerConnection === null ? '-' : (m.idle.bytesPerConnection / 1024).toFixed(1)} KiB/conn`
    : m.result
      ? `${Math.round(m.result.rps).toLocaleString('en-US')} req/s`
      : 'no result';
  const status = m.ok ? 'ok' : `PROBLEM: ${m.problems.join('; ')}`;
  const others = typeof m.otherCpuPercent === 'number' ? `others' cpu ${Math.round(m.otherCpuPercent)}%` : '';
  return `  ${m.scenario} run ${m.round}/${rounds}  ${m.system.padEnd(14)}  ${what.padStart(22)}  ${others.padEnd(16)}  ${status}\n`;
}

const SCALING_NOTE =
  'tsgi on one core (proxy workers 1, runner --workers 1, pinned to the server CPU) against two cores\n' +
  '(proxy workers auto, runner --workers 2, on both CPUs): the load generator SHARES a core with the\n' +
  'two-core setup, so this shows the direction of scaling, not a clean 2x ceiling.\n';

const LEGEND =
  'req/s counts only 2xx responses with the right body or byte count; medians over runs\n' +
  'MB/s: bytes read by the load generator (heads included), or body bytes moved by a transfer, per second\n' +
  'peak RSS: highest sum of VmRSS over all the setup\'s processes (workers included), sampled every 200 ms;\n' +
  'per process: VmHWM (name.N are children of name: nginx, uWSGI, gunicorn and tsgi-runner workers)\n' +
  'idle: (sum of VmRSS with the connections held - before) / connections, after a 1 s settle each;\n' +
  'idle cpu ms/s: CPU the setup spent in 5 s with nothing to do (one keep-alive connection, 10 s after start), before the others open\n' +
  "cpu µs/req: CPU time the setup's processes spent per response (steadier than req/s when shared)\n" +
  'core busy: how busy the server CPU was between the run\'s first and last second (all processes and\n' +
  '  interrupts); under a saturating load, idle time there is a stall; none for a setup on both CPUs\n' +
  'per connection: responses of the slowest and the fastest connection over the median one\'s, between\n' +
  '  the run\'s first and last second (the client\'s TCP counters; extremes over runs; runs of 3 s or more)\n' +
  'client cpu: CPU the load generator took (% of its CPU); near 100% the client may be the limit\n' +
  'probe ms: CPU time a fixed piece of work took on the server CPU around the run (the slower of before\n' +
  '  and after; speed.ts): higher means the machine itself was slow, even when no other process ran\n' +
  "others' cpu: CPU other processes on this machine took during the measured runs (% of one CPU)\n";

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
  return lines.length ? `${lines.join('\n')}\n` : 'no errors, non-2xx, wrong bodies, stalls or log findings in any run\n';
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${err instanceof SetupError ? err.message : ((err as Error).stack ?? String(err))}\n`);
    process.exit(EXIT.BROKEN);
  },
);
