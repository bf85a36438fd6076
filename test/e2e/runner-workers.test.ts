// End to end: the runner's master and its workers under load, behind a real proxy — crashes,
// reloads, recycling, harakiri, stops, readiness. Every process is stopped by PID.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { fetchBuffer } from '../helpers/http.js';
import { FIXTURES, Proc, ROOT, childEnv, simpleConfig, sleep, spawnCli, startProxy, startRunner, tempDir, track, type Teardown } from '../helpers/processes.js';

const APP = join(FIXTURES, 'runner-load.js');

interface Outcome {
  status: number;
  body: string;
  startedAt: number;
}

/** `clients` concurrent request loops against `url` for `ms`: every outcome, failures included. */
async function load(url: string, clients: number, ms: number): Promise<Outcome[]> {
  const until = Date.now() + ms;
  const outcomes: Outcome[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < until) {
        const startedAt = Date.now();
        const reply = await fetchBuffer(url).then(
          (r) => ({ status: r.status, body: r.body.toString() }),
          (err: Error) => ({ status: -1, body: err.message }),
        );
        outcomes.push({ ...reply, startedAt });
      }
    }),
  );
  return outcomes;
}

/** PIDs of the master's worker processes. */
function children(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Waits (up to 5 s) until the master's children satisfy `ok`; returns them. */
async function childrenWhen(pid: number, ok: (pids: number[]) => boolean): Promise<number[]> {
  for (let i = 0; i < 250 && !ok(children(pid)); i++) await sleep(20);
  return children(pid);
}

async function group(t: Teardown & { teardown(fn: () => unknown): void }, args: string[]) {
  const dir = tempDir(t);
  const socket = join(dir, 'app.sock');
  const runner = await startRunner(t, { app: APP, socket, args });
  const proxy = await startProxy(t, dir, simpleConfig(socket));
  return { dir, socket, runner, proxy };
}

const failed = (outcomes: Outcome[]) => outcomes.filter((o) => o.status !== 200);

t.test('3 workers: the proxy reaches each; kill -9 of one loses at most its in-flight requests', async (t) => {
  const { runner, proxy } = await group(t, ['--workers', '3']);
  t.equal(children(runner.proc.pid).length, 3, 'three workers');
  const warm = await load(`${proxy.url}/pid`, 20, 800);
  t.same(failed(warm), [], 'no failure');
  const served = new Set(warm.map((o) => Number(o.body)));
  t.equal(served.size, 3, 'every worker got traffic');

  const victim = [...served][0]!;
  const during = load(`${proxy.url}/pid`, 20, 2500);
  await sleep(500);
  const killedAt = Date.now();
  process.kill(victim, 'SIGKILL');
  const outcomes = await during;
  const lost = failed(outcomes);
  t.ok(lost.length <= 20, `at most the victim's in-flight requests failed (${lost.length})`);
  t.same(failed(outcomes.filter((o) => o.startedAt >= killedAt + 1000)), [], 'everything from one second after the kill succeeded');
  await runner.proc.waitForLog((l) => l.msg === 'worker died; starting a new one' && l.workerPid === victim);
  const now = await childrenWhen(runner.proc.pid, (pids) => pids.length === 3 && !pids.includes(victim));
  t.equal(now.length, 3, 'the worker was replaced');
  t.notOk(now.includes(victim));
});

t.test('SIGHUP under load: no request fails, the new workers take over', async (t) => {
  const { runner, proxy } = await group(t, ['--workers', '2']);
  const before = children(runner.proc.pid);
  const during = load(`${proxy.url}/pid`, 20, 3000);
  await sleep(300);
  runner.proc.child.kill('SIGHUP');
  const outcomes = await during;
  t.same(failed(outcomes), [], `none of ${outcomes.length} requests failed`);
  if (failed(outcomes).length) console.error(proxy.proc.logs.filter((l) => l.msg === 'request failed').slice(0, 5));
  const reloaded = await runner.proc.waitForLog((l) => l.msg === 'reloaded');
  for (let i = 0; i < 250 && children(runner.proc.pid).some((p) => before.includes(p)); i++) await sleep(20);
  const after = children(runner.proc.pid);
  t.equal(after.length, 2);
  t.notOk(after.some((p) => before.includes(p)), 'the old workers are gone');
  const late = outcomes.filter((o) => o.startedAt > (reloaded.time as number) + 300).map((o) => Number(o.body));
  t.ok(late.every((pid) => after.includes(pid)), 'the last requests were served by new workers');
});

t.test('--max-requests with jitter recycles under load: no failure, never fewer than N-1 workers', async (t) => {
  const { runner, proxy } = await group(t, ['--workers', '2', '--max-requests', '40', '--max-requests-jitter', '20']);
  const gone = new Set<number>();
  const draining = () => {
    const drained = runner.proc.logs.filter((l) => l.msg === 'draining worker').map((l) => l.workerPid as number);
    const exited = new Set(runner.proc.logs.filter((l) => l.msg === 'worker stopped').map((l) => l.workerPid as number));
    for (const pid of exited) gone.add(pid);
    return drained.filter((pid) => !gone.has(pid) && children(runner.proc.pid).includes(pid)).length;
  };
  let fewest = Infinity;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      // Workers on their way out (draining) still count among the children: subtract them.
      const serving = children(runner.proc.pid).length - draining();
      fewest = Math.min(fewest, serving);
      await sleep(25);
    }
  })();
  const outcomes = await load(`${proxy.url}/pid`, 20, 3000);
  sampling = false;
  await sampler;
  t.same(failed(outcomes), [], `none of ${outcomes.length} requests failed`);
  const recycled = runner.proc.logs.filter((l) => l.msg === 'recycling worker: starting its replacement first');
  t.ok(recycled.length >= 2, `workers were recycled (${recycled.length})`);
  t.ok(fewest >= 1, `never fewer than N-1 workers serving (fewest: ${fewest})`);
});

t.test('--reload-on-rss recycles a worker over the limit without failing a request', async (t) => {
  // 1 MB: every worker is over it, so workers are replaced one after the other all along.
  const { runner, proxy } = await group(t, ['--workers', '1', '--reload-on-rss', '1']);
  const outcomes = await load(`${proxy.url}/pid`, 8, 1500);
  t.same(failed(outcomes), [], `none of ${outcomes.length} requests failed`);
  const recycled = runner.proc.logs.filter((l) => l.msg === 'recycling worker: starting its replacement first');
  t.ok(recycled.length >= 1, `recycled (${recycled.length})`);
  t.match(recycled[0], { reason: /^rss \d+ MB$/ });
});

t.test('--harakiri: a waiting request gets 504 and is cancelled; a blocked worker is killed and replaced', async (t) => {
  const { runner, proxy } = await group(t, ['--workers', '2', '--harakiri', '1']);
  let started = Date.now();
  const waiting = await fetchBuffer(`${proxy.url}/wait`);
  t.equal(waiting.status, 504, 'the proxy answers 504');
  t.ok(Date.now() - started < 2000, `within the deadline plus a second (${Date.now() - started} ms)`);
  const cut = await runner.proc.waitForLog((l) => l.msg === 'harakiri: request deadline passed, cancelling it');
  t.match(cut, { method: 'GET', path: '/wait', reqId: /./ }, 'the log names the request');

  const before = children(runner.proc.pid);
  started = Date.now();
  const blocked = await fetchBuffer(`${proxy.url}/block`);
  const elapsed = Date.now() - started;
  t.equal(blocked.status, 504, 'the watchdog thread cancelled it: 504');
  t.ok(elapsed < 2000, `within the deadline plus a second (${elapsed} ms)`);
  const killed = await runner.proc.waitForLog((l) => l.msg === 'harakiri: worker blocked past the deadline, killing it');
  t.match(killed, { requests: [{ method: 'GET', path: '/block', reqId: /./ }] }, 'the log names the request that blocked (the cancelled one is no longer in flight)');
  const after = await childrenWhen(runner.proc.pid, (pids) => pids.length === 2 && !pids.includes(killed.workerPid as number));
  t.equal(after.length, 2, 'a fresh worker replaced it');
  t.notOk(after.includes(killed.workerPid as number));
  t.ok(before.includes(killed.workerPid as number));
  const ok = await load(`${proxy.url}/pid`, 4, 300);
  t.same(failed(ok), [], 'the group serves again');
});

t.test('SIGTERM with long requests in flight lets them finish', async (t) => {
  const { socket, runner, proxy } = await group(t, ['--workers', '2']);
  const long = Array.from({ length: 6 }, () => fetchBuffer(`${proxy.url}/slow?ms=1200`, { agent: false }));
  await sleep(300);
  runner.proc.child.kill('SIGTERM');
  const replies = await Promise.all(long);
  t.same(replies.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
  t.equal(await runner.proc.exited, 0, 'clean exit');
  t.notOk(existsSync(socket), 'socket removed');
});

t.test('SIGTTIN / SIGTTOU: one worker more, one less; SIGINT stops at once', async (t) => {
  const { runner } = await group(t, ['--workers', '1']);
  t.equal(children(runner.proc.pid).length, 1);
  runner.proc.child.kill('SIGTTIN');
  for (let i = 0; i < 250 && children(runner.proc.pid).length < 2; i++) await sleep(20);
  t.equal(children(runner.proc.pid).length, 2, 'one more');
  runner.proc.child.kill('SIGTTOU');
  for (let i = 0; i < 250 && children(runner.proc.pid).length > 1; i++) await sleep(20);
  t.equal(children(runner.proc.pid).length, 1, 'one less');
  runner.proc.child.kill('SIGINT');
  t.equal(await runner.proc.exited, 0);
});

t.test('an app that fails to load stops the master with exit 3, whatever the worker count', async (t) => {
  const dir = tempDir(t);
  const socket = join(dir, 'x.sock');
  const started = Date.now();
  const proc = spawnCli(t, 'runner', ['--socket', `unix:${socket}`, '--workers', '4', join(FIXTURES, 'runner-broken.js')]);
  t.equal(await proc.exited, 3);
  t.notOk(proc.logs.some((l) => l.msg === 'worker died; starting a new one'), 'without respawning');
  // Four workers fail within a second or two; a loaded machine gets an order of magnitude.
  t.ok(Date.now() - started < 20_000, `promptly (${Date.now() - started} ms)`);
  t.match(proc.logs.map((l) => l.msg).join('\n'), /a worker cannot load the app; stopping/);
  t.notOk(existsSync(socket), 'no socket left');
});

t.test('readiness: READY=1 to systemd once the workers are ready', async (t) => {
  const dir = tempDir(t);
  const notified = join(dir, 'notified');
  // A stand-in for systemd-notify that records its arguments.
  writeFileSync(join(dir, 'systemd-notify'), `#!/bin/sh\necho "$NOTIFY_SOCKET $*" >> ${notified}\n`);
  chmodSync(join(dir, 'systemd-notify'), 0o755);
  const socket = join(dir, 'app.sock');
  const env = { ...childEnv(), NOTIFY_SOCKET: '/run/fake-notify', PATH: `${dir}:${process.env.PATH}` };
  const child = track(spawn(process.execPath, [join(ROOT, 'dist/runner/cli.js'), '--socket', `unix:${socket}`, '-w', '2', APP], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  const proc = new Proc(child);
  t.teardown(() => proc.stop('SIGKILL'));
  const ready = await proc.waitForLog((l) => l.msg === 'runner ready');
  t.equal(ready.workers, 2);
  for (let i = 0; i < 100 && !existsSync(notified); i++) await sleep(20);
  t.match(readFileSync(notified, 'utf8'), new RegExp(`^/run/fake-notify --pid=${proc.pid} READY=1`));
  t.equal(await proc.stop('SIGTERM'), 0);
});

t.test('--stats serves the master and every worker as JSON', async (t) => {
  const dir = tempDir(t);
  const stats = join(dir, 'stats.sock');
  const { runner, proxy } = await group(t, ['--workers', '2', '--stats', `unix:${stats}`]);
  t.same(failed(await load(`${proxy.url}/pid`, 4, 300)), []);
  await sleep(300); // a heartbeat or two
  const text = await new Promise<string>((resolve, reject) => {
    let data = '';
    const socket = connect({ path: stats });
    socket.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
    socket.on('end', () => resolve(data)).on('error', reject);
  });
  const doc = JSON.parse(text) as {
    pid: number;
    uptimeMs: number;
    restarts: number;
    listenQueue: { queued: number; limit: number } | null;
    workers: Array<Record<string, number | string>>;
  };
  t.equal(doc.pid, runner.proc.pid);
  t.ok(doc.uptimeMs > 0);
  // The listen queue as the OS reports it (ss, from iproute2, for a Unix socket).
  if (doc.listenQueue) t.ok(doc.listenQueue.limit > 0 && doc.listenQueue.queued >= 0, `listen queue ${JSON.stringify(doc.listenQueue)}`);
  else t.comment('the OS does not report the listen queue here (no ss)');
  t.equal(doc.restarts, 0);
  t.same(doc.workers.map((w) => w.index), [1, 2]);
  t.same(doc.workers.map((w) => w.pid).sort(), children(runner.proc.pid).sort());
  for (const worker of doc.workers) {
    t.match(worker, { status: 'ready', inFlight: 0, exceptions: 0, harakiri: 0, rss: Number, avgLatencyMs: Number, lastSpawn: Number });
  }
  t.ok(doc.workers.reduce((sum, w) => sum + (w.requests as number), 0) > 0, 'requests are counted');
  t.equal(statSync(stats).mode & 0o777, 0o600, 'the stats socket is for the operator only');
  runner.proc.child.kill('SIGTERM');
  t.equal(await runner.proc.exited, 0);
  t.notOk(existsSync(stats), 'stats socket removed');
});

t.test('--chown, --uid and --gid: the socket is handed over, then master and workers drop to the user', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root');
    return;
  }
  const dir = tempDir(t);
  chmodSync(dir, 0o777); // the master, as nobody, still removes its socket here
  const socket = join(dir, 'app.sock');
  const runner = await startRunner(t, { app: APP, socket, args: ['-w', '2', '--chown', 'nobody:nogroup', '--uid', 'nobody', '--gid', 'nogroup'] });
  const owner = statSync(socket);
  t.same([owner.uid, owner.gid], [65534, 65534], 'the socket belongs to nobody:nogroup');
  const uid = (pid: number) => /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
  const gid = (pid: number) => /^Gid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
  for (const pid of [runner.proc.pid, ...children(runner.proc.pid)]) {
    t.equal(uid(pid), '65534', `process ${pid} runs as nobody`);
    t.equal(gid(pid), '65534', `process ${pid} runs as nogroup`);
  }
  runner.proc.child.kill('SIGTERM');
  t.equal(await runner.proc.exited, 0);
  t.notOk(existsSync(socket), 'socket removed');

  const unknown = spawnCli(t, 'runner', ['--socket', `unix:${join(dir, 'b.sock')}`, '--uid', 'no-such-user-here', APP]);
  t.equal(await unknown.exited, 1);
  t.match(unknown.logs.map((l) => l.msg).join('\n'), /unknown user "no-such-user-here"/);
  t.notOk(existsSync(join(dir, 'b.sock')), 'nothing left behind');
});

t.test('SIGHUP with an app that no longer loads: the reload is abandoned, the old workers keep serving', async (t) => {
  const dir = tempDir(t);
  const app = join(dir, 'app.mjs');
  writeFileSync(app, readFileSync(APP));
  const socket = join(dir, 'app.sock');
  const runner = await startRunner(t, { app, socket, args: ['--workers', '2'] });
  const proxy = await startProxy(t, dir, simpleConfig(socket));
  const before = children(runner.proc.pid).sort();
  writeFileSync(app, 'export default function app( {\n');
  runner.proc.child.kill('SIGHUP');
  await runner.proc.waitForLog((l) => l.msg === 'reload failed: the new workers cannot load the app; the old ones keep serving');
  const after = await childrenWhen(runner.proc.pid, (pids) => pids.length === 2);
  t.same(after.sort(), before, 'the same workers');
  t.same(failed(await load(`${proxy.url}/pid`, 4, 300)), [], 'still serving');
  t.ok(runner.proc.running, 'the master did not stop');
});
