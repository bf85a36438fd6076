/**
 * runner/apps/app-loader.ts — which calling convention an export gets: the `auto` rule, and
 * `--contract` forcing or refusing it.
 */
import { join } from 'node:path';
import t from 'tap';
import { detectContract, loadApp } from '../../runner/apps/app-loader.js';
import { AppLoadError } from '../../runner/errors.js';
import { FIXTURES } from '../helpers/processes.js';
import { Log, Sink } from '../helpers/sink.js';
import { runApplication } from '../../runner/apps/contract.js';
import type { Application } from '../../runner/apps/app.js';
import { RequestInput } from '../../runner/serving/input.js';

t.test('the auto rule', async (t) => {
  t.equal(detectContract({ fetch: () => new Response() }), 'fetch', 'an object with fetch');
  t.equal(detectContract(Object.assign(() => undefined, { fetch: () => new Response() })), 'fetch', 'a function with a fetch method');
  t.equal(detectContract((request: Request) => new Response(request.url)), 'fetch', 'one parameter');
  t.equal(detectContract((environ: unknown, startResponse: unknown) => [environ, startResponse]), 'wsgi', 'two parameters');
  t.equal(detectContract((req: unknown, res: unknown, next: unknown) => [req, res, next]), 'node', 'three parameters: Express / Connect');
  t.equal(detectContract(() => []), 'wsgi', 'none declared (rest parameters, defaults): WSGI');
  t.equal(detectContract((...args: unknown[]) => args), 'wsgi');
  t.equal(detectContract({ fetch: 'not callable' }), 'wsgi', 'a fetch that is not a function does not count');
});

async function call(app: Application, path = '/x'): Promise<{ status: number | undefined; body: string }> {
  const sink = new Sink();
  const input = new RequestInput(() => undefined);
  input.finish();
  await runApplication(app, { REQUEST_METHOD: 'GET', PATH_INFO: path, HTTP_HOST: 'h', 'wsgi.url_scheme': 'http', 'wsgi.input': input }, sink, new Log());
  return { status: sink.head?.status, body: sink.body };
}

t.test('loadApp with each contract', async (t) => {
  const fetchFunction = join(FIXTURES, 'fetch-function.js');
  const auto = await loadApp(fetchFunction);
  t.equal(auto.contract, 'fetch');
  t.match(JSON.parse((await call(auto.app)).body), { method: 'GET', url: 'http://h/x' });

  const object = await loadApp(`${fetchFunction}:worker`);
  t.equal(object.contract, 'fetch');
  t.same(await call(object.app, '/obj'), { status: 200, body: 'object with fetch: /obj' });

  const forced = await loadApp(`${fetchFunction}:withEnv`, undefined, 'fetch');
  t.equal(forced.contract, 'fetch');
  t.equal((await call(forced.app)).status, 200);

  const hono = await loadApp(join(FIXTURES, 'hono-app.js'));
  t.equal(hono.contract, 'fetch', "Hono's app object");
  t.same(JSON.parse((await call(hono.app, '/users/9')).body), { id: '9', tab: null });

  const wsgi = await loadApp(join(FIXTURES, 'runner-hello.js'));
  t.equal(wsgi.contract, 'wsgi');

  const node = await loadApp(join(FIXTURES, 'node-listener.js'), undefined, 'node');
  t.equal(node.contract, 'node');
  t.same(await call(node.app, '/hello'), { status: 200, body: 'Hello World!' });
});

t.test('a contract the export cannot follow is a load error', async (t) => {
  const worker = `${join(FIXTURES, 'fetch-function.js')}:worker`;
  await t.rejects(loadApp(worker, undefined, 'wsgi'), AppLoadError);
  await t.rejects(loadApp(worker, undefined, 'wsgi'), /is not a function, so not a WSGI app \(it has a fetch method: try --contract fetch\)/);
  await t.rejects(loadApp(worker, undefined, 'node'), /is not a function, so not a \(req, res\) listener/);
});
