/**
 * A measurement taken again when the speed probe says the machine was slow around it
 * (speed.ts). On this kind of VM a slow window costs every process the same share of CPU, so
 * a figure taken in one is the machine's, not the system's: one system's median would carry it
 * and another's not, and a ratio between them would say nothing. Each system gets the same
 * rule: a take whose probe on either CPU ran over SLOW_FACTOR × its usual time (the median of
 * the probes so far) is taken again, up to `retakes` times, and the take whose probes ran the
 * fastest is kept, with a note saying how many were taken and why (the takes given up, each
 * of which answered correctly, are dropped with their notes). A window that opens and closes
 * within a run, between the probes, goes unseen.
 */
import type { Measurement } from './measure.js';
import { SLOW_FACTOR, slowNote, slowRatio, usual } from './speed.js';

/** Every probe so far on each CPU (the bench's first ones, then each take's), by which the usual pace is known. */
export interface MachineSpeed {
  server: number[];
  load: number[];
}

/** The usual pace on each CPU, ms (usual in speed.ts); null where no probe ran. */
export interface Pace {
  server: number | null;
  load: number | null;
}

export function paceOf(speed: MachineSpeed): Pace {
  return { server: usual(speed.server), load: usual(speed.load) };
}

/** How slow the machine was around `m`: its slowest probe over the usual one, the worse CPU of the two (1 when unknown). */
export function slowness(m: Measurement, pace: Pace): number {
  return Math.max(slowRatio(m.probeMs, pace.server) ?? 1, slowRatio(m.loadProbeMs, pace.load) ?? 1);
}

/**
 * Takes a measurement, again while the machine was slow around it (at most `retakes` more
 * times), and returns the take whose probes ran the fastest, its slow notes added.
 */
export async function steadyTake(take: () => Promise<Measurement>, speed: MachineSpeed, retakes: number): Promise<Measurement> {
  // Every take is judged against the pace known before the first: a slow window's own probes
  // must not set the pace they are judged by. They join the history after.
  const pace = paceOf(speed);
  const takes: Measurement[] = [];
  const ratios: number[] = [];
  for (let n = 0; n <= retakes; n++) {
    const m = await take();
    takes.push(m);
    ratios.push(slowness(m, pace));
    // A broken answer is kept as it is: taking it again could hide it.
    if (ratios[n]! <= SLOW_FACTOR || !m.ok) break;
  }
  for (const m of takes) learn(speed, m);
  // The last take is the only one that can have answered wrongly (the loop stops there).
  let k = takes.length - 1;
  if (takes[k]!.ok) k = ratios.indexOf(Math.min(...ratios));
  const kept = takes[k]!;
  for (const slow of [slowNote(kept.probeMs, pace.server, 'server'), slowNote(kept.loadProbeMs, pace.load, "load generator's")]) {
    if (slow) kept.notes.push(slow);
  }
  if (takes.length > 1) {
    const slow = ratios.filter((r) => r > SLOW_FACTOR).length;
    kept.notes.push(
      `taken ${takes.length} times, the machine slow around ${slow} of them (probes at ${ratios.map((r) => `${r.toFixed(2)}x`).join(', ')} the usual); ${kept.ok ? 'the take with the fastest probes is kept' : 'the take that answered wrongly is kept'}`,
    );
  }
  return kept;
}

/** The history includes this take's probes. */
function learn(speed: MachineSpeed, m: Measurement): void {
  for (const ms of m.probeMs ?? []) if (ms !== null) speed.server.push(ms);
  for (const ms of m.loadProbeMs ?? []) if (ms !== null) speed.load.push(ms);
}
