/**
 * The one timer of an exchange, re-armed as the exchange moves between waits. Each kind is an
 * nginx timeout with its meaning: how long the proxy waits for one party to make progress.
 *
 *   read         tsgi_read_timeout     runner → proxy: between two reads of the response
 *   send         tsgi_send_timeout     proxy → runner: while the runner withholds body credit
 *   client_body  client_body_timeout   client → proxy: between two reads of the request body
 *   client_send  send_timeout          proxy → client: while the client does not read
 *
 * Only one wait is active at a time: e.g. while the client does not read, the runner is held
 * back by flow control and must not be blamed for the silence.
 */
export type DeadlineKind = 'read' | 'send' | 'client_body' | 'client_send';

export const DEADLINE_DIRECTIVE: Record<DeadlineKind, string> = {
  read: 'tsgi_read_timeout',
  send: 'tsgi_send_timeout',
  client_body: 'client_body_timeout',
  client_send: 'send_timeout',
};

/** The timer callback: a plain function and the deadline as its argument, no closure per wait. */
function expire(deadline: Deadline): void {
  deadline.expire();
}

/** Who is waiting: the duration of each kind of wait, and what to do when one runs out. */
export interface DeadlineOwner {
  durationOf(kind: DeadlineKind): number;
  onTimeout(kind: DeadlineKind, ms: number): void;
}

export class Deadline {
  private timer: NodeJS.Timeout | null = null;
  private current: DeadlineKind | null = null;
  private ms = 0;

  /** The owner is called directly: no closures per exchange or per wait. */
  constructor(private readonly owner: DeadlineOwner) {}

  get kind(): DeadlineKind | null {
    return this.current;
  }

  /** Starts (or restarts) the wait of this kind, replacing any other. */
  arm(kind: DeadlineKind): void {
    if (this.timer && this.current === kind) {
      this.timer.refresh();
      return;
    }
    this.clear();
    this.ms = this.owner.durationOf(kind);
    this.current = kind;
    this.timer = setTimeout(expire, this.ms, this);
  }

  /** The active wait ran out (called by its timer). */
  expire(): void {
    const kind = this.current!;
    this.timer = null;
    this.current = null;
    this.owner.onTimeout(kind, this.ms);
  }

  /** Stops the wait of this kind if it is the active one. */
  disarm(kind: DeadlineKind): void {
    if (this.current === kind) this.clear();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.current = null;
  }
}
