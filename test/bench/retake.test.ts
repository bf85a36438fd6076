/**
 * retake.ts: a measurement is taken again while the speed probe says the machine was slow
 * around it, and the take with the fastest probes is kept, with notes saying so.
 */
import t from 'tap';
import type { Measurement } from './measure.js';
import { paceOf, slowness, steadyTake, type MachineSpeed } from './retake.js';

/** A take whose probes on the server and load generator's CPUs took these ms; `rps` tells takes apart. */
function take(rps: number, server: number, load: number | null = null, ok = true): Measurement {
  const partial: Partial<Measurement> = {
    system: 'tsgi',
    scenario: 'hello-c50',
    round: 1,
    ok,
    problems: ok ? [] : ['wrong body'],
    notes: [],
    probeMs: [server, server],
    loadProbeMs: load === null ? undefined : [load, load],
    result: { rps } as Measurement['result'],
  };
  return partial as Measurement;
}

/** steadyTake over these takes in turn; what it kept and how many it took. */
async function run(takes: Measurement[], retakes: number, speed: MachineSpeed = { server: [50, 49, 51], load: [50, 50] }) {
  let taken = 0;
  const kept = await steadyTake(async () => takes[taken++]!, speed, retakes);
  return { kept, taken, speed };
}

t.test('a take on a steady machine is kept at once', async (t) => {
  const { kept, taken } = await run([take(1, 55, 52), take(2, 50)], 1);
  t.equal(taken, 1);
  t.equal(kept.result!.rps, 1);
  t.same(kept.notes, []);
});

t.test('a take in a slow window is taken again, and the steadier take kept', async (t) => {
  const { kept, taken } = await run([take(1, 80), take(2, 52)], 1);
  t.equal(taken, 2);
  t.equal(kept.result!.rps, 2);
  t.match(kept.notes.join('\n'), /taken 2 times, the machine slow around 1 of them \(probes at 1\.60x, 1\.04x/);
  t.notMatch(kept.notes.join('\n'), /was slow around this run/, 'the kept take itself was not slow');
});

t.test("the load generator's CPU counts as much as the server's", async (t) => {
  const { kept, taken } = await run([take(1, 50, 90), take(2, 51, 50)], 1);
  t.equal(taken, 2);
  t.equal(kept.result!.rps, 2);
});

t.test('retakes are bounded; when every take was slow, the least slow is kept and noted as slow', async (t) => {
  const { kept, taken } = await run([take(1, 90), take(2, 70), take(3, 100), take(4, 50)], 2);
  t.equal(taken, 3);
  t.equal(kept.result!.rps, 2);
  t.match(kept.notes.join('\n'), /server CPU was slow around this run: the speed probe took 1\.40x/);
  t.match(kept.notes.join('\n'), /slow around 3 of them/);
  t.equal((await run([take(1, 90), take(2, 50)], 0)).taken, 1, 'no retakes: one take, noted as slow');
});

t.test('a take that answered wrongly is kept as it is, never taken again to hide it', async (t) => {
  const { kept, taken } = await run([take(1, 90, null, false), take(2, 50)], 1);
  t.equal(taken, 1);
  t.equal(kept.ok, false);
  const retaken = await run([take(1, 90), take(2, 95, null, false)], 1);
  t.equal(retaken.kept.ok, false, 'a retake that answered wrongly is kept, however slow');
  t.match(retaken.kept.notes.join('\n'), /the take that answered wrongly is kept/);
});

t.test('the usual pace is the median of every probe so far, a fast moment included', async (t) => {
  const speed: MachineSpeed = { server: [50, 52, 54], load: [] };
  await run([take(1, 30, 40)], 1, speed);
  t.same(speed, { server: [50, 52, 54, 30, 30], load: [40, 40] }, 'learned from the take');
  t.equal(slowness(take(2, 62), paceOf(speed)), 62 / 50, 'against the median, not the one fast take');
  t.equal(slowness(take(3, 90), paceOf({ server: [], load: [] })), 1, 'no probe: not known to be slow');
});

t.test('a slow take is judged before its own probes join the history', async (t) => {
  const { taken } = await run([take(1, 80), take(2, 50)], 1, { server: [50], load: [] });
  t.equal(taken, 2);
});
