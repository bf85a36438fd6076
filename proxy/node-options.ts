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
 * V8's allocation-site pretenuring off in the proxy (a flag Node refuses in NODE_OPTIONS, so the
 * proxy sets it on itself at start: V8 reads it at each collection). V8 watches each object
 * literal's objects and, when nearly all of one survive a scavenge, allocates that literal's
 * objects in the old generation from then on. Some request's literal crossed that line by
 * chance in some runs: at 256 connections each scavenge found all 512 of its objects alive (the
 * requests in flight), and from then on every request put it in old space, ~2 MiB a second
 * until a full collection 10–15 s later. The proxy then peaked at 102–105 MiB instead of 79–80,
 * in 8 runs of 12 (behind the Python runner 95–97 against 79–80; with the access log 112–116
 * against 85–87, at ~25 % more CPU per request). Nothing the proxy keeps past a request is
 * allocated often enough for pretenuring to help (PROFILE.md, item 30).
 */
export const PROXY_V8_FLAGS = '--no-allocation-site-pretenuring';

const PRETENURING_FLAG = /(^|\s)--(no[-_])?allocation[-_]site[-_]pretenuring(?=\s|=|$)/;

/** The flags for the proxy to set on itself: PROXY_V8_FLAGS, unless the operator's node command line names the setting either way. */
export function proxyV8Flags(execArgv: readonly string[]): string | null {
  return PRETENURING_FLAG.test(execArgv.join(' ')) ? null : PROXY_V8_FLAGS;
}

/**
 * One malloc arena for all of the proxy's threads. glibc gives each thread that allocates an
 * arena of its own (up to 8 per core); V8's four platform threads each keep ~1 MiB in theirs
 * for what their collection tasks allocate, resident for good. One arena shares that memory:
 * ~1.5 MiB less at 256 connections in a harness (80.4 → 78.5), within the noise of the bench's
 * 78.5–80 MiB, with no CPU cost that shows (V8's threads allocate little; PROFILE.md, item 23).
 * Read by glibc when the process starts.
 */
export const PROXY_GLIBC_TUNABLES = ['glibc.malloc.arena_max=1'];

/** `PROXY_NODE_OPTIONS` followed by the operator's own NODE_OPTIONS, which win where they overlap. */
export function proxyNodeOptions(operator: string | undefined = process.env.NODE_OPTIONS): string {
  return operator ? `${PROXY_NODE_OPTIONS} ${operator}` : PROXY_NODE_OPTIONS;
}

/** glibc's older variables for the malloc tunables tsgi sets: one set counts as its tunable set. */
const OLDER_VARIABLES: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: 'glibc.malloc.arena_max',
  MALLOC_TRIM_THRESHOLD_: 'glibc.malloc.trim_threshold',
  MALLOC_MMAP_THRESHOLD_: 'glibc.malloc.mmap_threshold',
};

/**
 * The tunables `env` sets: the names in its GLIBC_TUNABLES (`glibc.malloc.arena_max=1:…`), and
 * those its older variables set (MALLOC_ARENA_MAX…), which a GLIBC_TUNABLES entry would override.
 */
export function tunablesSet(env: NodeJS.ProcessEnv): Set<string> {
  const names = new Set((env.GLIBC_TUNABLES ?? '').split(':').filter(Boolean).map((entry) => entry.split('=')[0]!));
  for (const [variable, name] of Object.entries(OLDER_VARIABLES)) if (env[variable] !== undefined) names.add(name);
  return names;
}

/**
 * `env` with each `name=value` of `settings` appended to its GLIBC_TUNABLES that it does not set
 * already, so that an operator's own setting wins; `env` itself when there is none to add.
 * Other C libraries ignore the variable.
 */
export function withTunables(env: NodeJS.ProcessEnv, settings: readonly string[]): NodeJS.ProcessEnv {
  const named = tunablesSet(env);
  const added = settings.filter((setting) => !named.has(setting.slice(0, setting.indexOf('='))));
  if (added.length === 0) return env;
  return { ...env, GLIBC_TUNABLES: [...(env.GLIBC_TUNABLES ? [env.GLIBC_TUNABLES] : []), ...added].join(':') };
}

/** The environment to start the proxy in: `env` with the proxy's node flags and allocator settings. */
export function proxyEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...withTunables(env, PROXY_GLIBC_TUNABLES), NODE_OPTIONS: proxyNodeOptions(env.NODE_OPTIONS ?? '') };
}
