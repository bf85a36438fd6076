/**
 * nginx's `tsgi_next_upstream` rules: when a failed try may go to the next server, and whether a
 * failure counts against the server it happened on (max_fails).
 */
export type NextUpstreamCondition =
  | 'error'
  | 'timeout'
  | 'invalid_header'
  | 'http_500'
  | 'http_502'
  | 'http_503'
  | 'http_504'
  | 'http_403'
  | 'http_404'
  | 'http_429'
  | 'non_idempotent';

export interface RetryPolicy {
  /** Empty = `off`. */
  conditions: ReadonlySet<NextUpstreamCondition>;
  /** 0 = unlimited (bounded by the number of servers). */
  tries: number;
  /** 0 = unlimited. */
  timeoutMs: number;
}

/** The methods nginx retries without `non_idempotent` (RFC 9110's idempotent ones). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);

/** What went wrong on one try. */
export type TryFailure = 'error' | 'timeout' | 'invalid_header' | 'refused' | `http_${number}`;

/** The status for an HTTP failure kind, when the condition names one. */
export function statusCondition(status: number): TryFailure | null {
  return [500, 502, 503, 504, 403, 404, 429].includes(status) ? (`http_${status}` as TryFailure) : null;
}

export interface RetryState {
  method: string;
  tries: number;
  startedAt: number;
  now: number;
  /** The failed try may already have run in the app (the runner accepted it). */
  mayHaveRun: boolean;
  /** The request body can be sent again (none was consumed yet). */
  bodyReplayable: boolean;
}

/** May this failure move the request to the next server? */
export function mayRetry(policy: RetryPolicy, failure: TryFailure, state: RetryState): boolean {
  if (!state.bodyReplayable) return false;
  if (policy.timeoutMs > 0 && state.now - state.startedAt >= policy.timeoutMs) return false;
  // A refused stream never ran anywhere: always safe, whatever the method or the policy, and
  // not a try spent (nginx retries a connection closed before the upstream took the request);
  // the caller bounds how many refusals one request may meet.
  if (failure === 'refused') return true;
  if (policy.tries > 0 && state.tries >= policy.tries) return false;
  if (!policy.conditions.has(failure as NextUpstreamCondition)) return false;
  return !state.mayHaveRun || IDEMPOTENT.has(state.method) || policy.conditions.has('non_idempotent');
}

/**
 * Does the failure count against the server? error, timeout and invalid_header always do;
 * a status only when next_upstream lists it, and never 403 or 404 (nginx's rules). A refused
 * stream is the runner saying "not now", not a failure.
 */
export function countsAsFailure(policy: RetryPolicy, failure: TryFailure): boolean {
  if (failure === 'error' || failure === 'timeout' || failure === 'invalid_header') return true;
  if (failure === 'refused' || failure === 'http_403' || failure === 'http_404') return false;
  return policy.conditions.has(failure as NextUpstreamCondition);
}
