/**
 * CPU accounting from Linux /proc (10 ms ticks): what the measured servers spent per response,
 * and how much other processes took meanwhile — all busy time on the machine minus ours (this
 * process, its reaped children such as wrk, the live servers). On a shared machine the latter
 * tells a contended run from a clean one. Interrupt time is left out on both sides: loopback
 * traffic is ours but is not charged to our processes.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface CpuSnapshot {
  machineTicks: number;
  ourTicks: number;
  /** The measured system's processes alone. */
  serverTicks: number;
  atMs: number;
}

const HZ = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

export function cpuSnapshot(serverPids: readonly (number | undefined)[]): CpuSnapshot | null {
  try {
    // cpu  user nice system idle iowait irq softirq steal ...
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , , , steal] = fields as [number, number, number, number, number, number, number, number];
    const self = statTicks('self', true);
    const servers = serverPids.reduce<number>((sum, pid) => sum + (pid === undefined ? 0 : statTicks(String(pid), false)), 0);
    return { machineTicks: user + nice + system + steal, ourTicks: self + servers, serverTicks: servers, atMs: performance.now() };
  } catch {
    return null;
  }
}

/** One CPU's ticks from /proc/stat: busy (interrupts included) and in all. */
export interface CoreTicks {
  busy: number;
  total: number;
}

/**
 * The server CPU's ticks: user, nice, system, irq, softirq and steal count as busy; idle and
 * iowait do not. Interrupts belong here, unlike in the per-process figures: the kernel's
 * loopback work for the servers' sockets runs partly as softirq time charged to no process.
 */
export function coreTicks(cpu: number): CoreTicks | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
    if (!line) return null;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as [number, number, number, number, number, number, number, number];
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
  } catch {
    return null;
  }
}

/**
 * How busy the server CPU was between two readings, in percent: under a saturating load a
 * setup that never stalls keeps it near 100 (issue #12, target 3); idle time there is time the
 * servers waited for each other while clients waited for them.
 */
export function coreBusyPercent(before: CoreTicks | null, after: CoreTicks | null): number | null {
  if (!before || !after || after.total <= before.total) return null;
  return ((after.busy - before.busy) / (after.total - before.total)) * 100;
}

/** Other processes' CPU between two snapshots, in percent of one CPU; null when unknown. */
export function otherCpuPercent(before: CpuSnapshot | null, after: CpuSnapshot | null): number | null {
  if (!before || !after) return null;
  const seconds = (after.atMs - before.atMs) / 1000;
  const foreign = after.machineTicks - before.machineTicks - (after.ourTicks - before.ourTicks);
  return seconds > 0 ? Math.max(0, (foreign / HZ / seconds) * 100) : null;
}

/**
 * CPU the load generator took (this process and its reaped children: wrk, the transfer
 * client), in percent of one CPU: near 100 means the client, not the server, set the pace.
 */
export function loadCpuPercent(before: CpuSnapshot | null, after: CpuSnapshot | null): number | null {
  if (!before || !after) return null;
  const seconds = (after.atMs - before.atMs) / 1000;
  const ticks = after.ourTicks - after.serverTicks - (before.ourTicks - before.serverTicks);
  return seconds > 0 ? (ticks / HZ / seconds) * 100 : null;
}

/**
 * CPU the measured system spent per response, in microseconds: what one request costs it.
 * Much steadier than requests/s on a shared machine, where neighbours take CPU time away.
 */
export function serverCpuPerResponseUs(before: CpuSnapshot | null, after: CpuSnapshot | null, responses: number): number | null {
  if (!before || !after || responses <= 0) return null;
  return (((after.serverTicks - before.serverTicks) / HZ) * 1e6) / responses;
}

/**
 * Each process's own CPU time, by label: what a split between proxy and runner (or nginx and
 * uWSGI) shows that the setup's total cannot. A process gone by the second snapshot is left out.
 */
export function processTicks(pids: ReadonlyMap<string, number>): Map<string, number> {
  const ticks = new Map<string, number>();
  for (const [label, pid] of pids) {
    try {
      ticks.set(label, statTicks(String(pid), false));
    } catch {
      // exited: nothing to count
    }
  }
  return ticks;
}

/** CPU µs per response of each process between two processTicks snapshots. */
export function cpuPerResponseByProcess(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>, responses: number): Record<string, number> {
  return responses > 0 ? deltaByLabel(before, after, 1e6 / HZ / responses) : {};
}

/**
 * Each process's time on a CPU in ns, by label: the first field of every thread's
 * /proc/PID/task/TID/schedstat. For the few ms a second an idle setup spends, which the 10 ms
 * ticks of processTicks cannot show. A process gone is left out.
 */
export function processRunNs(pids: ReadonlyMap<string, number>): Map<string, number> {
  const ns = new Map<string, number>();
  for (const [label, pid] of pids) {
    try {
      let total = 0;
      for (const tid of readdirSync(`/proc/${pid}/task`)) total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      ns.set(label, total);
    } catch {
      // exited: nothing to count
    }
  }
  return ns;
}

/** CPU ms per second of each process between two processRunNs snapshots `seconds` apart. */
export function cpuMsPerSecondByProcess(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>, seconds: number): Record<string, number> {
  return seconds > 0 ? deltaByLabel(before, after, 1e-6 / seconds) : {};
}

/** (after - before) × scale for each label in both snapshots. */
function deltaByLabel(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>, scale: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [label, value] of after) {
    const start = before.get(label);
    if (start !== undefined) out[label] = (value - start) * scale;
  }
  return out;
}

/** utime + stime (+ cutime + cstime: reaped children) from /proc/PID/stat. */
function statTicks(pid: string, withChildren: boolean): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ').map(Number);
  // After the command: state(0) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(11) stime cutime cstime
  return f[11]! + f[12]! + (withChildren ? f[13]! + f[14]! : 0);
}
