import t from 'tap';
import { BEAT_MS, IDLE_BEAT_MS, beatPeriodMs, isFromWorker } from '../../runner/supervision/ipc.js';
import { pythonWorkerConfig } from '../../runner/supervision/python-worker.js';
import { parseRunnerArgs } from '../../runner/options.js';

const counters = { requests: 3, inFlight: 1, exceptions: 0, harakiri: 0, rss: 1024, avgLatencyMs: 1.5 };
const request = { reqId: 'r1', method: 'GET', path: '/', startedAt: 1 };

t.test('every kind a worker sends is accepted', async (t) => {
  const valid = [
    { t: 'ready' },
    { t: 'boot-failed', message: 'cannot load app.js' },
    { t: 'recycle', reason: 'served 10 requests' },
    { t: 'beat', counters, inFlight: [] },
    { t: 'beat', counters, inFlight: [request] },
    { t: 'harakiri', requests: [request] },
  ];
  for (const message of valid) t.ok(isFromWorker(message), JSON.stringify(message));
});

t.test('anything else is refused, not taken for a worker message', async (t) => {
  const invalid: unknown[] = [
    null,
    'ready',
    [],
    {},
    { t: 42 },
    { t: 'unknown' },
    { t: 'listen' },
    { t: 'boot-failed' },
    { t: 'recycle', reason: 1 },
    { t: 'beat', counters, inFlight: {} },
    { t: 'beat', counters: { ...counters, rss: '1' }, inFlight: [] },
    { t: 'beat', counters: { requests: 1 }, inFlight: [] },
    { t: 'beat', inFlight: [] },
    { t: 'beat', counters, inFlight: [{ ...request, startedAt: 'now' }] },
    { t: 'harakiri' },
    { t: 'harakiri', requests: [null] },
  ];
  for (const message of invalid) t.notOk(isFromWorker(message), JSON.stringify(message));
});

t.test('workers beat often only while a deadline is watched or a recycle checked', async (t) => {
  const none = { harakiriMs: 0, maxRequests: 0, reloadOnRssBytes: 0 };
  t.equal(beatPeriodMs(none), IDLE_BEAT_MS, 'nothing to watch: once a second');
  t.equal(beatPeriodMs({ ...none, harakiriMs: 3000 }), BEAT_MS, 'a harakiri deadline: every 100 ms');
  t.equal(beatPeriodMs({ ...none, maxRequests: 1000 }), BEAT_MS, '--max-requests is checked at each beat');
  t.equal(beatPeriodMs({ ...none, reloadOnRssBytes: 1 << 30 }), BEAT_MS, '--reload-on-rss too');
  t.ok(BEAT_MS < 1000, 'well inside the shortest deadline (1 s)');
  for (const [args, beat] of [[['--python', 'app:application'], IDLE_BEAT_MS], [['--python', '--harakiri', '2', 'app:application'], BEAT_MS]] as const) {
    const parsed = parseRunnerArgs(['--socket', 'unix:/tmp/x.sock', ...args]);
    if (parsed.kind !== 'run') throw new Error('not a run');
    t.equal(pythonWorkerConfig(parsed.options).beatMs, beat, `a Python worker is told too: ${args.join(' ')}`);
  }
});
