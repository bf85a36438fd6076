import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';
import type { ToolChoice } from './load.js';
import { FULL_SIZES, QUICK_SIZES, type Sizes } from './scenarios.js';

export interface BenchOptions {
  quick: boolean;
  durationS: number;
  warmupS: number;
  runs: number;
  /** Times a run is taken again when the machine was slow around it (retake.ts). */
  retakes: number;
  /** Scenario names to run, or null for all. */
  scenarios: string[] | null;
  /** System names to run, or null for all. */
  systems: string[] | null;
  sizes: Sizes;
  tool: ToolChoice;
  logLevel: string;
  /** Also print the tables as Markdown (for test/bench/RESULTS.md). */
  markdown: boolean;
}

export const USAGE = `Usage: node dist/test/bench/run.js [options]   (npm run bench -- [options])

Every scenario (hello at 1, 50 and 256 connections, a 100 KiB JSON response, a streamed
download, an upload, idle keep-alive connections) against every system (node:http, fastify,
tsgi, fastify + @fastify/http-proxy, nginx + uWSGI / node:http / gunicorn when installed),
each started fresh on the server CPU, runs interleaved system by system. Reports per scenario
the median requests/s and MB/s, p50/p99 latency, peak RSS and the ratio to node:http; then
tsgi on one core and on two. The framework scenarios (a page of a Flask and of a Django app,
when /usr/bin/python3 can import them) run on the Python systems only, against nginx + uWSGI.
Exits 1 when any system answered wrongly; speed is never asserted.

Options:
      --quick              short runs: 1 run, 2 s measured, 1 s warm-up, 32 MiB download,
                           16 MiB upload, 2,000 idle connections (each overridable below)
      --scenario NAMES     comma-separated: hello-c1,hello-c50,hello-c256,json-100k,download,
                           upload,idle,flask-page,django-page,scaling   (default all)
      --systems NAMES      comma-separated system names (see the list printed at start)
      --runs N             runs per system and scenario, interleaved   (default 3)
      --retakes N          times a run is taken again when the speed probe found the
                           machine slow around it; the take with the fastest probes is
                           kept, and noted                             (default 1; --quick 0)
      --duration S         measured seconds per run                    (default 5)
      --warmup S           warm-up seconds before each run             (default 5: a Node
                           server's JIT takes ~4-5 s of load on one core to settle)
      --download-mib N     download size                               (default 256)
      --upload-mib N       upload size (the issue's streaming target: 256) (default 64)
      --idle-connections N idle keep-alive connections to hold         (default 10000)
      --tool NAME          auto|wrk|autocannon (auto: wrk if on PATH)   (default auto)
      --log-level LEVEL    tsgi-proxy and tsgi-runner log level        (default warn:
                           no access log; warnings and errors are reported)
      --markdown           also print the tables as Markdown (for test/bench/RESULTS.md)
  -h, --help               show this help
`;

const TOOLS: readonly ToolChoice[] = ['auto', 'wrk', 'autocannon'];
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const MIB = 1024 * 1024;

export function parseBenchArgs(argv: string[]): BenchOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean' },
        scenario: { type: 'string' },
        systems: { type: 'string' },
        runs: { type: 'string' },
        retakes: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        'download-mib': { type: 'string' },
        'upload-mib': { type: 'string' },
        'idle-connections': { type: 'string' },
        tool: { type: 'string', default: 'auto' },
        'log-level': { type: 'string', default: 'warn' },
        markdown: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  if (!TOOLS.includes(values.tool as ToolChoice)) throw new UsageError(`--tool: expected one of ${TOOLS.join(', ')}, got "${values.tool}"`);
  if (!LEVELS.includes(values['log-level']!)) throw new UsageError(`--log-level: expected one of ${LEVELS.join(', ')}, got "${values['log-level']}"`);
  const quick = values.quick ?? false;
  const sizes = quick ? QUICK_SIZES : FULL_SIZES;
  return {
    quick,
    runs: integer(values.runs ?? (quick ? '1' : '3'), '--runs', 1, 100),
    retakes: integer(values.retakes ?? (quick ? '0' : '1'), '--retakes', 0, 10),
    durationS: integer(values.duration ?? (quick ? '2' : '5'), '--duration', 1, 3600),
    warmupS: integer(values.warmup ?? (quick ? '1' : '5'), '--warmup', 0, 600),
    scenarios: list(values.scenario),
    systems: list(values.systems),
    sizes: {
      downloadBytes: values['download-mib'] === undefined ? sizes.downloadBytes : integer(values['download-mib'], '--download-mib', 1, 4096) * MIB,
      uploadBytes: values['upload-mib'] === undefined ? sizes.uploadBytes : integer(values['upload-mib'], '--upload-mib', 1, 4096) * MIB,
      idleConnections:
        values['idle-connections'] === undefined ? sizes.idleConnections : integer(values['idle-connections'], '--idle-connections', 1, 100_000),
    },
    tool: values.tool as ToolChoice,
    logLevel: values['log-level']!,
    markdown: values.markdown ?? false,
  };
}

function list(text: string | undefined): string[] | null {
  if (text === undefined) return null;
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new UsageError('expected a comma-separated list of names');
  return names;
}

// Whole seconds: wrk's -d takes no fractions.
function integer(text: string, name: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new UsageError(`${name}: expected an integer in ${min}..${max}, got "${text}"`);
  return n;
}
