/**
 * What the runner-workers e2e tests share: a runner with the load fixture behind a proxy, a
 * load generator that keeps every outcome, and the master's worker PIDs.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fetchBuffer } from './http.js';
import { FIXTURES, simpleConfig, sleep, startProxy, startRunner, tempDir, type Teardown } from './processes.js';

export const APP = join(FIXTURES, 'runner-load.js');

export interface Outcome {
  status: number;
  body: string;
  startedAt: number;
}

/** `clients` concurrent request loops against `url` for `ms`: every outcome, failures included. */
export async function load(url: string, clients: number, ms: number): Promise<Outcome[]> {
  const until = Date.now() + ms;
  const outcomes: Outcome[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < until) {
        const startedAt = Date.now();
        const reply = await fetchBuffer(url).then(
          (r) => ({ status: r.status, body: r.body.toString() }),
          (err: Error) => ({ status: -1, body: err.message }),
        );
        outcomes.push({ ...reply, startedAt });
      }
    }),
  );
  return outcomes;
}

/** PIDs of the master's worker processes. */
export function children(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Waits (up to 5 s) until the master's children satisfy `ok`; returns them. */
export async function childrenWhen(pid: number, ok: (pids: number[]) => boolean): Promise<number[]> {
  for (let i = 0; i < 250 && !ok(children(pid)); i++) await sleep(20);
  return children(pid);
}

export async function group(t: Teardown & { teardown(fn: () => unknown): void }, args: string[]) {
  const dir = tempDir(t);
  const socket = join(dir, 'app.sock');
  const runner = await startRunner(t, { app: APP, socket, args });
  const proxy = await startProxy(t, dir, simpleConfig(socket));
  return { dir, socket, runner, proxy };
}

export const failed = (outcomes: Outcome[]) => outcomes.filter((o) => o.status !== 200);
