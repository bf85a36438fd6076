/**
 * How fast the machine is at the moment: a fixed piece of work (integer mixing over a 4 MiB
 * array, small objects made and dropped) run on the server CPU and on the load generator's
 * before each measurement and after it, its CPU time in ms (a slow client slows a transfer as
 * much as a slow server). On this kind of VM the host takes time away without reporting
 * steal time, so a slow window shows only as everything costing more CPU: the same build's CPU
 * per request moved by half between runs minutes apart while no other process ran. The probe
 * makes such a window visible beside the numbers it spoiled; it varies by up to ~15 % (50–57
 * ms here) when the machine is steady.
 */
import { spawnSync } from 'node:child_process';
import { median } from './median.js';

const WORK = `
const a = new Uint32Array(1 << 20);
let x = 1;
function round() {
  for (let i = 0; i < a.length; i++) { x = (x * 1103515245 + 12345) >>> 0; a[(i * 7919) & (a.length - 1)] ^= x; }
  const o = [];
  for (let i = 0; i < 20000; i++) o.push({ k: 'k' + (i & 255), v: i });
  x ^= o.length;
}
// Untimed rounds first: the compilers' work would vary the figure more than the machine does.
round(); round();
const t0 = process.cpuUsage();
for (let r = 0; r < 4; r++) round();
const d = process.cpuUsage(t0);
process.stdout.write(String(d.user + d.system) + ' ' + (x & 1));
`;

/** A probe's result more than this over the usual one (the median so far) marks a slow machine. */
export const SLOW_FACTOR = 1.2;

/** CPU ms the fixed work took on `cpu` (unpinned when null); null when it could not run. */
export function probeMs(cpu: number | null): number | null {
  const node = [process.execPath, '-e', WORK];
  const [command, ...args] = cpu === null ? node : ['taskset', '-c', String(cpu), ...node];
  const out = spawnSync(command!, args, { encoding: 'utf8' });
  const us = Number(out.stdout?.split(' ')[0]);
  return out.status === 0 && us > 0 ? us / 1000 : null;
}

/** A few probes when the bench starts: the first of the machine's usual pace. */
export function startProbes(cpu: number | null, probes = 3): number[] {
  return Array.from({ length: probes }, () => probeMs(cpu)).filter((ms): ms is number => ms !== null);
}

type Probes = readonly (number | null)[] | undefined;

/** The slowest of a measurement's probes (before and after it), or null when none ran. */
export function slowest(probes: Probes): number | null {
  const known = (probes ?? []).filter((ms): ms is number => ms !== null);
  return known.length ? Math.max(...known) : null;
}

/**
 * The machine's usual pace on a CPU: the median of its probes so far, null before any. Not the
 * fastest: this VM has fast moments too, and against one of them most runs would look slow.
 */
export function usual(history: readonly number[]): number | null {
  return history.length ? median(history) : null;
}

/** The slowest of `probes` over the usual pace (`pace`, usual): above SLOW_FACTOR is slow; null when either is unknown. */
export function slowRatio(probes: Probes, pace: number | null): number | null {
  const worst = slowest(probes);
  return pace === null || worst === null ? null : worst / pace;
}

/** The note for a measurement whose probes on `cpu` (server, load generator's) ran over SLOW_FACTOR × `pace` (usual), or null. */
export function slowNote(probes: Probes, pace: number | null, cpu: string): string | null {
  const ratio = slowRatio(probes, pace);
  if (ratio === null || ratio <= SLOW_FACTOR) return null;
  return `the ${cpu} CPU was slow around this run: the speed probe took ${ratio.toFixed(2)}x its usual time (${slowest(probes)!.toFixed(0)} against the median ${pace!.toFixed(0)} ms)`;
}
