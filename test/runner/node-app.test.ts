/**
 * runner/apps/node-app.ts and runner/apps/duplex-pair.ts — a Node (req, res) listener under the WSGI
 * contract: backpressure both ways, a leaving client seen by the listener, and failures.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import t from 'tap';
import type { Environ } from '../../runner/apps/app.js';
import { runApplication } from '../../runner/apps/contract.js';
import { PairEnd } from '../../runner/apps/duplex-pair.js';
import { RequestInput } from '../../runner/serving/input.js';
import { fromNodeListener } from '../../runner/apps/node-app.js';
import { Log, Sink } from '../helpers/sink.js';

const tick = (ms = 10) => new Promise((resolve) => setTimeout(resolve, ms));

function environ(extra: Environ = {}): Environ {
  const input = new RequestInput(() => undefined);
  input.finish();
  return { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/', QUERY_STRING: '', HTTP_HOST: 'example.com', REMOTE_ADDR: '10.1.2.3', 'wsgi.url_scheme': 'http', 'wsgi.input': input, ...extra };
}

function run(listener: RequestListener, env: Environ = environ(), sink = new Sink(), log = new Log()) {
  const done = runApplication(fromNodeListener(listener), env, sink, log);
  return { sink, log, done };
}

t.test('the pair: bytes cross, backpressure holds the writer, destroy closes both', async (t) => {
  const [a, b] = PairEnd.pair();
  b.pause();
  let accepted = 0;
  while (a.write(Buffer.alloc(1024)) && accepted < 10_000) accepted++;
  await tick();
  t.ok(accepted < 64, `the writer was told to wait after ${accepted} KiB`);
  let drained = false;
  a.once('drain', () => (drained = true));
  b.resume();
  await tick();
  t.ok(drained, 'reading on the other end drains the writer');
  const closed = new Promise((resolve) => b.once('close', resolve));
  a.destroy();
  await closed;
  t.ok(b.destroyed, 'the other end closed too');
});

t.test('head, headers and body of the response', async (t) => {
  const { sink, done } = run((req, res) => {
    res.statusMessage = 'Fine';
    res.setHeader('Set-Cookie', ['a=1', 'b=2']);
    res.setHeader('X-Url', req.url!);
    res.end('body');
  }, environ({ SCRIPT_NAME: '/app', PATH_INFO: '/caf\xc3\xa9', QUERY_STRING: 'q=1' }));
  t.equal(await done, 'ok');
  t.equal(sink.head?.status, 200);
  t.equal(sink.head?.reason, 'Fine');
  t.same(sink.head?.headers.filter(([n]) => n.toLowerCase() === 'set-cookie'), [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
  t.same(sink.head?.headers.find(([n]) => n === 'X-Url'), ['X-Url', '/app/caf%C3%A9?q=1'], 'the path re-encoded from its bytes');
  t.notOk(sink.head?.headers.some(([n]) => /^(connection|transfer-encoding|keep-alive)$/i.test(n)), 'no hop-by-hop field of the private connection');
  t.equal(sink.body, 'body');
  t.ok(sink.ended);
});

t.test('the request body is taken only as the listener reads it', async (t) => {
  let consumed = 0;
  const input = new RequestInput((n) => (consumed += n));
  const chunk = 64 * 1024;
  for (let i = 0; i < 64; i++) input.deliver(new Uint8Array(chunk));
  input.finish();
  let request!: IncomingMessage;
  let response!: ServerResponse;
  const { sink, done } = run(
    (req, res) => {
      request = req;
      response = res;
      req.pause();
    },
    environ({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(64 * chunk), 'wsgi.input': input }),
  );
  await tick(100);
  t.ok(consumed < 16 * chunk, `a listener that does not read holds the upload (${consumed / chunk} of 64 chunks taken)`);
  let total = 0;
  request.on('data', (data: Buffer) => (total += data.length));
  request.on('end', () => response.end(String(total)));
  request.resume();
  await done;
  t.equal(sink.body, String(64 * chunk));
  t.equal(consumed, 64 * chunk);
});

t.test("the response waits for credit: the listener's write() says so", async (t) => {
  const sink = new Sink();
  sink.credit = false;
  let writes = 0;
  let full = false;
  const { done } = run(
    (req, res) => {
      const more = () => {
        while (writes < 400) {
          writes++;
          if (!res.write(Buffer.alloc(16 * 1024))) {
            full = true;
            return void res.once('drain', more);
          }
        }
        res.end();
      };
      more();
    },
    environ(),
    sink,
  );
  await tick(100);
  t.ok(full, 'write() returned false');
  t.ok(writes < 100, `the listener stopped after ${writes} writes (of 400)`);
  sink.credit = true;
  while (!sink.ended) {
    sink.grant();
    await tick(1);
  }
  t.equal(await done, 'ok');
  t.equal(Buffer.concat(sink.chunks).length, 400 * 16 * 1024);
});

t.test('a client that leaves: the listener sees res close unfinished', async (t) => {
  for (const when of ['before the head', 'mid-body'] as const) {
    let closedEarly = false;
    const { sink, done } = run((req, res) => {
      res.on('close', () => (closedEarly = !res.writableFinished));
      if (when === 'mid-body') res.write('first');
    });
    await tick(50);
    if (when === 'mid-body') t.equal(sink.body, 'first');
    sink.cancel();
    await done;
    await tick(20);
    t.ok(closedEarly, `res 'close' before finishing (${when})`);
  }
});

t.test('failures', async (t) => {
  const thrown = run(() => {
    throw new Error('sync boom');
  });
  t.equal(await thrown.done, 'failed');
  t.equal(thrown.sink.head?.status, 500);
  t.match(thrown.log.errors[0]?.details, { err: { message: 'sync boom' } }, "the listener's own error is logged");

  const rejected = run(async () => {
    await tick(5);
    throw new Error('async boom');
  });
  t.equal(await rejected.done, 'failed');
  t.equal(rejected.sink.head?.status, 500);
  t.match(rejected.log.errors[0]?.details, { err: { message: 'async boom' } });

  const after = run(async (req, res) => {
    res.write('partial');
    await tick(20);
    throw new Error('late boom');
  });
  t.equal(await after.done, 'failed');
  t.equal(after.sink.head?.status, 200);
  t.equal(after.sink.aborted, 'late boom', 'aborted after the head');

  // The proxy passes any token as a method; node:http parses a fixed list.
  const unknown = run((req, res) => res.end(req.method), environ({ REQUEST_METHOD: 'FROB' }));
  t.equal(await unknown.done, 'failed');
  t.equal(unknown.sink.head?.status, 500);
  t.match(unknown.log.errors[0]?.details, { err: { message: /cannot pass this request to the listener: HPE_INVALID_METHOD/ } });
});

t.test('socket calls made by code written for net.Socket work', async (t) => {
  let timedOut = false;
  // The idle timer is unref'd, as a socket's: something must keep this test process alive.
  const alive = setTimeout(() => undefined, 5000);
  const { sink, done } = run((req, res) => {
    req.setTimeout(0);
    res.setTimeout(30, () => {
      timedOut = true;
      res.end('idle');
    });
    req.socket.setNoDelay(true);
    req.socket.setKeepAlive(true);
  });
  t.equal(await done, 'ok');
  clearTimeout(alive);
  t.ok(timedOut, "res.setTimeout's callback ran after the idle time");
  t.equal(sink.body, 'idle');
});

t.test('HEAD: the head only', async (t) => {
  const { sink, done } = run((req, res) => {
    res.setHeader('Content-Length', '5');
    res.end(req.method === 'HEAD' ? undefined : 'hello');
  }, environ({ REQUEST_METHOD: 'HEAD' }));
  t.equal(await done, 'ok');
  t.equal(sink.head?.status, 200);
  t.same(sink.head?.headers.find(([n]) => n === 'Content-Length'), ['Content-Length', '5']);
  t.equal(sink.chunks.length, 0);
});
