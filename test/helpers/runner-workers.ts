/**
 * What the runner-workers e2e tests share: a runner with the load fixture behind a proxy, a
 * load generator that keeps every outcome, and the master's worker PIDs.
 */
import { join } from 'node:path';
import { fetchBuffer } from './http.js';
import { FIXTURES, loadUntil, simpleConfig, startProxy, startRunner, tempDir, until, type Teardown } from './processes.js';

export const APP = join(FIXTURES, 'runner-load.js');

export interface Outcome {
  status: number;
  body: string;
  startedAt: number;
}

/**
 * `clients` concurrent request loops against `url`, keeping every outcome (failures included),
 * until `stop()`. `answered(n)` resolves once n more requests have been answered, so a test
 * acts on a process while traffic is known to flow, whatever the machine's speed.
 */
export class Load {
  readonly outcomes: Outcome[] = [];
  private halt!: () => void;
  private readonly loops: Promise<void>;

  constructor(url: string, clients: number) {
    const stopped = new Promise<void>((resolve) => (this.halt = resolve));
    this.loops = loadUntil(clients, stopped, async () => {
      const startedAt = Date.now();
      const reply = await fetchBuffer(url).then(
        (r) => ({ status: r.status, body: r.body.toString() }),
        (err: Error) => ({ status: -1, body: err.message }),
      );
      this.outcomes.push({ ...reply, startedAt });
    });
  }

  answered(n: number): Promise<void> {
    const target = this.outcomes.length + n;
    return until(`${n} more requests answered`, () => this.outcomes.length >= target, 60_000);
  }

  async stop(): Promise<Outcome[]> {
    this.halt();
    await this.loops;
    return this.outcomes;
  }

  /** Runs `work` (a reload, a kill) under this load, then stops it, whether `work` succeeds or not. */
  async during(work: () => Promise<void>): Promise<Outcome[]> {
    try {
      await work();
    } finally {
      await this.stop();
    }
    return this.outcomes;
  }
}

/** `clients` concurrent request loops against `url` until `requests` have been answered. */
export async function load(url: string, clients: number, requests: number): Promise<Outcome[]> {
  const traffic = new Load(url, clients);
  await traffic.answered(requests);
  return traffic.stop();
}

export async function group(t: Teardown & { teardown(fn: () => unknown): void }, args: string[]) {
  const dir = tempDir(t);
  const socket = join(dir, 'app.sock');
  const runner = await startRunner(t, { app: APP, socket, args });
  const proxy = await startProxy(t, dir, simpleConfig(socket));
  return { dir, socket, runner, proxy };
}

export const failed = (outcomes: Outcome[]) => outcomes.filter((o) => o.status !== 200);

/** The proxy's own words on the requests it failed or retried (its last five such lines), for a failing assertion to show. */
export function proxyReasons(proxy: { proc: { logs: Array<Record<string, unknown>> } }): string {
  const lines = proxy.proc.logs.filter((line) => line.msg === 'request failed' || line.msg === 'trying the next upstream server');
  return lines.length === 0 ? 'the proxy logged no failure' : lines.slice(-5).map((line) => JSON.stringify(line)).join('; ');
}
