// tsgi_next_upstream's rules (proxy/upstream/retry.ts): which failed tries may move on.
import t from 'tap';
import { countsAsFailure, mayRetry, type NextUpstreamCondition, type RetryPolicy, type RetryState } from '../../../proxy/upstream/retry.js';

const policy = (conditions: NextUpstreamCondition[], tries = 0, timeoutMs = 0): RetryPolicy => ({ conditions: new Set(conditions), tries, timeoutMs });
const state = (extra: Partial<RetryState> = {}): RetryState => ({ method: 'GET', tries: 1, startedAt: 0, now: 10, mayHaveRun: false, bodyReplayable: true, ...extra });

t.test('error and timeout move on while tries last; a try that may have run only when idempotent', async (t) => {
  const p = policy(['error', 'timeout'], 2);
  t.ok(mayRetry(p, 'error', state()));
  t.notOk(mayRetry(p, 'error', state({ tries: 2 })), 'tries spent');
  t.notOk(mayRetry(p, 'http_503', state()), 'not listed');
  t.notOk(mayRetry(p, 'error', state({ method: 'POST', mayHaveRun: true })), 'POST that may have run');
  t.ok(mayRetry(p, 'error', state({ method: 'POST', mayHaveRun: false })), 'POST the runner never accepted');
  t.notOk(mayRetry(p, 'error', state({ bodyReplayable: false })), 'a body already consumed cannot be replayed');
  t.notOk(mayRetry(policy(['error'], 0, 5), 'error', state({ now: 5 })), 'next_upstream_timeout passed');
});

t.test('a refused stream is always retried while its body can be replayed, and spends no try', async (t) => {
  t.ok(mayRetry(policy([]), 'refused', state({ method: 'POST' })), 'even with tsgi_next_upstream off');
  t.ok(mayRetry(policy(['error'], 1), 'refused', state({ tries: 1 })), 'tsgi_next_upstream_tries 1 still allows it');
  t.notOk(mayRetry(policy(['error']), 'refused', state({ bodyReplayable: false })));
  t.notOk(mayRetry(policy(['error'], 0, 5), 'refused', state({ now: 6 })), 'bounded by next_upstream_timeout');
  t.notOk(countsAsFailure(policy(['error']), 'refused'), 'not a failure of the server');
  t.ok(countsAsFailure(policy([]), 'error'));
});
