/**
 * Reading V8 .cpuprofile files (written by `node --cpu-prof`): self time per function, the
 * time a function was on top of the stack. Pure: text in, table out.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  /** Microseconds since the previous sample (the first: since startTime). */
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionTime {
  /** `name (file:line)`, the file relative to the repository or node_modules. */
  name: string;
  selfMs: number;
  /** Of all sampled time in the profile(s), idle included. */
  percent: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  top: FunctionTime[];
}

/**
 * A span of V8's monotonic clock in µs: on Linux CLOCK_MONOTONIC, the clock of
 * `process.hrtime`, so another process can say when its load ran.
 */
export interface Window {
  fromUs: number;
  toUs: number;
}

/**
 * Self time per function over one or more profiles of the same program, highest first;
 * with a window, only the samples taken inside it (the steady state, without start-up).
 */
export function topFunctions(profiles: readonly CpuProfile[], root: string, limit: number, window?: Window): ProfileSummary {
  const self = new Map<string, number>();
  let totalUs = 0;
  for (const profile of profiles) {
    const names = new Map(profile.nodes.map((n) => [n.id, label(n.callFrame, root)]));
    let at = profile.startTime;
    // Sample i lasted until sample i+1: its time is the next delta.
    for (let i = 0; i < profile.samples.length; i++) {
      at += profile.timeDeltas[i] ?? 0;
      if (window && (at < window.fromUs || at > window.toUs)) continue;
      const us = profile.timeDeltas[i + 1] ?? 0;
      const name = names.get(profile.samples[i]!) ?? '(unknown)';
      self.set(name, (self.get(name) ?? 0) + us);
      totalUs += us;
    }
  }
  const idleUs = self.get('(idle)') ?? 0;
  const top = [...self]
    .filter(([name]) => name !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, us]) => ({ name, selfMs: us / 1000, percent: totalUs > 0 ? (us / totalUs) * 100 : 0 }));
  return { totalMs: totalUs / 1000, idleMs: idleUs / 1000, top };
}

function label(frame: CallFrame, root: string): string {
  const name = frame.functionName || '(anonymous)';
  if (!frame.url) return name;
  const file = frame.url
    .replace(/^file:\/\//, '')
    .replace(root, '')
    .replace(/^.*\/node_modules\//, '');
  return `${name} (${file}:${frame.lineNumber + 1})`;
}

export function formatTop(title: string, summary: ProfileSummary): string {
  const busy = summary.totalMs - summary.idleMs;
  const lines = [
    `${title}: ${(summary.totalMs / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s busy (${summary.totalMs > 0 ? Math.round((busy / summary.totalMs) * 100) : 0}%)`,
    '   self ms   % all  function',
    ...summary.top.map((f, i) => `${String(i + 1).padStart(2)} ${f.selfMs.toFixed(0).padStart(7)}  ${f.percent.toFixed(1).padStart(5)}%  ${f.name}`),
  ];
  return `${lines.join('\n')}\n`;
}
