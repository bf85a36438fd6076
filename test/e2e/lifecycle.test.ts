// End to end: processes coming and going — a runner killed and restarted behind a live proxy,
// graceful stops, socket hygiene, config checking, the CLIs and the demo.
import { execFile, spawn } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { fetchBuffer } from '../helpers/http.js';
import { FIXTURES, Proc, ROOT, childEnv, simpleConfig, spawnCli, spawnNode, startProxy, startRunner, tempDir, until, type RunnerHandle } from '../helpers/processes.js';

const exec = promisify(execFile);
const run = (file: string, args: string[]) => exec(file, args, { env: childEnv() });
const APP = join(FIXTURES, 'app.js');

/** Resolves once the app has begun the request `n` (1 for the first) on `runner`. */
const appStarted = (runner: RunnerHandle, n = 1) =>
  until(`the app to start request ${n}`, () => runner.proc.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('app started')).length >= n);

t.test('runner killed and restarted: 502 meanwhile, then recovery without touching the proxy', async (t) => {
  const dir = tempDir(t);
  const socket = join(dir, 'app.sock');
  const first = await startRunner(t, { app: APP, socket });
  const proxy = await startProxy(t, dir, simpleConfig(socket));
  t.equal((await fetchBuffer(`${proxy.url}/hello`)).status, 200);

  // An in-flight request on the killed runner gets a 502 too.
  const inflight = fetchBuffer(`${proxy.url}/slow?ms=5000`);
  await appStarted(first);
  first.proc.child.kill('SIGKILL');
  await first.proc.exited;
  t.equal((await inflight).status, 502, 'in-flight request on the lost connection');
  t.ok(existsSync(socket), 'SIGKILL leaves the socket file behind');

  const down = await fetchBuffer(`${proxy.url}/hello`);
  t.equal(down.status, 502, 'no runner: 502');
  await proxy.proc.waitForLog((l) => l.msg === 'request failed' && l.code === 'TSGI_UPSTREAM_UNREACHABLE');

  await startRunner(t, { app: APP, socket }); // replaces the stale socket
  // The proxy learns of the new runner on its next attempt to connect: until then, 502s.
  let status = 0;
  await until('a 200 from the new runner', async () => (status = (await fetchBuffer(`${proxy.url}/hello`)).status) === 200).catch(() => undefined);
  t.equal(status, 200, 'served again by the new runner');
});

t.test('runner SIGTERM: in-flight requests finish, the socket is removed', async (t) => {
  const dir = tempDir(t);
  const socket = join(dir, 'app.sock');
  const runner = await startRunner(t, { app: APP, socket });
  const proxy = await startProxy(t, dir, simpleConfig(socket));
  const inflight = fetchBuffer(`${proxy.url}/slow?ms=700`);
  await appStarted(runner);
  runner.proc.child.kill('SIGTERM');
  const reply = await inflight;
  t.equal(reply.status, 200);
  t.equal(reply.body.toString(), 'slept 700 ms');
  t.equal(await runner.proc.exited, 0, 'clean exit');
  t.notOk(existsSync(socket), 'socket removed');
  t.equal((await fetchBuffer(`${proxy.url}/hello`)).status, 502, 'stopped runner: 502');
});

t.test('runner: a second signal cancels what is left and exits 5', async (t) => {
  const dir = tempDir(t);
  const socket = join(dir, 'app.sock');
  const runner = await startRunner(t, { app: APP, socket });
  const proxy = await startProxy(t, dir, simpleConfig(socket));
  const inflight = fetchBuffer(`${proxy.url}/slow?ms=20000`);
  // Only a request the app has begun is left to cancel: signalled before that, the drain
  // refuses it (the proxy gets GOAWAY first) and exit code 0 is right.
  await appStarted(runner);
  runner.proc.child.kill('SIGTERM');
  await runner.proc.waitForLog((l) => l.msg === 'draining');
  runner.proc.child.kill('SIGTERM');
  t.equal(await runner.proc.exited, 5);
  t.ok(runner.proc.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('app close()')), 'the app was closed');
  t.equal((await inflight).status, 502);
  t.notOk(existsSync(socket), 'socket removed');
});

t.test('a live runner socket is never stolen; a file in the way is never deleted', async (t) => {
  const dir = tempDir(t);
  const socket = join(dir, 'app.sock');
  const first = await startRunner(t, { app: APP, socket });
  const second = spawnCli(t, 'runner', ['--socket', `unix:${socket}`, APP]);
  t.equal(await second.exited, 4, 'second runner exits with the listen error code');
  t.match(second.logs.map((l) => l.msg).join('\n'), /in use by another live process/);
  t.ok(first.proc.running, 'first runner still serving');

  const file = join(dir, 'not-a-socket');
  writeFileSync(file, 'precious');
  const third = spawnCli(t, 'runner', ['--socket', `unix:${file}`, APP]);
  t.equal(await third.exited, 4);
  t.ok(statSync(file).isFile(), 'the file is still there');
});

t.test('socket permissions follow --chmod (0660 by default)', async (t) => {
  const dir = tempDir(t);
  const plain = await startRunner(t, { app: APP, socket: join(dir, 'a.sock') });
  t.equal(statSync(plain.socket).mode & 0o777, 0o660);
  const open = await startRunner(t, { app: APP, socket: join(dir, 'b.sock'), args: ['--chmod', '666'] });
  t.equal(statSync(open.socket).mode & 0o777, 0o666);
});

t.test('an app that cannot load stops the runner with a distinct exit code', async (t) => {
  const dir = tempDir(t);
  const broken = join(dir, 'broken.js');
  writeFileSync(broken, 'export default function app( {\n');
  const proc = spawnCli(t, 'runner', ['--socket', `unix:${join(dir, 'x.sock')}`, broken]);
  t.equal(await proc.exited, 3);
  t.notOk(existsSync(join(dir, 'x.sock')), 'never listened');
  const missing = spawnCli(t, 'runner', ['--socket', `unix:${join(dir, 'y.sock')}`, `${APP}:nope`]);
  t.equal(await missing.exited, 3);
  t.match(missing.logs.map((l) => l.msg).join('\n'), /no function export "nope"/);
});

t.test('bad config: file:line:column and what was expected', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'bad.conf');
  writeFileSync(file, 'upstream app {\n    server unix:/tmp/x.sock;\n}\nserver {\n    listen 127.0.0.1:0;\n    locaton / {\n        tsgi_pass app;\n    }\n}\n');
  const result = await run(process.execPath, [join(ROOT, 'dist/proxy/cli.js'), '-t', '-c', file]).catch((err: { code: number; stderr: string }) => err);
  t.equal((result as { code: number }).code, 3, 'non-zero exit');
  t.match((result as { stderr: string }).stderr, `${file}:6:5: unknown directive "locaton" (did you mean "location"?)`);
  t.match((result as { stderr: string }).stderr, /test failed/);

  const good = join(dir, 'good.conf');
  writeFileSync(good, simpleConfig('/tmp/x.sock'));
  const ok = await run(process.execPath, [join(ROOT, 'dist/proxy/cli.js'), '-t', '-c', good]);
  t.match(ok.stdout, /test is successful/);
});

t.test('a listen address in use: the proxy says which, as nginx does, and exits 4', async (t) => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => void holder.close());
  const { port } = holder.address() as { port: number };
  const file = join(tempDir(t), 'taken.conf');
  const taken = simpleConfig('/tmp/x.sock').replace('listen 127.0.0.1:0;', `listen 127.0.0.1:${port};`);
  writeFileSync(file, taken);
  const result = await run(process.execPath, [join(ROOT, 'dist/proxy/cli.js'), '-c', file]).catch((err: { code: number; stdout: string; stderr: string }) => err);
  t.equal((result as { code: number }).code, 4);
  const fatal = JSON.parse((result as { stdout: string }).stdout.trim().split('\n').at(-1)!) as { level: number; msg: string; listen: string };
  t.equal(fatal.level, 60);
  t.equal(fatal.listen, `127.0.0.1:${port}`);
  t.equal(fatal.msg, `bind() to 127.0.0.1:${port} failed (EADDRINUSE: address already in use)`);
  t.notMatch((result as { stderr: string }).stderr, /at .*\(node:/, 'no stack trace');

  // With `workers 2` each worker fails to bind, and the primary passes the reason's code on.
  writeFileSync(file, `workers 2;\n${taken}`);
  const workers = await run(process.execPath, [join(ROOT, 'dist/proxy/cli.js'), '-c', file]).catch((err: { code: number; stdout: string }) => err);
  t.equal((workers as { code: number }).code, 4);
  t.match((workers as { stdout: string }).stdout, `bind() to 127.0.0.1:${port} failed (EADDRINUSE: address already in use)`);
});

t.test('the CLIs answer --help and reject bad options', async (t) => {
  const proxyHelp = await run(process.execPath, [join(ROOT, 'dist/proxy/cli.js'), '--help']);
  t.match(proxyHelp.stdout, /Usage: tsgi-proxy/);
  const runnerHelp = await run(process.execPath, [join(ROOT, 'dist/runner/cli.js'), '--help']);
  t.match(runnerHelp.stdout, /Usage: tsgi-runner/);
  const bad = await run(process.execPath, [join(ROOT, 'dist/runner/cli.js'), '--chmod', '999', 'app.js']).catch((err: { code: number; stderr: string }) => err);
  t.equal((bad as { code: number }).code, 2);
  t.match((bad as { stderr: string }).stderr, /--chmod: expected an octal mode/);
});

t.test('proxy SIGTERM lets an in-flight request finish', async (t) => {
  const dir = tempDir(t);
  const socket = join(dir, 'app.sock');
  const runner = await startRunner(t, { app: APP, socket });
  const proxy = await startProxy(t, dir, simpleConfig(socket));
  const inflight = fetchBuffer(`${proxy.url}/slow?ms=600`);
  await appStarted(runner);
  proxy.proc.child.kill('SIGTERM');
  const reply = await inflight;
  t.equal(reply.status, 200);
  t.equal(reply.body.toString(), 'slept 600 ms');
  t.equal(await proxy.proc.exited, 0);
});

t.test('proxy SIGINT stops at once, cutting what is in flight', async (t) => {
  const dir = tempDir(t);
  const socket = join(dir, 'app.sock');
  const runner = await startRunner(t, { app: APP, socket });
  const proxy = await startProxy(t, dir, simpleConfig(socket));
  const inflight = fetchBuffer(`${proxy.url}/slow?ms=60000`).then((r) => r.status, () => 'cut');
  await appStarted(runner);
  const sent = Date.now();
  proxy.proc.child.kill('SIGINT');
  t.equal(await proxy.proc.exited, 0);
  // Waiting would take a minute; a busy machine may take a few seconds to stop at once.
  t.ok(Date.now() - sent < 10_000, `did not wait for the request (${Date.now() - sent} ms)`);
  t.equal(await inflight, 'cut');
});

t.test('workers 2: two proxy processes share the listening socket', async (t) => {
  const dir = tempDir(t);
  const socket = join(dir, 'app.sock');
  await startRunner(t, { app: APP, socket });
  const proxy = await startProxy(t, dir, `workers 2;\n${simpleConfig(socket)}`);
  const replies = await Promise.all(Array.from({ length: 40 }, () => fetchBuffer(`${proxy.url}/hello`, { agent: false })));
  t.ok(replies.every((r) => r.status === 200 && r.body.toString() === 'Hello World!'));
  // Access lines are written after the response: wait until all forty are in.
  const access = () => proxy.proc.logs.filter((l) => l.msg === 'access');
  await until('forty access lines', () => access().length >= 40);
  const workers = new Set(access().map((l) => l.worker));
  t.same([...workers].sort(), [1, 2], 'both workers served requests');
  proxy.proc.child.kill('SIGTERM');
  t.equal(await proxy.proc.exited, 0);
});

t.test('npm start serves the demo, and Ctrl-C stops it leaving no socket', async (t) => {
  const probe = createServer();
  const busy = await new Promise<boolean>((resolve) => {
    probe.once('error', () => resolve(true));
    probe.listen(8080, '127.0.0.1', () => probe.close(() => resolve(false)));
  });
  if (busy || existsSync('/tmp/tsgi-demo.sock')) {
    t.skip('port 8080 or the demo socket is in use on this machine', () => {});
    return;
  }
  const demo = new Proc(spawnNode(join(ROOT, 'dist/deploy/demo.js'), []));
  // The demo stops its own children on SIGINT; SIGKILL would orphan them.
  t.teardown(() => demo.stop('SIGINT'));
  await demo.waitForLog((l) => l.msg === 'proxy ready');
  await demo.waitForLog((l) => l.msg === 'connected to runner');
  const hello = await fetchBuffer('http://127.0.0.1:8080/');
  t.equal(hello.status, 200);
  t.equal(hello.body.toString(), 'Hello from tsgi!\n');
  const echo = await fetchBuffer('http://127.0.0.1:8080/echo', { method: 'POST', body: 'ping' });
  t.equal(echo.body.toString(), 'ping');
  const stream = await fetchBuffer('http://127.0.0.1:8080/stream?n=2');
  t.equal(stream.body.toString(), '2...\n1...\nliftoff\n');
  demo.child.kill('SIGINT');
  t.equal(await demo.exited, 0);
  t.notOk(existsSync('/tmp/tsgi-demo.sock'), 'no stale socket');
});
