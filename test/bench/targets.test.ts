/**
 * targets.ts: the memory targets (7a-c) take the highest peak of each kind of tsgi process over
 * every scenario and every way tsgi runs with its access log off: one core, `workers auto` on
 * two, the Python runner; the run with the log on is left out (the measurements).
 */
import t from 'tap';
import type { SystemSummary } from './report.js';
import { targets, verdict } from './targets.js';

const MIB = 1024 * 1024;

function summary(system: string, scenario: string, peaks: Record<string, number>): SystemSummary {
  const peakRssByProcess = Object.fromEntries(Object.entries(peaks).map(([label, mib]) => [label, mib * MIB]));
  return { system, scenario, peakRssByProcess } as SystemSummary;
}

function memoryTargets(summaries: SystemSummary[]) {
  return Object.fromEntries(targets(summaries).filter((r) => r.id.startsWith('7') && r.id !== '7d').map((r) => [r.id, r]));
}

t.test("the peak of each kind of process, wherever it is, and where it was", async (t) => {
  const m = memoryTargets([
    summary('tsgi', 'hello-c50', { runner: 44, 'runner.1': 60, proxy: 70 }),
    summary('tsgi', 'upload', { runner: 44, 'runner.1': 66, proxy: 75 }),
    summary('tsgi 2 cores', 'scaling', { runner: 44, 'runner.1': 62, 'runner.2': 72, proxy: 50, 'proxy.1': 79, 'proxy.2': 78 }),
    summary('tsgi+python', 'django-page', { runner: 46, 'runner.1': 40, proxy: 76 }),
    summary('tsgi access log', 'hello-c256', { runner: 50, 'runner.1': 90, proxy: 95 }),
    summary('nginx+uwsgi', 'hello-c50', { nginx: 200, 'uwsgi.1': 200 }),
  ]);
  t.equal(m['7a']!.value, 79, "a workers-auto proxy's serving process counts");
  t.match(m['7a']!.describe, /peak in scaling, tsgi 2 cores/);
  t.equal(m['7b']!.value, 72, "a second runner worker counts");
  t.equal(verdict(m['7b']!), 'NOT met');
  t.equal(m['7c']!.value, 46, 'the master under the Python runner counts');
  t.match(m['7c']!.describe, /django-page, tsgi\+python/);
  t.equal(verdict(m['7a']!), 'met', 'the access log run and the peers are left out');
});

t.test('one-core runs only: the scenario alone names the place', async (t) => {
  const m = memoryTargets([summary('tsgi', 'upload', { runner: 44, 'runner.1': 66, proxy: 75 })]);
  t.match(m['7b']!.describe, /\(peak in upload\)$/);
  t.equal(verdict(m['7c']!), 'met');
});

t.test('not measured without a tsgi run', async (t) => {
  const m = memoryTargets([summary('nginx+uwsgi', 'hello-c50', { nginx: 10 })]);
  t.equal(verdict(m['7a']!), 'not measured');
});
