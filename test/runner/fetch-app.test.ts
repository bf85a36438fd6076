/**
 * runner/apps/fetch-app.ts and runner/apps/fetch-request.ts — a fetch-style handler under the WSGI
 * contract: the Request it sees, the response the contract sends, backpressure both ways,
 * cancellation reaching the handler's streams, and failures.
 */
import t from 'tap';
import type { Environ } from '../../runner/apps/app.js';
import { runApplication } from '../../runner/apps/contract.js';
import { fromFetchHandler, type FetchHandler } from '../../runner/apps/fetch-app.js';
import { environToRequest } from '../../runner/apps/fetch-request.js';
import { requestUrl } from '../../runner/apps/request-head.js';
import { RequestInput } from '../../runner/serving/input.js';
import { Log, Sink } from '../helpers/sink.js';

const latin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

function environ(extra: Environ = {}): Environ {
  return {
    REQUEST_METHOD: 'GET',
    SCRIPT_NAME: '',
    PATH_INFO: '/',
    QUERY_STRING: '',
    SERVER_NAME: 'example.com',
    SERVER_PORT: '80',
    HTTP_HOST: 'example.com',
    'wsgi.url_scheme': 'http',
    ...extra,
  };
}

function run(handler: FetchHandler, env: Environ = environ(), sink = new Sink(), log = new Log()) {
  const done = runApplication(fromFetchHandler(handler), env, sink, log);
  return { sink, log, done };
}

const tick = (ms = 10) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('the URL, rebuilt from the environ', async (t) => {
  t.equal(requestUrl(environ({ PATH_INFO: '/a/b', QUERY_STRING: 'x=1&y=%20' })), 'http://example.com/a/b?x=1&y=%20');
  t.equal(requestUrl(environ({ SCRIPT_NAME: '/app', PATH_INFO: '/users/7' })), 'http://example.com/app/users/7', 'SCRIPT_NAME comes first');
  t.equal(requestUrl(environ({ SCRIPT_NAME: '/app', PATH_INFO: '' })), 'http://example.com/app');
  t.equal(requestUrl(environ({ PATH_INFO: '' })), 'http://example.com/', 'an empty path is /');
  t.equal(requestUrl(environ({ PATH_INFO: latin1('/café/日本') })), 'http://example.com/caf%C3%A9/%E6%97%A5%E6%9C%AC', 'UTF-8 bytes, percent-encoded once');
  t.equal(requestUrl(environ({ PATH_INFO: '/\xe9' })), 'http://example.com/%E9', 'a lone latin-1 byte stays that byte');
  t.equal(requestUrl(environ({ PATH_INFO: '/100%/a b?c#d' })), 'http://example.com/100%25/a%20b%3Fc%23d', 'decoded %, space, ? and # are escaped again');
  t.equal(requestUrl(environ({ PATH_INFO: "/a:b@c!$&'()*+,;=-._~" })), "http://example.com/a:b@c!$&'()*+,;=-._~", 'pchars stay');
  t.equal(requestUrl(environ({ QUERY_STRING: latin1('q=né#x y') })), 'http://example.com/?q=n%C3%A9%23x%20y', 'raw bytes in the query are escaped, escapes kept');
  t.equal(requestUrl(environ({ HTTP_HOST: 'h.test:8080', 'wsgi.url_scheme': 'https' })), 'https://h.test:8080/', 'the Host header wins');

  const noHost = { HTTP_HOST: undefined } as Environ;
  t.equal(requestUrl(environ({ ...noHost, SERVER_PORT: '8080' })), 'http://example.com:8080/', 'else SERVER_NAME:SERVER_PORT');
  t.equal(requestUrl(environ({ ...noHost, SERVER_PORT: '443', 'wsgi.url_scheme': 'https' })), 'https://example.com/', 'the default port is left out');
  t.equal(requestUrl(environ({ ...noHost, SERVER_NAME: '::1', SERVER_PORT: '81' })), 'http://[::1]:81/', 'an IPv6 name in brackets');

  // What the handler's URL parser makes of it: the same path, not double-encoded.
  const url = new URL(requestUrl(environ({ SCRIPT_NAME: '/app', PATH_INFO: latin1('/é 1') })));
  t.equal(decodeURIComponent(url.pathname), '/app/é 1');
});

t.test('the headers and the body of the Request', async (t) => {
  const input = new RequestInput(() => undefined);
  input.deliver(Buffer.from('name=tsgi'));
  input.finish();
  const request = environToRequest(
    environ({
      REQUEST_METHOD: 'POST',
      CONTENT_TYPE: 'application/x-www-form-urlencoded',
      CONTENT_LENGTH: '9',
      HTTP_X_FORWARDED_FOR: '10.0.0.1',
      HTTP_COOKIE: 'a=1; b=2',
      HTTP_X_LATIN: 'caf\xe9',
      'wsgi.input': input,
    }),
    new AbortController().signal,
  );
  t.equal(request.method, 'POST');
  t.equal(request.headers.get('content-type'), 'application/x-www-form-urlencoded');
  t.equal(request.headers.get('content-length'), '9');
  t.equal(request.headers.get('x-forwarded-for'), '10.0.0.1', 'HTTP_X_FORWARDED_FOR is x-forwarded-for');
  t.equal(request.headers.get('cookie'), 'a=1; b=2');
  t.equal(request.headers.get('x-latin'), 'caf\xe9', 'a latin-1 value stays the same bytes');
  t.equal(request.headers.get('host'), 'example.com');
  t.same(Object.fromEntries(new URLSearchParams(await request.text())), { name: 'tsgi' });

  const get = environToRequest(environ({ 'wsgi.input': new RequestInput(() => undefined) }), new AbortController().signal);
  t.equal(get.body, null, 'a GET has no body');
  const empty = environToRequest(environ({ REQUEST_METHOD: 'DELETE', CONTENT_LENGTH: '0', 'wsgi.input': new RequestInput(() => undefined) }), new AbortController().signal);
  t.equal(empty.body, null, 'Content-Length: 0 is no body');
});

t.test('status, reason and headers of the Response', async (t) => {
  const cases: Array<[Response, number, string]> = [
    [new Response('made'), 200, 'OK'],
    [new Response('made', { status: 201 }), 201, 'Created'],
    [new Response('tea', { status: 418, statusText: 'Short And Stout' }), 418, 'Short And Stout'],
    [new Response(null, { status: 204 }), 204, 'No Content'],
    [Response.redirect('http://example.com/next', 303), 303, 'See Other'],
  ];
  for (const [response, status, reason] of cases) {
    const { sink, done } = run(() => response);
    t.equal(await done, 'ok');
    t.equal(sink.head?.status, status);
    t.equal(sink.head?.reason, reason);
    t.ok(sink.ended);
  }

  const headers = new Headers([
    ['Content-Type', 'text/plain'],
    ['Set-Cookie', 'a=1; Path=/'],
    ['Set-Cookie', 'b=2; HttpOnly'],
    ['X-Many', 'one'],
    ['X-Many', 'two'],
  ]);
  const { sink, done } = run(() => new Response('body', { headers }));
  await done;
  t.same(sink.head?.headers.filter(([n]) => n === 'set-cookie'), [
    ['set-cookie', 'a=1; Path=/'],
    ['set-cookie', 'b=2; HttpOnly'],
  ], 'each Set-Cookie on its own');
  t.same(sink.head?.headers.find(([n]) => n === 'x-many'), ['x-many', 'one, two'], 'others joined');
  t.equal(sink.body, 'body');
});

t.test("connection fields are the transport's: dropped, not a 500", async (t) => {
  // What Hono's stream() and streamSSE() set on their Responses.
  const headers = new Headers({ 'Content-Type': 'text/event-stream', 'Transfer-Encoding': 'chunked', Connection: 'keep-alive', 'Keep-Alive': 'timeout=5', Upgrade: 'h2c', 'X-Kept': 'yes' });
  const { sink, done } = run(() => new Response('data: 1\n\n', { headers }));
  t.equal(await done, 'ok');
  t.equal(sink.head?.status, 200);
  t.same(sink.head?.headers.map(([n]) => n).sort(), ['content-type', 'x-kept']);
  t.equal(sink.body, 'data: 1\n\n');
});

t.test('the handler sees the URL, the method and the environ', async (t) => {
  let seen: { url: string; method: string; id: unknown } | null = null;
  const { sink, done } = run(
    (request, env) => {
      seen = { url: request.url, method: request.method, id: env['tsgi.request_id'] };
      return new Response('ok');
    },
    environ({ REQUEST_METHOD: 'OPTIONS', SCRIPT_NAME: '/mount', PATH_INFO: '/x', 'tsgi.request_id': 'r1' }),
  );
  await done;
  t.same(seen, { url: 'http://example.com/mount/x', method: 'OPTIONS', id: 'r1' });
  t.equal(sink.body, 'ok');
});

t.test('the response body is pulled only as credit allows', async (t) => {
  let pulls = 0;
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        pulls++;
        controller.enqueue(new Uint8Array(1024).fill(pulls & 0xff));
        if (pulls === 100) controller.close();
      },
    },
    { highWaterMark: 0 },
  );
  const sink = new Sink();
  sink.credit = false;
  const { done } = run(() => new Response(body), environ(), sink);
  await tick(50);
  t.ok(pulls <= 2, `a stalled sink stops the pulls (${pulls})`);
  t.equal(sink.chunks.length, 1, 'one chunk written, waiting for credit');
  for (let i = 0; i < 5; i++) {
    sink.grant();
    await tick(5);
  }
  t.ok(pulls <= 7, `each grant lets one more through (${pulls})`);
  sink.credit = true;
  sink.grant();
  t.equal(await done, 'ok');
  t.equal(pulls, 100);
  t.equal(Buffer.concat(sink.chunks).length, 100 * 1024);
  t.ok(sink.ended);
});

t.test('the request body is read only as the handler reads it', async (t) => {
  let consumed = 0;
  const input = new RequestInput((n) => (consumed += n));
  const chunk = 64 * 1024;
  for (let i = 0; i < 32; i++) input.deliver(new Uint8Array(chunk));
  input.finish();
  let release!: () => void;
  const more = new Promise<void>((resolve) => (release = resolve));
  const { sink, done } = run(
    async (request) => {
      const reader = request.body!.getReader();
      await reader.read();
      await more;
      let total = chunk;
      for (let step = await reader.read(); !step.done; step = await reader.read()) total += step.value.length;
      return new Response(String(total));
    },
    environ({ REQUEST_METHOD: 'PUT', 'wsgi.input': input }),
  );
  await tick(50);
  t.ok(consumed <= 4 * chunk, `after one read only a few chunks were taken (${consumed / chunk} of 32)`);
  release();
  await done;
  t.equal(sink.body, String(32 * chunk));
  t.equal(consumed, 32 * chunk);
});

t.test('a client that leaves mid-stream cancels the body and aborts the signal', async (t) => {
  let cancelled: unknown = null;
  let signal: AbortSignal | null = null;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('first'));
    },
    cancel(reason) {
      cancelled = reason ?? 'cancelled';
    },
  });
  const { sink, done } = run((request) => {
    signal = request.signal;
    return new Response(body);
  });
  await tick(20);
  t.equal(sink.body, 'first', 'the first chunk went out, the next read waits');
  sink.cancel();
  t.equal(await done, 'ok');
  t.ok(cancelled, "the stream's cancel() ran");
  t.equal(signal!.aborted, true, 'request.signal aborted');
  t.equal(sink.ended, false, 'no END after a cancel');
});

t.test('a client that leaves before the Response aborts the signal', async (t) => {
  let aborted = false;
  const { sink, done } = run(
    (request) =>
      new Promise<Response>((resolve) => {
        request.signal.addEventListener('abort', () => {
          aborted = true;
          resolve(new Response('too late'));
        });
      }),
  );
  await tick(20);
  sink.cancel();
  await done;
  await tick(10);
  t.ok(aborted, 'the pending handler saw the abort');
  t.equal(sink.head, null, 'nothing sent');
});

t.test('failures', async (t) => {
  t.test('a throw becomes a 500', async (t) => {
    const { sink, log, done } = run(() => {
      throw new Error('boom');
    });
    t.equal(await done, 'failed');
    t.equal(sink.head?.status, 500);
    t.match(log.errors[0], { message: 'application error', details: { err: { message: 'boom' } } });
  });

  t.test('a rejection becomes a 500', async (t) => {
    const { sink, done } = run(async () => Promise.reject(new Error('later')));
    t.equal(await done, 'failed');
    t.equal(sink.head?.status, 500);
  });

  t.test('something other than a Response becomes a 500', async (t) => {
    const { sink, log, done } = run((() => 'text') as unknown as FetchHandler);
    t.equal(await done, 'failed');
    t.equal(sink.head?.status, 500);
    t.match(log.errors[0]?.details, { err: { name: 'ContractError', message: /must return a Response, got string/ } });
  });

  t.test('Response.error() becomes a 500', async (t) => {
    const { sink, done } = run(() => Response.error());
    t.equal(await done, 'failed');
    t.equal(sink.head?.status, 500);
  });

  t.test('a body that fails after the head aborts the response', async (t) => {
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled++ === 0) controller.enqueue(new TextEncoder().encode('part'));
        else controller.error(new Error('disk gone'));
      },
    });
    const { sink, done } = run(() => new Response(body));
    t.equal(await done, 'failed');
    t.equal(sink.head?.status, 200);
    t.equal(sink.aborted, 'disk gone');
    t.equal(sink.ended, false);
  });
});
