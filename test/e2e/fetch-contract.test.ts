// End to end: how tsgi-runner decides to call an app (--contract auto|wsgi|fetch), with plain
// fetch handlers (test/fixtures/fetch-function.js) behind a real proxy.
import { join } from 'node:path';
import t from 'tap';
import { fetchBuffer } from '../helpers/http.js';
import { FIXTURES, simpleConfig, spawnCli, startProxy, startRunner, tempDir, type Teardown } from '../helpers/processes.js';

const APP = join(FIXTURES, 'fetch-function.js');

async function serve(t: Teardown, app: string, args: string[] = []) {
  const dir = tempDir(t);
  const socket = join(dir, 'app.sock');
  const runner = await startRunner(t, { app, socket, args });
  const proxy = await startProxy(t, dir, simpleConfig(socket));
  const loaded = await runner.proc.waitForLog((l) => l.msg === 'app loaded');
  return { runner, proxy, contract: loaded.contract };
}

t.test('auto: a one-parameter function is a fetch handler', async (t) => {
  const { proxy, contract } = await serve(t, APP);
  t.equal(contract, 'fetch');
  const reply = await fetchBuffer(`${proxy.url}/p%C3%A5th?q=1`, { method: 'POST', body: 'sent body' });
  t.equal(reply.status, 200);
  t.equal(reply.headers['x-handler'], 'plain function');
  t.same(JSON.parse(reply.body.toString()), { method: 'POST', url: `${proxy.url}/p%C3%A5th?q=1`, body: 'sent body' });
});

t.test('auto: an object with fetch is a fetch handler', async (t) => {
  const { proxy, contract } = await serve(t, `${APP}:worker`);
  t.equal(contract, 'fetch');
  const reply = await fetchBuffer(`${proxy.url}/here`);
  t.equal(reply.body.toString(), 'object with fetch: /here');
});

t.test('auto: a two-parameter function is a WSGI app, --contract fetch makes it a fetch handler', async (t) => {
  const auto = await serve(t, `${APP}:withEnv`);
  t.equal(auto.contract, 'wsgi');
  const wrong = await fetchBuffer(`${auto.proxy.url}/x`);
  t.equal(wrong.status, 500, 'called as WSGI, its Response is not an iterable of chunks');

  const forced = await serve(t, `${APP}:withEnv`, ['--contract', 'fetch']);
  t.equal(forced.contract, 'fetch');
  const reply = await fetchBuffer(`${forced.proxy.url}/x`);
  t.equal(reply.status, 200);
  t.same(JSON.parse(reply.body.toString()), { url: `${forced.proxy.url}/x`, remote: '127.0.0.1' }, 'the environ is the second argument');
});

t.test('--contract wsgi on a fetch handler: the app does not load and the runner says why', async (t) => {
  const runner = spawnCli(t, 'runner', ['--socket', `unix:${join(tempDir(t), 'x.sock')}`, '--contract', 'wsgi', `${APP}:worker`]);
  t.equal(await runner.exited, 3, 'exit status 3 (app load failure)');
  t.ok(runner.logs.some((l) => typeof l.msg === 'string' && /is not a function, so not a WSGI app/.test(l.msg)), 'the reason is logged');
});

t.test('--contract fetch on the WSGI demo app: every request is a 500, logged', async (t) => {
  const { runner, proxy, contract } = await serve(t, join(FIXTURES, 'app.js'), ['--contract', 'fetch']);
  t.equal(contract, 'fetch');
  const reply = await fetchBuffer(`${proxy.url}/hello`);
  t.equal(reply.status, 500);
  await runner.proc.waitForLog((l) => l.msg === 'application error');
});
