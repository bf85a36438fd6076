// Issue #13: requests pipelined on one connection. An unsafe request (POST...) starts only once
// every earlier response on the connection has finished, and nothing after it starts before its
// own response has (RFC 9112 §9.3.2); safe requests still run in parallel. The app (written to a
// temp dir) records when each request starts and ends, and answers with that record.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { exchangeRaw } from '../helpers/raw.js';
import { simpleConfig, startProxy, startRunner, tempDir } from '../helpers/processes.js';

const APP = `
const events = [];
let together = [];
export default async function app(environ, startResponse) {
  const name = environ.REQUEST_METHOD + ' ' + environ.PATH_INFO;
  events.push('start ' + name);
  for await (const chunk of environ['wsgi.input']) void chunk;
  const query = new URLSearchParams(environ.QUERY_STRING);
  // The answer takes this long (pacing, so a request that does not wait would start meanwhile).
  if (query.has('hold')) await new Promise((resolve) => setTimeout(resolve, Number(query.get('hold'))));
  // Answered only once N requests wait here together: proof that they run in parallel.
  if (query.has('together')) {
    await new Promise((resolve) => {
      together.push(resolve);
      if (together.length === Number(query.get('together'))) for (const release of together.splice(0)) release();
    });
  }
  events.push('end ' + name);
  // With its length, so the record reaches the client in one piece (not cut by chunk sizes).
  const body = JSON.stringify(events);
  startResponse('200 OK', [['Content-Type', 'application/json'], ['Content-Length', String(body.length)]]);
  return [body];
}
`;

const dir = tempDir(t);
writeFileSync(join(dir, 'order-app.mjs'), APP);
const socket = join(dir, 'app.sock');
await startRunner(t, { app: join(dir, 'order-app.mjs'), socket });
const proxy = await startProxy(t, dir, simpleConfig(socket));
const HOST = 'Host: tsgi.test\r\n';

/** Sends the requests in one write and returns the statuses and the app's record in the last answer. */
async function pipeline(requests: string[]): Promise<{ statuses: string[]; events: string[] }> {
  const reply = await exchangeRaw(proxy.port, Buffer.from(requests.join(''), 'latin1'));
  if (!reply.closed) throw new Error(`the proxy did not answer every request in time: ${reply.text}`);
  const statuses = [...reply.text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]!);
  const records = [...reply.text.matchAll(/\[[^\]]*\]/g)];
  const events = JSON.parse(records[records.length - 1]![0]) as string[];
  // The app's record spans every test: each test's paths have their own first segment.
  const prefix = / (\/[^/ ]+\/)/.exec(requests[0]!)![1]!;
  return { statuses, events: events.filter((e) => e.includes(prefix)) };
}

const before = (events: string[], first: string, second: string) => events.indexOf(first) >= 0 && events.indexOf(first) < events.indexOf(second);

t.test('a GET pipelined after a chunked POST starts once the POST is answered', async (t) => {
  const { statuses, events } = await pipeline([
    `POST /a/post?hold=100 HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    `GET /a/get HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`,
  ]);
  t.same(statuses, ['200', '200']);
  t.ok(before(events, 'end POST /a/post', 'start GET /a/get'), `the POST ended before the GET started: ${events.join(', ')}`);
});

t.test('the same after a POST with Content-Length', async (t) => {
  const { statuses, events } = await pipeline([
    `POST /b/post?hold=100 HTTP/1.1\r\n${HOST}Content-Length: 3\r\n\r\nabc`,
    `GET /b/get HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`,
  ]);
  t.same(statuses, ['200', '200']);
  t.ok(before(events, 'end POST /b/post', 'start GET /b/get'), events.join(', '));
});

t.test('a POST pipelined after GETs starts once they are answered', async (t) => {
  const { statuses, events } = await pipeline([
    `GET /c/get1?hold=100 HTTP/1.1\r\n${HOST}\r\n`,
    `GET /c/get2 HTTP/1.1\r\n${HOST}\r\n`,
    `POST /c/post HTTP/1.1\r\n${HOST}Content-Length: 1\r\n\r\nx`,
    `DELETE /c/delete HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`,
  ]);
  t.same(statuses, ['200', '200', '200', '200']);
  t.ok(before(events, 'end GET /c/get1', 'start POST /c/post'), events.join(', '));
  t.ok(before(events, 'end POST /c/post', 'start DELETE /c/delete'), 'and the next unsafe one after it');
});

t.test('safe requests pipelined together still run in parallel', async (t) => {
  const { statuses, events } = await pipeline([
    `GET /d/one?together=3 HTTP/1.1\r\n${HOST}\r\n`,
    `HEAD /d/two?together=3 HTTP/1.1\r\n${HOST}\r\n`,
    `OPTIONS /d/three?together=3 HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`,
  ]);
  t.same(statuses, ['200', '200', '200'], 'each waited in the app for the other two');
  t.ok(before(events, 'start OPTIONS /d/three', 'end GET /d/one'), events.join(', '));
});

t.test('many requests behind a slow POST: reading pauses and resumes, every answer comes in order', async (t) => {
  const gets = Array.from({ length: 200 }, (_, i) => `GET /e/get${i} HTTP/1.1\r\n${HOST}\r\n`);
  const { statuses, events } = await pipeline([
    `POST /e/post?hold=200 HTTP/1.1\r\n${HOST}Content-Length: 1\r\n\r\nx`,
    ...gets,
    `GET /e/last HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`,
  ]);
  t.equal(statuses.length, 202);
  t.ok(statuses.every((s) => s === '200'));
  const firstGet = events.find((e) => e.startsWith('start GET /e/'))!;
  t.ok(before(events, 'end POST /e/post', firstGet), 'no GET started before the POST was answered');
});
