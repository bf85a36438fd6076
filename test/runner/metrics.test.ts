import t from 'tap';
import { WorkerMetrics } from '../../runner/serving/metrics.js';
import { isFromWorker } from '../../runner/supervision/ipc.js';

function environ(n: number): Record<string, string> {
  return { 'tsgi.request_id': `r${n}`, REQUEST_METHOD: 'GET', PATH_INFO: `/${n}` };
}

t.test('requests in flight are reported oldest first, as plain records the IPC channel can carry', async (t) => {
  const metrics = new WorkerMetrics();
  const started = [1, 2, 3].map((n) => metrics.started(environ(n)));
  t.same(
    metrics.inFlight().map((r) => r.reqId),
    ['r1', 'r2', 'r3'],
  );
  metrics.finished(started[1]!);
  const reported = metrics.inFlight();
  t.same(
    reported.map((r) => r.path),
    ['/1', '/3'],
  );
  t.same(Object.keys(reported[0]!).sort(), ['method', 'path', 'reqId', 'startedAt']);
  t.ok(isFromWorker({ t: 'beat', counters: metrics.counters(1), inFlight: reported }));
  t.equal(metrics.counters(1).inFlight, 2);
  t.equal(metrics.counters(1).requests, 1);
});

t.test('past 32 in flight: the 31 oldest and the newest, never the newest twice', async (t) => {
  const metrics = new WorkerMetrics();
  const started = Array.from({ length: 31 }, (_, i) => metrics.started(environ(i)));
  t.equal(metrics.inFlight().length, 31, 'all 31, the newest once');
  t.equal(new Set(metrics.inFlight().map((r) => r.reqId)).size, 31);
  metrics.started(environ(31));
  t.equal(metrics.inFlight().length, 32);
  for (let i = 32; i < 100; i++) started.push(metrics.started(environ(i)));
  const ids = metrics.inFlight().map((r) => r.reqId);
  t.equal(ids.length, 32);
  t.same(ids.slice(0, 3), ['r0', 'r1', 'r2']);
  t.equal(ids[31], 'r99');
  // The oldest and the newest leave: the next in line take their places.
  metrics.finished(started[0]!);
  metrics.finished(started.at(-1)!);
  const after = metrics.inFlight().map((r) => r.reqId);
  t.equal(after[0], 'r1');
  t.equal(after[31], 'r98');
  t.equal(metrics.counters(0).inFlight, 98);
});

t.test('a request finished twice counts once; finishing the last empties the list', async (t) => {
  const metrics = new WorkerMetrics();
  const only = metrics.started(environ(1));
  metrics.finished(only);
  metrics.finished(only);
  t.equal(metrics.counters(0).requests, 1);
  t.equal(metrics.counters(0).inFlight, 0);
  t.same(metrics.inFlight(), []);
  const next = metrics.started(environ(2));
  t.same(
    metrics.inFlight().map((r) => r.reqId),
    ['r2'],
  );
  metrics.finished(next);
  t.same(metrics.inFlight(), []);
});

t.test('every start calls the start hook (the heartbeat when harakiri is on)', async (t) => {
  let beats = 0;
  const metrics = new WorkerMetrics(() => beats++);
  metrics.started(environ(1));
  metrics.started(environ(2));
  t.equal(beats, 2);
});
