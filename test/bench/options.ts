import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';
import type { ToolChoice } from './load.js';

export interface BenchOptions {
  durationS: number;
  warmupS: number;
  connections: number;
  rounds: number;
  tool: ToolChoice;
  logLevel: string;
}

export const USAGE = `Usage: node dist/test/bench/hello.js [options]   (npm run bench)

Hello world through tsgi (proxy + runner on a Unix socket) next to fastify and node:http
answering directly, each as its own processes, one at a time, rounds interleaved.
Reports the median requests/s, its ratio to node:http, p50 and p99 latency.
Exits non-zero when any system answered with an error, a non-2xx or a wrong body.

Options:
      --duration S       measured seconds per run                (default 5)
      --warmup S         warm-up seconds before each run         (default 2)
      --connections N    concurrent keep-alive connections       (default 50)
      --rounds N         rounds; each runs every system once     (default 3)
      --tool NAME        auto|wrk|autocannon (auto: wrk if on PATH) (default auto)
      --log-level LEVEL  tsgi-proxy and tsgi-runner log level    (default warn:
                         no access log; warnings and errors are reported)
  -h, --help             show this help
`;

const TOOLS: readonly ToolChoice[] = ['auto', 'wrk', 'autocannon'];
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function parseBenchArgs(argv: string[]): BenchOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        duration: { type: 'string', default: '5' },
        warmup: { type: 'string', default: '2' },
        connections: { type: 'string', default: '50' },
        rounds: { type: 'string', default: '3' },
        tool: { type: 'string', default: 'auto' },
        'log-level': { type: 'string', default: 'warn' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  if (!TOOLS.includes(values.tool as ToolChoice)) throw new UsageError(`--tool: expected one of ${TOOLS.join(', ')}, got "${values.tool}"`);
  if (!LEVELS.includes(values['log-level']!)) throw new UsageError(`--log-level: expected one of ${LEVELS.join(', ')}, got "${values['log-level']}"`);
  return {
    durationS: integer(values.duration!, '--duration', 1, 3600),
    warmupS: integer(values.warmup!, '--warmup', 0, 600),
    connections: integer(values.connections!, '--connections', 1, 10000),
    rounds: integer(values.rounds!, '--rounds', 1, 100),
    tool: values.tool as ToolChoice,
    logLevel: values['log-level']!,
  };
}

// Whole seconds: wrk's -d takes no fractions.
function integer(text: string, name: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new UsageError(`${name}: expected an integer in ${min}..${max}, got "${text}"`);
  return n;
}
