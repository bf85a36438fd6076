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

export class Deadline {
  private timer: NodeJS.Timeout | null = null;
  private current: DeadlineKind | null = null;

  constructor(
    private readonly durationOf: (kind: DeadlineKind) => number,
    private readonly expired: (kind: DeadlineKind, ms: number) => void,
  ) {}

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
    const ms = this.durationOf(kind);
    this.current = kind;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.current = null;
      this.expired(kind, ms);
    }, ms);
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
