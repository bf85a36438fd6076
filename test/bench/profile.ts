/**
 * `node dist/test/bench/profile.js`: tsgi (proxy + runner, one core, as in the suite) under
 * load with `node --cpu-prof`, then the functions with the most self time in the proxy and in
 * the runner's worker. See PROFILE.md. The .cpuprofile files are kept in test/bench/results/
 * for Chrome DevTools or speedscope.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatTop, topFunctions, type CpuProfile, type Window } from './cpuprofile.js';
import { SetupError, UsageError } from './errors.js';
import { chooseTool, failures, type ToolChoice } from './load.js';
import { checkHello } from './probe.js';
import { Processes, setUpPinning } from './processes.js';
import { FULL_SIZES, scenarios } from './scenarios.js';
import { tsgi, type SystemContext } from './systems.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const LOAD_SCENARIOS = scenarios(FULL_SIZES).filter((s) => s.kind === 'load' && !s.framework);
const STOP_GRACE_MS = 15_000;
/** Start-up and JIT warm-up are left out of the numbers: only the measured load counts. */
const WARMUP_S = 2;

function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

const USAGE = `Usage: node dist/test/bench/profile.js [options]

Runs tsgi-proxy and tsgi-runner (one core, as in the suite) with node --cpu-prof under one
load scenario, stops them gracefully so the profiles are written, and prints the functions
with the most self time in the proxy and in the runner worker(s).

Options:
      --scenario NAME  ${LOAD_SCENARIOS.map((s) => s.name).join('|')}   (default hello-c50)
      --duration S     seconds of load                              (default 10)
      --top N          functions to list per process                (default 15)
      --tool NAME      auto|wrk|autocannon                          (default auto)
  -h, --help           show this help
`;

function options(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string', default: 'hello-c50' },
      duration: { type: 'string', default: '10' },
      top: { type: 'string', default: '15' },
      tool: { type: 'string', default: 'auto' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return null;
  const scenario = LOAD_SCENARIOS.find((s) => s.name === values.scenario);
  if (!scenario) throw new UsageError(`--scenario: expected one of ${LOAD_SCENARIOS.map((s) => s.name).join(', ')}`);
  const durationS = Number(values.duration);
  const top = Number(values.top);
  if (!Number.isInteger(durationS) || durationS < 1) throw new UsageError('--duration: expected whole seconds');
  if (!Number.isInteger(top) || top < 1) throw new UsageError('--top: expected a positive integer');
  if (!['auto', 'wrk', 'autocannon'].includes(values.tool!)) throw new UsageError('--tool: expected auto, wrk or autocannon');
  return { scenario, durationS, top, tool: values.tool as ToolChoice };
}

async function main(argv: string[]): Promise<number> {
  let opts;
  try {
    opts = options(argv);
  } catch (err) {
    process.stderr.write(`profile: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!opts) return void process.stdout.write(USAGE), 0;
  const processes = new Processes();
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-profile-'));
  process.on('exit', () => {
    processes.killAllNow();
    rmSync(dir, { recursive: true, force: true });
  });
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort(new Error('interrupted')));
  const pinning = setUpPinning();
  const profiles = join(dir, 'profiles');
  const ctx: SystemContext = {
    root, dir, tag: 'profile', round: 1, processes, cpu: pinning.servers, loadCpu: pinning.load, logLevel: 'warn', signal: controller.signal, started: [],
    nodeFlags: (name) => ['--cpu-prof', `--cpu-prof-dir=${join(profiles, name)}`],
  };
  const tool = chooseTool(opts.tool, { root, dir, processes, loadCpu: pinning.load });
  process.stdout.write(`profiling tsgi under ${opts.scenario.name} (${opts.scenario.describe}) for ${opts.durationS} s with ${tool.name}; ${pinning.note}\n`);
  let window: Window | undefined;
  try {
    const url = await tsgi.start(ctx);
    await checkHello(url);
    const load = (durationS: number) =>
      tool.run({
        url: new URL(opts.scenario.path.slice(1), url).href,
        connections: opts.scenario.connections,
        durationS,
        expectBody: opts.scenario.expectBody ?? undefined,
        signal: controller.signal,
      });
    await load(WARMUP_S);
    const fromUs = monotonicUs();
    const result = await load(opts.durationS);
    window = { fromUs, toUs: monotonicUs() };
    process.stdout.write(`${Math.round(result.rps).toLocaleString('en-US')} req/s under the profiler (slower than without it)\n`);
    const broken = failures(result);
    if (broken.length) process.stdout.write(`PROBLEMS under load: ${broken.join('; ')}\n`);
  } finally {
    // Graceful stops: a profile is written when its process exits normally.
    for (const { name, child } of [...ctx.started].reverse()) {
      const outcome = await processes.stop(child, STOP_GRACE_MS);
      if (outcome.killed) process.stdout.write(`${name} had to be killed: its profile is lost\n`);
    }
  }
  if (window) process.stdout.write(`samples counted: the ${opts.durationS} s measured load only (after a ${WARMUP_S} s warm-up)\n`);
  const runnerPid = ctx.started.find((s) => s.name === 'runner')?.child.pid;
  const proxy = load(join(profiles, 'proxy'));
  const runner = load(join(profiles, 'runner'));
  const workers = runner.filter((p) => p.pid !== runnerPid);
  const master = runner.filter((p) => p.pid === runnerPid);
  if (proxy.length === 0 || workers.length === 0) throw new SetupError(`no profiles written (proxy: ${proxy.length}, runner workers: ${workers.length})`);
  process.stdout.write(`\n${formatTop('tsgi-proxy', topFunctions(proxy.map((p) => p.profile), root, opts.top, window))}`);
  process.stdout.write(`\n${formatTop(`tsgi-runner worker${workers.length > 1 ? 's' : ''}`, topFunctions(workers.map((p) => p.profile), root, opts.top, window))}`);
  if (master.length) process.stdout.write(`\n${formatTop('tsgi-runner master', topFunctions(master.map((p) => p.profile), root, 5, window))}`);
  const kept = join(root, 'test/bench/results', `profiles-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(kept, { recursive: true });
  cpSync(profiles, kept, { recursive: true });
  process.stdout.write(`\nprofiles: ${kept} (open in Chrome DevTools > Performance, or speedscope)\n`);
  return 0;
}

/** The .cpuprofile files of one directory, with the PID from their names (CPU.date.time.PID.…). */
function load(directory: string): { pid: number; profile: CpuProfile }[] {
  let names: string[] = [];
  try {
    names = readdirSync(directory).filter((n) => n.endsWith('.cpuprofile'));
  } catch {
    return [];
  }
  return names.map((name) => ({ pid: Number(name.split('.')[3]), profile: JSON.parse(readFileSync(join(directory, name), 'utf8')) as CpuProfile }));
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`profile: ${err instanceof SetupError ? err.message : ((err as Error).stack ?? String(err))}\n`);
    process.exit(1);
  },
);
