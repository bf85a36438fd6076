// End to end: the runner master's signals, failures, readiness, statistics and privileges, over
// real processes stopped by PID (runner-workers.test.ts has the behaviour under load).
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { fetchBuffer } from '../helpers/http.js';
import { FIXTURES, Proc, ROOT, childEnv, children, childrenWhen, simpleConfig, spawnCli, spawnNode, startProxy, startRunner, tempDir, until } from '../helpers/processes.js';
import { APP, failed, group, load } from '../helpers/runner-workers.js';

t.test('SIGTERM with long requests in flight lets them finish', async (t) => {
  const { socket, runner, proxy } = await group(t, ['--workers', '2']);
  const long = Array.from({ length: 6 }, () => fetchBuffer(`${proxy.url}/slow?ms=1200`, { agent: false }));
  await until('the app to start all six', () => runner.proc.logs.filter((l) => String(l.msg).startsWith('app started')).length === 6);
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
  t.equal((await childrenWhen(runner.proc.pid, (pids) => pids.length === 2)).length, 2, 'one more');
  runner.proc.child.kill('SIGTTOU');
  t.equal((await childrenWhen(runner.proc.pid, (pids) => pids.length === 1)).length, 1, 'one less');
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
  const child = spawnNode(join(ROOT, 'dist/runner/cli.js'), ['--socket', `unix:${socket}`, '-w', '2', APP], env);
  const proc = new Proc(child);
  t.teardown(() => proc.stop('SIGKILL'));
  const ready = await proc.waitForLog((l) => l.msg === 'runner ready');
  t.equal(ready.workers, 2);
  await until('systemd-notify to be called', () => existsSync(notified));
  t.match(readFileSync(notified, 'utf8'), new RegExp(`^/run/fake-notify --pid=${proc.pid} READY=1`));
  t.equal(await proc.stop('SIGTERM'), 0);
});

t.test('--stats serves the master and every worker as JSON', async (t) => {
  const dir = tempDir(t);
  const stats = join(dir, 'stats.sock');
  const { runner, proxy } = await group(t, ['--workers', '2', '--stats', `unix:${stats}`]);
  const answered = await load(`${proxy.url}/pid`, 4, 50);
  t.same(failed(answered), []);
  // The workers report to the master on their heartbeats: read until every request is counted.
  const counted = (stats: Stats) => stats.workers.reduce((sum, w) => sum + (w.requests as number), 0);
  let doc = await readStats(stats);
  await until('the stats to count every request', async () => counted((doc = await readStats(stats))) >= answered.length);
  t.equal(counted(doc), answered.length, 'requests are counted');
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
  t.equal(statSync(stats).mode & 0o777, 0o600, 'the stats socket is for the operator only');
  runner.proc.child.kill('SIGTERM');
  t.equal(await runner.proc.exited, 0);
  t.notOk(existsSync(stats), 'stats socket removed');
});

t.test('--chown, --uid and --gid: the socket is handed over, then master and workers drop to the user', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root', () => {});
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

/** A copy of the test app in a fresh directory, for a test to break before a SIGHUP. */
function appCopy(t: Parameters<typeof tempDir>[0]): { dir: string; app: string; socket: string } {
  const dir = tempDir(t);
  const app = join(dir, 'app.mjs');
  writeFileSync(app, readFileSync(APP));
  return { dir, app, socket: join(dir, 'app.sock') };
}

t.test('SIGHUP with an app that no longer loads: the reload is abandoned, the old workers keep serving', async (t) => {
  const { dir, app, socket } = appCopy(t);
  const runner = await startRunner(t, { app, socket, args: ['--workers', '2'] });
  const proxy = await startProxy(t, dir, simpleConfig(socket));
  const before = children(runner.proc.pid).sort();
  writeFileSync(app, 'export default function app( {\n');
  runner.proc.child.kill('SIGHUP');
  await runner.proc.waitForLog((l) => l.msg === 'reload failed: the new workers cannot load the app; the old ones keep serving');
  const after = await childrenWhen(runner.proc.pid, (pids) => pids.length === 2);
  t.same(after.sort(), before, 'the same workers');
  t.same(failed(await load(`${proxy.url}/pid`, 4, 50)), [], 'still serving');
  t.ok(runner.proc.running, 'the master did not stop');
});

t.test('a reload that fails after every old worker died stops the runner, not leaves it empty', async (t) => {
  const { app, socket } = appCopy(t);
  const runner = await startRunner(t, { app, socket, args: ['--workers', '1'] });
  const [old] = children(runner.proc.pid);
  // The new generation takes a while to fail: time for the old worker to die meanwhile.
  writeFileSync(app, "await new Promise((resolve) => setTimeout(resolve, 1500));\nthrow new Error('no longer loads');\n");
  runner.proc.child.kill('SIGHUP');
  await runner.proc.waitForLog((l) => l.msg === 'reloading');
  process.kill(old!, 'SIGKILL');
  await runner.proc.waitForLog((l) => l.msg === 'reload failed: the new workers cannot load the app; the old ones keep serving');
  // Nothing serves: a replacement is tried, fails to load the same app, and the master says so.
  t.equal(await runner.proc.exited, 3, 'exit code 3 (the app does not load)');
  t.ok(runner.proc.logs.some((l) => l.msg === 'a worker cannot load the app; stopping'), 'logged');
  t.notOk(existsSync(socket), 'socket removed');
});

interface Stats {
  pid: number;
  uptimeMs: number;
  restarts: number;
  listenQueue: { queued: number; limit: number } | null;
  workers: Array<Record<string, number | string>>;
}

/** The runner's --stats document. */
function readStats(path: string): Promise<Stats> {
  return new Promise<string>((resolve, reject) => {
    let data = '';
    const socket = connect({ path });
    socket.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
    socket.on('end', () => resolve(data)).on('error', reject);
  }).then((text) => JSON.parse(text) as Stats);
}
