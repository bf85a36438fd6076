import { HttpError, type HttpErrorKind } from '../errors.js';
import type { Choice, UpstreamGroup } from './group.js';
import { TriedPeers } from './tried.js';
import { countsAsFailure, mayRetry, statusCondition, type RetryPolicy, type RetryState, type TryFailure } from './retry.js';

/** Why a try failed, and what the client gets if it is the last one. */
export interface Failure {
  kind: HttpErrorKind;
  reason: string;
}

/**
 * Tries a request may spend on refused streams before 502: a reloading runner with many workers
 * may refuse from several draining connections in a row.
 */
const MAX_REFUSALS = 8;

/**
 * The retry side of one request (nginx's tsgi_next_upstream): which servers it was tried on,
 * the tries and refusals spent, the failure the client gets if none is left, and the one place
 * that asks the rules (retry.ts) whether another try is allowed. The relay (exchange.ts) asks it
 * for a server, tells it how each try ended, and moves the bytes; it keeps no retry state.
 */
export class RetryController {
  private readonly tried = new TriedPeers();
  private tries = 0;
  private refusals = 0;
  private current: Choice | null = null;
  /** Whether the current try counts against its server when it ends (a listed status did). */
  private countsAgainst = false;
  private last: Failure | null = null;

  constructor(
    private readonly group: UpstreamGroup,
    private readonly policy: RetryPolicy,
    private readonly method: string,
    private readonly startedAt: number,
  ) {}

  /** A server for the next try: a choice, 'busy' (max_conns and its queue), null (none left); a Promise only while queued. */
  pick(remoteAddress: string, hashKey: string): ReturnType<UpstreamGroup['pickOrWait']> {
    return this.group.pickOrWait({ remoteAddress, hashKey, tried: this.tried });
  }

  /** A try starts on `choice`. */
  begin(choice: Choice): void {
    this.current = choice;
    this.tries++;
    this.countsAgainst = false;
  }

  /** The current try is over; `failed` counts it against its server (max_fails). */
  end(failed = this.countsAgainst): void {
    const choice = this.current;
    this.current = null;
    if (choice) this.group.done(choice, failed);
  }

  /** No server was left for a try: what the client gets. */
  exhausted(): Failure {
    if (this.last) return this.last;
    const why = this.tries === 0 ? `no live upstreams in "${this.group.name}"` : 'no upstream left to try';
    return { kind: HttpError.UPSTREAM_UNREACHABLE, reason: why };
  }

  /**
   * The current try failed: it is accounted for on its server, and the answer says whether the
   * request may go to another one. A refusal ("draining", "full") says nothing against the
   * server: the same one may be picked again (a reloaded runner answers on a new connection),
   * a bounded number of times.
   */
  failed(failure: TryFailure, outcome: Failure, mayHaveRun: boolean, bodyReplayable: boolean): boolean {
    const choice = this.current;
    this.end(countsAsFailure(this.policy, failure));
    if (failure === 'refused') {
      if (!choice || ++this.refusals > MAX_REFUSALS) return false;
      this.tried.delete(choice.peer);
    }
    this.last = outcome;
    return this.group.hasUntried(this.tried) && mayRetry(this.policy, failure, this.state(mayHaveRun && failure !== 'refused', bodyReplayable));
  }

  /**
   * A response status that tsgi_next_upstream lists (http_502...): the failure to retry it as,
   * or null when this response is the answer (as nginx passes the last one on). Either way a
   * listed status counts against the server when the try ends.
   */
  retryableStatus(status: number, bodyReplayable: boolean): TryFailure | null {
    const failure = statusCondition(status);
    if (!failure || !this.policy.conditions.has(failure as never)) return null;
    this.countsAgainst = countsAsFailure(this.policy, failure);
    if (!this.group.hasUntried(this.tried) || !mayRetry(this.policy, failure, this.state(true, bodyReplayable))) return null;
    return failure;
  }

  private state(mayHaveRun: boolean, bodyReplayable: boolean): RetryState {
    return { method: this.method, tries: this.tries, startedAt: this.startedAt, now: performance.now(), mayHaveRun, bodyReplayable };
  }
}
