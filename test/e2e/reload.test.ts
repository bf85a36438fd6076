// End to end: SIGHUP reloads the proxy's configuration under load, failing no request.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { fetchBuffer } from '../helpers/http.js';
import { FIXTURES, startProxy, startRunner, tempDir } from '../helpers/processes.js';
import { Load, type Outcome } from '../helpers/runner-workers.js';

const APP = join(FIXTURES, 'app.js');

/** Each status seen (an error's message for a request that got none), in order of first sight. */
const statusesOf = (outcomes: Outcome[]) => new Set(outcomes.map((o) => (o.status === -1 ? `error ${o.body}` : String(o.status))));

function config(socket: string, listen = '127.0.0.1:0', extra = ''): string {
  return `upstream app { server unix:${socket}; }
server { listen ${listen}; ${extra} location / { tsgi_pass app; } }
`;
}

t.test('SIGHUP under load moves traffic to a new upstream without a failed request', async (t) => {
  const dir = tempDir(t);
  const a = await startRunner(t, { app: APP, socket: join(dir, 'a.sock') });
  const b = await startRunner(t, { app: APP, socket: join(dir, 'b.sock') });
  const proxy = await startProxy(t, dir, config(a.socket));
  const pidA = (await fetchBuffer(`${proxy.url}/pid`)).body.toString();
  // The listening port stays: write the new config with the port the proxy got.
  writeFileSync(proxy.configFile, config(b.socket, `127.0.0.1:${proxy.port}`));
  const load = new Load(`${proxy.url}/pid`, 8);
  const outcomes = await load.during(async () => {
    await load.answered(50);
    proxy.proc.child.kill('SIGHUP');
    await proxy.proc.waitForLog((l) => l.msg === 'configuration reloaded');
    await load.answered(50);
  });
  const bodies = new Set(outcomes.map((o) => o.body));
  t.same([...statusesOf(outcomes)], ['200'], `only 200s (${outcomes.length} requests)`);
  const pidB = (await fetchBuffer(`${proxy.url}/pid`)).body.toString();
  t.not(pidB, pidA, 'served by the new upstream after the reload');
  t.ok(bodies.has(pidA) && bodies.has(pidB), 'the load saw both, one after the other');
  void b;
});

t.test('a config with errors is refused on SIGHUP and the running one stays', async (t) => {
  const dir = tempDir(t);
  const a = await startRunner(t, { app: APP, socket: join(dir, 'a.sock') });
  const proxy = await startProxy(t, dir, config(a.socket));
  writeFileSync(proxy.configFile, 'server { locaton / { } }\n');
  proxy.proc.child.kill('SIGHUP');
  const refused = await proxy.proc.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('reload refused'));
  t.match(refused.err, /unknown directive "locaton"/);
  t.equal((await fetchBuffer(`${proxy.url}/hello`)).status, 200, 'still serving');
});

t.test('workers 2: SIGHUP reloads every worker', async (t) => {
  const dir = tempDir(t);
  const a = await startRunner(t, { app: APP, socket: join(dir, 'a.sock') });
  const b = await startRunner(t, { app: APP, socket: join(dir, 'b.sock') });
  const proxy = await startProxy(t, dir, `workers 2;\n${config(a.socket)}`);
  writeFileSync(proxy.configFile, `workers 2;\n${config(b.socket, `127.0.0.1:${proxy.port}`)}`);
  const load = new Load(`${proxy.url}/pid`, 6);
  const outcomes = await load.during(async () => {
    await load.answered(50);
    proxy.proc.child.kill('SIGHUP');
    for (const worker of [1, 2]) await proxy.proc.waitForLog((l) => l.msg === 'configuration reloaded' && l.worker === worker);
    await load.answered(50);
  });
  t.same([...statusesOf(outcomes)], ['200'], 'no failed request');
  const pids = new Set<string>();
  for (let i = 0; i < 10; i++) pids.add((await fetchBuffer(`${proxy.url}/pid`, { agent: false })).body.toString());
  t.equal(pids.size, 1, 'both workers now pass to the new upstream');
  void b;
});

t.test('a reload keeps the connections to runners the new config still names', async (t) => {
  const dir = tempDir(t);
  const a = await startRunner(t, { app: APP, socket: join(dir, 'a.sock') });
  const proxy = await startProxy(t, dir, config(a.socket));
  t.equal((await fetchBuffer(`${proxy.url}/hello`)).status, 200);
  const connects = () => proxy.proc.logs.filter((l) => l.msg === 'connected to runner').length;
  // The answer can arrive before the proxy's log line of the connection that carried it.
  await proxy.proc.waitForLog((l) => l.msg === 'connected to runner');
  const before = connects();
  writeFileSync(proxy.configFile, config(a.socket, `127.0.0.1:${proxy.port}`, 'client_max_body_size 5m;'));
  proxy.proc.child.kill('SIGHUP');
  await proxy.proc.waitForLog((l) => l.msg === 'configuration reloaded');
  t.equal((await fetchBuffer(`${proxy.url}/hello`)).status, 200);
  t.equal(connects(), before, 'no reconnect');
});
