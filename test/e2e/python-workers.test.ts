// End to end: Python workers under tsgi-runner's master, behind a real tsgi-proxy: harakiri
// (504, then a new worker), several workers on one socket, reload without a failed request,
// reloads and recycles under a load of bodied requests without a refused stream, a clean
// SIGTERM, an app that cannot be imported. Every process is stopped by PID.
import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import { mulberry32, randomBytes as randomBytesOf, seed } from '../protocol/random.js';
import { fetchBuffer } from '../helpers/http.js';
import { children, childrenWhen, loadUntil, pace, spawnCli, tempDir, until } from '../helpers/processes.js';
import { PYTHON, PYTHON_APPS, fetchJson as json, pythonGroup, pythonMissing } from '../helpers/python.js';

t.setTimeout(240_000);
const missing = pythonMissing();
if (missing) t.plan(0, missing);
const group = (t: Parameters<typeof pythonGroup>[0], args: string[]) => pythonGroup(t, 'validated_app:app', args);

t.test('harakiri: 504 for the request, then the worker is replaced', async (t) => {
  const { runner, proxy } = await group(t, ['--harakiri', '1']);
  const before = children(runner.proc.pid);
  const started = Date.now();
  const reply = await fetchBuffer(`${proxy.url}/sleep?s=30`);
  t.equal(reply.status, 504);
  t.ok(Date.now() - started < 10_000, `answered in ${Date.now() - started} ms, not after the app's 30 s`);
  t.match(await runner.proc.waitForLog((l) => l.msg === 'harakiri: request deadline passed, cancelling it'), { path: '/sleep', reqId: /./ });
  const after = await childrenWhen(runner.proc.pid, (pids) => pids.length === 1 && !before.includes(pids[0]!));
  t.equal(after.length, 1);
  t.notOk(before.includes(after[0]!), 'a new worker');
  await until('the new worker to serve', async () => (await fetchBuffer(`${proxy.url}/pid`).catch(() => null))?.status === 200);
  t.equal((await fetchBuffer(`${proxy.url}/pid`)).body.toString(), String(after[0]), 'it serves');
});

t.test('--workers 2: both serve, each names its pid; SIGTERM stops cleanly', async (t) => {
  const { runner, proxy } = await group(t, ['--workers', '2']);
  const pids = children(runner.proc.pid);
  t.equal(pids.length, 2);
  const seen = new Set<number>();
  // Rounds of 4 at once until both answered, for up to 30 s (by the clock: the proxy's
  // connections reach the second worker as the kernel hands them out).
  for (const deadline = Date.now() + 30_000; seen.size < 2 && Date.now() < deadline; ) {
    const replies = await Promise.all(Array.from({ length: 4 }, () => fetchBuffer(`${proxy.url}/pid`, { agent: false })));
    for (const r of replies) seen.add(Number(r.body));
  }
  t.same([...seen].sort(), [...pids].sort(), 'both workers answered');
  const { value } = await json(`${proxy.url}/environ`);
  t.equal((value.flags as Record<string, boolean>)['wsgi.multiprocess'], true);

  // SIGHUP: a new generation boots, the old one drains; requests meanwhile all succeed.
  const during: Promise<number>[] = [];
  let loading = true;
  const loop = (async () => {
    while (loading) {
      during.push(fetchBuffer(`${proxy.url}/sleep?s=0.05`, { agent: false }).then((r) => r.status, () => -1));
      await pace(20); // a request every 20 ms through the reload
    }
  })();
  runner.proc.child.kill('SIGHUP');
  await runner.proc.waitForLog((l) => l.msg === 'reloaded', 30_000);
  const fresh = await childrenWhen(runner.proc.pid, (now) => now.length === 2 && !now.some((pid) => pids.includes(pid)));
  loading = false;
  await loop;
  const statuses = await Promise.all(during);
  t.same(statuses.filter((s) => s !== 200), [], `${statuses.length} requests during the reload all succeeded`);
  t.equal(fresh.length, 2);
  t.notOk(fresh.some((pid) => pids.includes(pid)), 'the old workers drained and left');

  runner.proc.child.kill('SIGTERM');
  t.equal(await runner.proc.exited, 0);
});

// As test/e2e/reload-hitless.test.ts for the JavaScript worker: keep-alive clients send GETs and
// PUT/POST bodies while the workers are recycled (--max-requests) and reloaded (SIGHUP) over and
// over; the two-step drain (SPEC.md section 4, Goaway) must serve every REQUEST the proxy sent
// before it read the GOAWAY, so nothing fails and the proxy sees no stream refused.
const SIZES = [0, 1, 1000, 65536, 300_000];
// The request mix is seeded; what it meets depends on timing (a seed replays the choices).
const SEED = seed();
const random = mulberry32(SEED);
t.comment(`seed ${SEED} (TSGI_SEED=${SEED} replays the same choices)`);

function exchange(agent: Agent, url: string): Promise<string | null> {
  const kind = Math.floor(random() * 3);
  const body = kind === 0 ? undefined : randomBytesOf(random, SIZES[Math.floor(random() * SIZES.length)]!);
  const method = kind === 0 ? 'GET' : kind === 1 ? 'PUT' : 'POST';
  const path = kind === 0 ? '/pid' : '/upload';
  return new Promise((resolve) => {
    const req = request(`${url}${path}`, { method, agent, headers: body ? { 'Content-Length': body.length } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (err) => resolve(`${method} ${path}: ${err.message}`));
      res.on('end', () => {
        const got = Buffer.concat(chunks).toString();
        if (res.statusCode !== 200) return resolve(`${method} ${path}: ${res.statusCode} ${got.slice(0, 80)}`);
        if (!body) return resolve(/^\d+$/.test(got) ? null : `${method} ${path}: wrong body`);
        const value = JSON.parse(got) as { length: number; sha256: string };
        const sha256 = createHash('sha256').update(body).digest('hex');
        resolve(value.length === body.length && value.sha256 === sha256 ? null : `${method} ${path}: wrong body`);
      });
    });
    req.on('error', (err) => resolve(`${method} ${path}: ${err.message}`));
    req.end(body);
  });
}

t.test('recycles and reloads under a load of bodied requests refuse no stream', async (t) => {
  const ROUNDS = 4;
  const CLIENTS = 8;
  const { runner, proxy } = await group(t, ['--workers', '2', '--threads', '4', '--max-requests', '20', '--max-requests-jitter', '10']);
  const reloaded = () => runner.proc.logs.filter((l) => l.msg === 'reloaded').length;
  const failures: string[] = [];
  let ok = 0;
  /** Until `n` more requests have succeeded: the load is flowing, whatever the machine's speed. */
  const served = (n: number) => {
    const target = ok + n;
    return until(`${n} more requests served`, () => ok >= target || failures.length > 0, 120_000);
  };
  const chaos = (async () => {
    await served(60);
    for (let round = 0; round < ROUNDS; round++) {
      const before = reloaded();
      runner.proc.child.kill('SIGHUP');
      await until('the reload to complete', () => reloaded() > before, 60_000);
      await pace(300 + random() * 300); // the rhythm of the faults: random gaps
    }
    await served(60); // and the new generation serves
  })();
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  try {
    await loadUntil(CLIENTS, chaos, async () => {
      const failure = await exchange(agent, proxy.url);
      if (failure === null) ok++;
      else failures.push(failure);
    });
  } finally {
    agent.destroy();
  }
  const recycled = runner.proc.logs.filter((l) => l.msg === 'recycling worker: starting its replacement first').length;
  const refusals = proxy.proc.logs.filter(
    (l) => l.failure === 'refused' || l.code === 'TSGI_UPSTREAM_REFUSED' || /REFUSED_STREAM|going away|is draining/.test(String(l.reason ?? '')),
  );
  t.comment(`${ok} requests succeeded; ${reloaded()} reloads, ${recycled} recycles; ${failures.length} failed; ${refusals.length} refusals`);
  t.ok(ok > 100, 'a real load went through');
  t.ok(recycled > 0, 'workers were recycled');
  t.equal(reloaded(), ROUNDS, 'every reload completed');
  t.same(failures.slice(0, 10), [], `no request failed (${failures.length})`);
  t.same(
    refusals.slice(0, 5).map((l) => `${String(l.msg)}: ${String(l.reason)}`),
    [],
    `the proxy saw no stream refused (${refusals.length})`,
  );
});

t.test('an app that cannot be imported stops the runner with exit 3', async (t) => {
  const dir = tempDir(t);
  const proc = spawnCli(t, 'runner', ['--socket', `unix:${join(dir, 'app.sock')}`, '--python', '--python-executable', PYTHON, '--chdir', PYTHON_APPS, 'no_such_module:app']);
  t.equal(await proc.exited, 3);
  t.ok(proc.logs.some((l) => typeof l.msg === 'string' && l.msg.includes("cannot import module 'no_such_module'")), 'the log names the module');
});
