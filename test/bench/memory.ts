/**
 * Memory of a whole setup from Linux /proc: the processes we started plus every descendant
 * (nginx and uWSGI workers, tsgi-runner workers, cluster workers of tsgi-proxy). A sampler
 * reads VmRSS of each every few hundred ms, so the peak of the *sum* is known; VmHWM, each
 * process's own high-water mark, is read at the end.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface Root {
  name: string;
  pid: number | undefined;
}

export interface MemoryReport {
  /** Highest sum of VmRSS over the setup's processes in any one sample. */
  peakSumBytes: number | null;
  /** Per process (root name, descendants as name.1, name.2 …): VmHWM, or the highest VmRSS seen. */
  peakBytes: Record<string, number>;
}

const SAMPLE_MS = 200;

/** Every descendant of `pid` (not itself), children before grandchildren. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = parentOf(Number(entry));
    if (ppid !== null) children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  for (let queue = [pid]; queue.length > 0; ) {
    const next = children.get(queue.shift()!) ?? [];
    found.push(...next);
    queue.push(...next);
  }
  return found;
}

function parentOf(pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** A field of /proc/PID/status in bytes (VmRSS, VmHWM), null when the process is gone. */
export function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** The setup's processes by label, now. */
export function setupProcesses(roots: readonly Root[]): Map<string, number> {
  const labelled = new Map<string, number>();
  for (const { name, pid } of roots) {
    if (pid === undefined) continue;
    labelled.set(name, pid);
    descendants(pid).forEach((child, i) => labelled.set(`${name}.${i + 1}`, child));
  }
  return labelled;
}

/** VmRSS of each of the setup's processes now, by label. */
export function rssByProcess(roots: readonly Root[]): Record<string, number> {
  const rss: Record<string, number> = {};
  for (const [label, pid] of setupProcesses(roots)) rss[label] = statusBytes(pid, 'VmRSS') ?? 0;
  return rss;
}

export function sum(values: Record<string, number>): number {
  return Object.values(values).reduce((a, b) => a + b, 0);
}

export class MemorySampler {
  private readonly peaks = new Map<string, number>();
  private readonly pids = new Map<string, number>();
  private peakSum: number | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly roots: readonly Root[]) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    return this;
  }

  /** Stops sampling and reads each process's VmHWM: call before the processes are stopped. */
  finish(): MemoryReport {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    for (const [label, pid] of this.pids) this.raise(label, statusBytes(pid, 'VmHWM'));
    return { peakSumBytes: this.peakSum, peakBytes: Object.fromEntries(this.peaks) };
  }

  private sample(): void {
    let sum = 0;
    for (const [label, pid] of setupProcesses(this.roots)) {
      this.pids.set(label, pid);
      const rss = statusBytes(pid, 'VmRSS');
      this.raise(label, rss);
      sum += rss ?? 0;
    }
    this.peakSum = Math.max(this.peakSum ?? 0, sum);
  }

  private raise(label: string, bytes: number | null): void {
    if (bytes !== null) this.peaks.set(label, Math.max(this.peaks.get(label) ?? 0, bytes));
  }
}
