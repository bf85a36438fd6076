/**
 * The V8 flags the master sets on itself at start (runner/cli.ts), and the one it adds for the
 * JavaScript workers it forks (workerExecArgv).
 *
 * The master's own. It only supervises: it forks, reads heartbeats and logs. V8's optimizing
 * compilers page in ~3.5 MiB of the node binary's machine code the first time something turns
 * hot (loading pino is enough), for code that runs ten times a second at most: measured on
 * Node 20, 52 → 49 MiB resident (PROFILE.md, item 9). Maglev is off by default on Node 20 and
 * on from Node 22, hence both.
 *
 * Workers are forked with the command line's node flags (process.execArgv), which flags set
 * at run time do not change: they keep the compilers they serve with.
 */
export const MASTER_V8_FLAGS = '--no-opt --no-maglev';

/** A node flag that chooses an optimizing compiler, either way (`--opt`, `--no-turbofan`, `--maglev`…). */
const COMPILER_FLAG = /(^|\s)--(no[-_])?(opt|turbofan|maglev)(?=\s|=|$)/;

/**
 * The flags for the master to set, or null when the operator named a compiler themselves, on
 * the command line or in NODE_OPTIONS: their choice wins, as with the other settings tsgi adds.
 */
export function masterV8Flags(execArgv: readonly string[], nodeOptions: string | undefined): string | null {
  if (operatorNamed(COMPILER_FLAG, execArgv, nodeOptions)) return null;
  return MASTER_V8_FLAGS;
}

/**
 * The young generation of a JavaScript worker capped at 2 × 4 MiB semi-spaces. V8 starts a
 * worker at 4 MiB and doubles it each time the bytes that survived its scavenges since the last
 * growth add up to its size, however little survives each one: under a steady hello load a
 * worker's new space went 8 → 15.5 MiB resident after ~30 s, its old space flat at 6.4, and
 * would double again later (to V8's 2 × 16 MiB on Node 20), ~24 MiB a worker that no request
 * needed (PROFILE.md, item 25). At 4 MiB the bench's app costs no CPU that shows (it ran at 4
 * before the growth); an app that keeps 256 requests in flight for 20 ms each peaked at 91
 * against 114 MiB, for ~15 % more of the worker's CPU. Node reads the flag only at start, so
 * the master puts it on the worker's command line; the operator's own (command line or
 * NODE_OPTIONS) wins, and nothing is added then.
 */
export const WORKER_V8_FLAGS = ['--max-semi-space-size=4'];

const SEMI_SPACE_FLAG = /(^|\s)--max[-_]semi[-_]space[-_]size(?=\s|=|$)/;

/** The node flags to fork a JavaScript worker with: the master's own, and WORKER_V8_FLAGS unless the operator sized it. */
export function workerExecArgv(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  if (operatorNamed(SEMI_SPACE_FLAG, execArgv, nodeOptions)) return [...execArgv];
  return [...execArgv, ...WORKER_V8_FLAGS];
}

/** Whether the operator gave a node flag `flag` matches, on node's command line or in NODE_OPTIONS. */
function operatorNamed(flag: RegExp, execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return flag.test(execArgv.join(' ')) || flag.test(nodeOptions ?? '');
}
