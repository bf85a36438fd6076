// End to end: how tsgi-runner decides to call an app (--contract auto|wsgi|fetch), with plain
// fetch handlers (test/fixtures/fetch-function.js) behind a real proxy.
import { join } from 'node:path';
import t from 'tap';
import { fetchBuffer } from '../helpers/http.js';
import { FIXTURES, spawnCli, startProxy, startRunner, tempDir, type RunnerHandle } from '../helpers/processes.js';

const APP = join(FIXTURES, 'fetch-function.js');
const dir = tempDir(t);

// One runner per case, behind one proxy with a location each. The rule's other cases (an
// object with fetch, two parameters, three) are in test/runner/detect-contract.test.ts.
const cases = {
  'auto-function': { app: APP, args: [] },
  'forced-fetch': { app: `${APP}:withEnv`, args: ['--contract', 'fetch'] },
};
type Case = keyof typeof cases;
const runners = {} as Record<Case, RunnerHandle>;
for (const [name, { app, args }] of Object.entries(cases)) runners[name as Case] = await startRunner(t, { app, socket: join(dir, `${name}.sock`), args });
const locations = Object.keys(cases).map((name) => `location /${name}/ { tsgi_pass unix:${join(dir, `${name}.sock`)}; }`);
const proxy = await startProxy(t, dir, `server {\n    listen 127.0.0.1:0;\n    ${locations.join('\n    ')}\n}\n`);

async function contractOf(name: Case): Promise<unknown> {
  return (await runners[name].proc.waitForLog((l) => l.msg === 'app loaded')).contract;
}

t.test('auto: a one-parameter function is a fetch handler', async (t) => {
  t.equal(await contractOf('auto-function'), 'fetch');
  const url = `${proxy.url}/auto-function/p%C3%A5th?q=1`;
  const reply = await fetchBuffer(url, { method: 'POST', body: 'sent body' });
  t.equal(reply.status, 200);
  t.equal(reply.headers['x-handler'], 'plain function');
  t.same(JSON.parse(reply.body.toString()), { method: 'POST', url, body: 'sent body' });
});

t.test('--contract fetch: a two-parameter function, which auto takes for WSGI, is a fetch handler', async (t) => {
  t.equal(await contractOf('forced-fetch'), 'fetch');
  const reply = await fetchBuffer(`${proxy.url}/forced-fetch/x`);
  t.equal(reply.status, 200);
  t.same(JSON.parse(reply.body.toString()), { url: `${proxy.url}/forced-fetch/x`, remote: '127.0.0.1' }, 'the environ is the second argument');
});

t.test('--contract wsgi on a fetch handler: the app does not load and the runner says why', async (t) => {
  const runner = spawnCli(t, 'runner', ['--socket', `unix:${join(tempDir(t), 'x.sock')}`, '--contract', 'wsgi', `${APP}:worker`]);
  t.equal(await runner.exited, 3, 'exit status 3 (app load failure)');
  t.ok(runner.logs.some((l) => typeof l.msg === 'string' && /is not a function, so not a WSGI app/.test(l.msg)), 'the reason is logged');
});
