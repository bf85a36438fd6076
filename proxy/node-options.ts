/**
 * The node flags tsgi-proxy is meant to run with, for whatever starts it (the systemd unit in
 * deploy/systemd sets the same in its Environment=, `npm start` and the benchmark here):
 * V8's young generation capped at 2 × 8 MiB semi-spaces. Under load V8 grows it to
 * 2 × 16 MiB, though a request's objects live milliseconds and ~10 MiB of the heap
 * survives: 8 MiB semi-spaces keep 9–15 MiB less resident with no cost that shows in cpu µs
 * per request. 4 MiB was worse at 256 connections: more in-flight requests were promoted
 * (PROFILE.md, "Memory, 2026-12-05 night"). V8 reads the flag only at start, so it cannot be
 * set from inside the process. Put first in NODE_OPTIONS: a flag of the operator's own later
 * in it wins.
 */
export const PROXY_NODE_OPTIONS = '--max-semi-space-size=8';

/** `PROXY_NODE_OPTIONS` followed by the operator's own NODE_OPTIONS, which win where they overlap. */
export function proxyNodeOptions(operator: string | undefined = process.env.NODE_OPTIONS): string {
  return operator ? `${PROXY_NODE_OPTIONS} ${operator}` : PROXY_NODE_OPTIONS;
}
