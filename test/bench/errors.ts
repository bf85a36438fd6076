/** The benchmark's own failures, apart from what the measured systems do wrong. */

/** A bad command line: message and usage, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The bench cannot run here (not built, no load generator): message only, exit 1. */
export class SetupError extends Error {
  override readonly name = 'SetupError';
}
