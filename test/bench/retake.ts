/**
 * A measurement taken again when the speed probe says the machine was slow around it
 * (speed.ts). On this kind of VM a slow window costs every process the same share of CPU, so
 * a figure taken in one is the machine's, not the system's: one system's median would carry it
 * and another's not, and a ratio between them would say nothing. Each system gets the same
 * rule: a take whose probe on either CPU ran over SLOW_FACTOR × the fastest probe so far is
 * taken again, up to `retakes` times, and the take whose probes ran the fastest is kept, with
 * a note saying how many were taken and why. A window that opens and closes within a run, between
 * the probes, goes unseen.
 */
import type { Measurement } from './measure.js';
import { SLOW_FACTOR, fastest, slowNote, slowest } from './speed.js';

/** The fastest probe so far on each CPU (null: none ran), updated by every take. */
export interface MachineSpeed {
  server: number | null;
  load: number | null;
}

/** How slow the machine was around `m`: its slowest probe over the fastest so far, the worse CPU of the two (1 when unknown). */
export function slowness(m: Measurement, speed: MachineSpeed): number {
  const ratio = (probes: Measurement['probeMs'], reference: number | null): number => {
    const worst = slowest(probes);
    return reference === null || worst === null ? 1 : worst / reference;
  };
  return Math.max(ratio(m.probeMs, speed.server), ratio(m.loadProbeMs, speed.load));
}

/**
 * Takes a measurement, again while the machine was slow around it (at most `retakes` more
 * times), and returns the take whose probes ran the fastest, its slow notes added.
 */
export async function steadyTake(take: () => Promise<Measurement>, speed: MachineSpeed, retakes: number): Promise<Measurement> {
  const takes: Measurement[] = [];
  for (let n = 0; n <= retakes; n++) {
    const m = await take();
    takes.push(m);
    const slow = slowness(m, speed) > SLOW_FACTOR;
    learn(speed, m);
    // A broken answer is kept as it is: taking it again could hide it.
    if (!slow || !m.ok) break;
  }
  const kept = takes.reduce((best, m) => (!m.ok || slowness(m, speed) < slowness(best, speed) ? m : best));
  for (const slow of [slowNote(kept.probeMs, speed.server, 'server'), slowNote(kept.loadProbeMs, speed.load, "load generator's")]) {
    if (slow) kept.notes.push(slow);
  }
  if (takes.length > 1) {
    const ratios = takes.map((m) => slowness(m, speed));
    const slow = ratios.filter((r) => r > SLOW_FACTOR).length;
    kept.notes.push(
      `taken ${takes.length} times, the machine slow around ${slow} of them (probes at ${ratios.map((r) => `${r.toFixed(2)}x`).join(', ')} the fastest); the take with the fastest probes is kept`,
    );
  }
  return kept;
}

/** The fastest probes so far include this take's. */
function learn(speed: MachineSpeed, m: Measurement): void {
  speed.server = fastest(speed.server, m.probeMs);
  speed.load = fastest(speed.load, m.loadProbeMs);
}
