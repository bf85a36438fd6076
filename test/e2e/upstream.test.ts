// End to end: an upstream group of several runners — balancing, failover, recovery.
import { join } from 'node:path';
import t from 'tap';
import { fetchBuffer } from '../helpers/http.js';
import { FIXTURES, children, startProxy, startRunner, tempDir } from '../helpers/processes.js';

const APP = join(FIXTURES, 'app.js');

async function pidOf(url: string): Promise<number> {
  const reply = await fetchBuffer(`${url}/pid`);
  return Number(reply.body.toString());
}

t.test('round robin over two runners; one dies and no request fails', async (t) => {
  const dir = tempDir(t);
  const a = await startRunner(t, { app: APP, socket: join(dir, 'a.sock') });
  const b = await startRunner(t, { app: APP, socket: join(dir, 'b.sock') });
  const proxy = await startProxy(
    t,
    dir,
    `upstream pool {
       server unix:${a.socket};
       server unix:${b.socket};
     }
     server { listen 127.0.0.1:0; location / { tsgi_pass pool; } }`,
  );
  const pids = [];
  for (let i = 0; i < 6; i++) pids.push(await pidOf(proxy.url));
  t.equal(new Set(pids).size, 2, 'both runners serve');
  t.same(pids.slice(0, 4), [pids[0], pids[1], pids[0], pids[1]], 'alternating');

  b.proc.child.kill('SIGKILL');
  await b.proc.exited;
  const statuses = [];
  for (let i = 0; i < 20; i++) statuses.push((await fetchBuffer(`${proxy.url}/hello`)).status);
  t.same(new Set(statuses), new Set([200]), 'every request answered by the live runner');
  await proxy.proc.waitForLog((l) => l.msg === 'upstream server temporarily disabled');
  const after = new Set<number>();
  for (let i = 0; i < 6; i++) after.add(await pidOf(proxy.url));
  t.equal(after.size, 1, 'only the live runner serves');
  t.ok(pids.includes([...after][0]!), 'and it is one of the two');
});

t.test('weights, backup, and a failed server coming back after fail_timeout', async (t) => {
  const dir = tempDir(t);
  const a = await startRunner(t, { app: APP, socket: join(dir, 'a.sock') });
  const b = await startRunner(t, { app: APP, socket: join(dir, 'b.sock') });
  const spare = await startRunner(t, { app: APP, socket: join(dir, 'spare.sock') });
  const proxy = await startProxy(
    t,
    dir,
    `upstream pool {
       server unix:${a.socket} weight=2 max_fails=1 fail_timeout=1s;
       server unix:${b.socket} max_fails=1 fail_timeout=1s;
       server unix:${spare.socket} backup;
     }
     server { listen 127.0.0.1:0; location / { tsgi_pass pool; } }`,
  );
  const pids: number[] = [];
  for (let i = 0; i < 6; i++) pids.push(await pidOf(proxy.url));
  const counts = [...new Set(pids)].map((pid) => pids.filter((p) => p === pid).length).sort();
  t.same(counts, [2, 4], 'weight 2 : 1');
  const [pidA, pidB] = [pids[0]!, pids.find((p) => p !== pids[0])!];

  // Both primaries go down: the backup answers, and no request fails.
  a.proc.child.kill('SIGKILL');
  b.proc.child.kill('SIGKILL');
  await Promise.all([a.proc.exited, b.proc.exited]);
  const during = new Set<number>();
  for (let i = 0; i < 4; i++) during.add(await pidOf(proxy.url));
  t.equal(during.size, 1, 'one server answers');
  t.notOk(during.has(pidA) || during.has(pidB), 'the backup');

  // A primary comes back: once fail_timeout (1 s) has passed it gets a trial request, and serves.
  const back = await startRunner(t, { app: APP, socket: join(dir, 'a.sock') });
  void back;
  await new Promise((resolve) => setTimeout(resolve, 1200));
  const after = new Set<number>();
  for (let i = 0; i < 6; i++) after.add(await pidOf(proxy.url));
  t.notOk([...after].every((pid) => during.has(pid)), 'the primary serves again');
});

t.test('max_conns with a queue: requests wait their turn; beyond the queue, 503', async (t) => {
  const dir = tempDir(t);
  const a = await startRunner(t, { app: APP, socket: join(dir, 'a.sock') });
  const config = (queue: string) => `upstream one { server unix:${a.socket} max_conns=1; ${queue} }
     server { listen 127.0.0.1:0; location / { tsgi_pass one; } }`;
  const queued = await startProxy(t, dir, config('queue 5 timeout=5s;'));
  const started = Date.now();
  const statuses = await Promise.all([1, 2, 3].map(() => fetchBuffer(`${queued.url}/slow?ms=300`, { agent: false }).then((r) => r.status)));
  t.same(statuses, [200, 200, 200], 'all served, one at a time');
  t.ok(Date.now() - started >= 850, `took ${Date.now() - started} ms: served one after another`);
  const small = await startProxy(t, dir, config('queue 1 timeout=5s;'));
  const mixed = await Promise.all([1, 2, 3].map(() => fetchBuffer(`${small.url}/slow?ms=300`, { agent: false }).then((r) => r.status)));
  t.same(mixed.sort(), [200, 200, 503], 'one running, one queued, one turned away');
});

t.test('health_check takes a stalled runner out and brings it back (PING over the protocol)', async (t) => {
  const dir = tempDir(t);
  const a = await startRunner(t, { app: APP, socket: join(dir, 'a.sock') });
  const b = await startRunner(t, { app: APP, socket: join(dir, 'b.sock') });
  const proxy = await startProxy(
    t,
    dir,
    `upstream pool {
       health_check interval=200ms timeout=150ms fails=1 passes=1;
       server unix:${a.socket};
       server unix:${b.socket} slow_start=1s;
     }
     server { listen 127.0.0.1:0; location / { tsgi_pass pool; tsgi_read_timeout 60s; } }`,
  );
  // A stalled runner (its worker stopped, not dead) refuses nothing: only the health check sees it.
  const workers = children(b.proc.pid);
  const signalWorkers = (signal: NodeJS.Signals) => workers.forEach((pid) => process.kill(pid, signal));
  signalWorkers('SIGSTOP');
  t.teardown(() => {
    try {
      signalWorkers('SIGCONT');
    } catch {
      // already gone
    }
  });
  await proxy.proc.waitForLog((l) => l.msg === 'health check failed: server taken out of the rotation', 5000);
  const started = Date.now();
  const statuses = [];
  for (let i = 0; i < 6; i++) statuses.push((await fetchBuffer(`${proxy.url}/hello`)).status);
  t.same(new Set(statuses), new Set([200]), 'every request answered by the healthy runner');
  // One that reached the stalled runner would wait for tsgi_read_timeout (60 s).
  t.ok(Date.now() - started < 10_000, `and none waited on the stalled one (${Date.now() - started} ms for six)`);
  signalWorkers('SIGCONT');
  await proxy.proc.waitForLog((l) => l.msg === 'health check passed: server back in the rotation', 5000);
  await new Promise((resolve) => setTimeout(resolve, 1100)); // slow_start
  const pids = new Set<number>();
  for (let i = 0; i < 6; i++) pids.add(await pidOf(proxy.url));
  t.equal(pids.size, 2, 'both serve again');
  void a;
});
