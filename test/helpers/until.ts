// Polling for evidence, with no side effects on import (processes.ts, which re-exports it,
// installs exit and signal handlers): unit tests in the test process use it from here.

/**
 * Waits for evidence: polls `condition` (a log line, a count, a file, a response) until it
 * holds, and fails with `what` if it never does. Tests that act on a process wait with this,
 * never for a fixed time, so a busy machine makes them slower, not wrong. The default bound is
 * generous for the same reason: it only decides how long a real failure takes to report.
 */
export async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
