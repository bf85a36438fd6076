/**
 * The V8 flags the master sets on itself at start (runner/cli.ts). The master only supervises:
 * it forks, reads heartbeats and logs. V8's optimizing compilers page in ~3.5 MiB of the node
 * binary's machine code the first time something turns hot (loading pino is enough), for code
 * that runs ten times a second at most: measured on Node 20, 52 → 49 MiB resident (PROFILE.md,
 * item 9). Maglev is off by default on Node 20 and on from Node 22, hence both.
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
  if (COMPILER_FLAG.test(execArgv.join(' ')) || COMPILER_FLAG.test(nodeOptions ?? '')) return null;
  return MASTER_V8_FLAGS;
}
