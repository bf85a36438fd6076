/**
 * How tsgi's Node processes are meant to be started: the node flags and C library settings that
 * only take effect at a process's start, so whatever starts the proxy sets them (the systemd
 * unit in deploy/systemd, `npm start` and the benchmark here), and the runner's master sets its
 * workers' (runner/supervision/allocator.ts).
 *
 * V8's young generation capped at 2 × 8 MiB semi-spaces. Under load V8 grows it to
 * 2 × 16 MiB, though a request's objects live milliseconds and ~10 MiB of the heap
 * survives: 8 MiB semi-spaces keep 9–15 MiB less resident with no cost that shows in cpu µs
 * per request. 4 MiB was worse at 256 connections: more in-flight requests were promoted
 * (PROFILE.md, "Memory, 2026-12-05 night"). V8 reads the flag only at start, so it cannot be
 * set from inside the process. Put first in NODE_OPTIONS: a flag of the operator's own later
 * in it wins.
 */
export const PROXY_NODE_OPTIONS = '--max-semi-space-size=8';

/**
 * One malloc arena for all of the proxy's threads. glibc gives each thread that allocates an
 * arena of its own (up to 8 per core); V8's four platform threads each keep ~1 MiB in theirs
 * for what their collection tasks allocate, resident for good. One arena shares that memory:
 * the proxy's peak at 256 connections 80 → 78.5 MiB, with no CPU cost that shows (V8's
 * threads allocate little; PROFILE.md, item 23). Read by glibc when the process starts.
 */
export const PROXY_GLIBC_TUNABLES = ['glibc.malloc.arena_max=1'];

/** `PROXY_NODE_OPTIONS` followed by the operator's own NODE_OPTIONS, which win where they overlap. */
export function proxyNodeOptions(operator: string | undefined = process.env.NODE_OPTIONS): string {
  return operator ? `${PROXY_NODE_OPTIONS} ${operator}` : PROXY_NODE_OPTIONS;
}

/** The names a GLIBC_TUNABLES value sets (`glibc.malloc.arena_max=1:…`). */
export function tunableNames(value: string | undefined): Set<string> {
  return new Set((value ?? '').split(':').filter(Boolean).map((entry) => entry.split('=')[0]!));
}

/**
 * A GLIBC_TUNABLES value: `current` with each `name=value` of `settings` appended whose name it
 * does not set already, so that an operator's own setting wins. Other C libraries ignore it.
 */
export function withTunables(current: string | undefined, settings: readonly string[]): string {
  const named = tunableNames(current);
  const added = settings.filter((setting) => !named.has(setting.split('=')[0]!));
  return [...(current ? [current] : []), ...added].join(':');
}

/** The environment to start the proxy in: `env` with the proxy's node flags and allocator settings. */
export function proxyEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, NODE_OPTIONS: proxyNodeOptions(env.NODE_OPTIONS ?? ''), GLIBC_TUNABLES: withTunables(env.GLIBC_TUNABLES, PROXY_GLIBC_TUNABLES) };
}
