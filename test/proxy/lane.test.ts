// The lane (proxy/lane/): which reads it serves itself and which it hands to node:http, with
// the bytes it hands over, and the framing, keep-alive and timing of its answers. A real TCP
// connection to a net server whose connections are LaneConnections; the owner records what
// the lane asks of it and answers as the test says.
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import t, { type Test } from 'tap';
import { LaneConnection, type LaneOwner } from '../../proxy/lane/connection.js';
import { headerMap } from '../../proxy/lane/headers.js';
import { parserBinding } from '../../proxy/lane/parser.js';
import type { LaneRequest } from '../../proxy/lane/request.js';
import type { LaneResponse } from '../../proxy/lane/response.js';
import { sharedRead } from '../../proxy/lane/shared-read.js';
import { openRaw } from '../helpers/raw.js';
import { until } from '../helpers/until.js';

type Answer = (req: LaneRequest, res: LaneResponse) => void;

const hello: Answer = (_req, res) => {
  res.writeHead(200, ['Content-Type', 'text/plain', 'Content-Length', '5']);
  res.end('hello');
};

interface Lane {
  port: number;
  served: string[];
  handed: string[];
  timedOut: number;
  answer: Answer;
  owner: LaneOwner & { stopping: boolean };
}

async function lane(t: Test, limits: Partial<Pick<LaneOwner, 'headerTimeoutMs' | 'keepaliveTimeoutMs' | 'headBytes'>> = {}): Promise<Lane> {
  const state: Lane = { port: 0, served: [], handed: [], timedOut: 0, answer: hello, owner: null! };
  state.owner = {
    handle(req, res) {
      state.served.push(`${req.method} ${req.url}`);
      state.answer(req, res);
    },
    handOver(socket, unread) {
      state.handed.push(unread.toString('latin1'));
      socket.end('HTTP/1.1 418 Handed Over\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    },
    headerTimedOut(socket) {
      state.timedOut++;
      socket.end('HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    },
    stopping: false,
    headerTimeoutMs: limits.headerTimeoutMs ?? 10_000,
    keepaliveTimeoutMs: limits.keepaliveTimeoutMs ?? 10_000,
    headBytes: limits.headBytes ?? 16_384,
    forget() {},
  };
  // As node:http's server: the HTTP layer decides when to end the connection.
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => new LaneConnection(socket, state.owner, parserBinding!));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return state;
}

/** A client connection that collects what it reads. */
async function client(t: Test, port: number): Promise<{ socket: Socket; text: () => string; closed: Promise<void> }> {
  const socket = await openRaw(port);
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (text += chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  t.teardown(() => void socket.destroy());
  return { socket, text: () => text, closed };
}

const GET = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: lane.test\r\n${extra}\r\n`;
const answers = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
/** The head of the last answer in `text` without its Date line. */
const withoutDate = (text: string) => text.replace(/Date: [^\r]*\r\n/g, '');

t.ok(parserBinding, "Node's HTTP parser is within reach on this Node (else the lane is off)");
t.ok(sharedRead, "the handle's read callback and Node's stream state are within reach (else bodies come through 'data' events)");

t.test('GETs one after another on a kept connection: all served by the lane, answered in node:http framing', async (t) => {
  const l = await lane(t);
  const c = await client(t, l.port);
  for (let i = 1; i <= 3; i++) {
    c.socket.write(GET(`/n${i}`));
    await until('answers(c.text()).length === i', () => answers(c.text()).length === i);
  }
  t.same(l.served, ['GET /n1', 'GET /n2', 'GET /n3']);
  t.same(l.handed, []);
  t.match(c.text(), /^HTTP\/1\.1 200 OK\r\nContent-Type: text\/plain\r\nContent-Length: 5\r\nDate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=10\r\n\r\nhello/);
});

t.test('anything but a whole head of a common method, without a body or with a length, goes to node:http with its bytes', async (t) => {
  const cases: Array<[string, string]> = [
    ['a chunked POST', 'POST /p HTTP/1.1\r\nHost: lane.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
    ['a chunked GET', 'GET /g HTTP/1.1\r\nHost: lane.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two lengths', 'POST /p HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc'],
    ['a length that is not a number', 'POST /p HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 0x3\r\n\r\nabc'],
    ['a length beside chunked', 'POST /p HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
    ['a length past what a double counts', 'POST /p HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 99999999999999999\r\n\r\nabc'],
    ['a method the lane leaves', 'PROPFIND /p HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 0\r\n\r\n'],
    ['a body and a second request in one read', 'POST /p HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 3\r\n\r\nabc' + GET('/b')],
    ['an expectation node:http refuses', 'GET /g HTTP/1.1\r\nHost: lane.test\r\nExpect: 200-ok\r\n\r\n'],
    ['two expectations', 'GET /g HTTP/1.1\r\nHost: lane.test\r\nExpect: 100-continue\r\nExpect: 100-continue\r\n\r\n'],
    ['an upgrade', 'GET /ws HTTP/1.1\r\nHost: lane.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'],
    ['HTTP/1.0', 'GET /old HTTP/1.0\r\n\r\n'],
    ['two requests at once', GET('/a') + GET('/b')],
    ['half a head', 'GET /half HTTP/1.1\r\nHost: lane'],
    ['a bad request line', 'GET /a b c\r\n\r\n'],
    ['CONNECT', 'CONNECT lane.test:443 HTTP/1.1\r\nHost: lane.test:443\r\n\r\n'],
    ['33 field lines', `GET /many HTTP/1.1\r\n${Array.from({ length: 33 }, (_, i) => `X-F${i}: ${i}\r\n`).join('')}\r\n`],
  ];
  for (const [what, bytes] of cases) {
    const l = await lane(t);
    const c = await client(t, l.port);
    c.socket.write(bytes);
    await c.closed;
    t.same(l.served, [], `${what}: not served by the lane`);
    t.same(l.handed, [bytes], `${what}: handed over with every byte read`);
  }
});

t.test('after the lane served a request, a chunked POST on the same connection is handed over from its first byte', async (t) => {
  const l = await lane(t);
  const c = await client(t, l.port);
  c.socket.write(GET('/first'));
  await until('answers(c.text()).length === 1', () => answers(c.text()).length === 1);
  const post = 'POST /then HTTP/1.1\r\nHost: lane.test\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n';
  c.socket.write(post);
  await c.closed;
  t.same(l.served, ['GET /first']);
  t.same(l.handed, [post]);
  t.same(answers(c.text()), ['200', '418']);
});

/** The bytes' sum modulo 65,521: what `counting` answers, checked against what was sent. */
const sumOf = (bytes: Buffer) => bytes.reduce((n, byte) => (n + byte) % 65_521, 0);

/** Answers with the body read whole: its length and its bytes' sum, after the body ends. */
const counting: Answer = (req, res) => {
  let length = 0;
  let sum = 0;
  req.on('data', (chunk: Buffer) => {
    length += chunk.length;
    sum = (sum + sumOf(chunk)) % 65_521;
  });
  req.on('end', () => {
    const text = `${length} ${sum}`;
    res.writeHead(200, ['Content-Length', String(text.length)]);
    res.end(text);
  });
};


t.test('a body with a length is the lane\'s: read in the pieces it comes in, then the next request on the connection', async (t) => {
  const l = await lane(t);
  l.answer = counting;
  const c = await client(t, l.port);
  const body = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7) % 256));
  c.socket.write(`POST /up HTTP/1.1\r\nHost: lane.test\r\nContent-Length: ${body.length}\r\n\r\n`);
  c.socket.write(body.subarray(0, 1000)); // some of it in its own packet, the rest in large ones
  await new Promise((resolve) => setTimeout(resolve, 20));
  c.socket.write(body.subarray(1000));
  await until('the first answer', () => answers(c.text()).length === 1);
  t.match(c.text(), new RegExp(`\r\n\r\n${body.length} ${sumOf(body)}$`), 'every byte of the body, once, in order');
  // The body's end and the next request in one packet: the parser starts again at its first byte.
  c.socket.write(`PUT /up2 HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 5\r\n\r\n`);
  await new Promise((resolve) => setTimeout(resolve, 20));
  c.socket.write('abcde' + GET('/after'));
  await until('three answers', () => answers(c.text()).length === 3);
  t.same(l.served, ['POST /up', 'PUT /up2', 'GET /after']);
  t.same(l.handed, []);
  t.match(c.text(), new RegExp(`\r\n\r\n5 ${sumOf(Buffer.from('abcde'))}HTTP/1\\.1 200 `));
});

t.test('Expect: 100-continue: the interim answer at once, then the body and the answer', async (t) => {
  const l = await lane(t);
  l.answer = counting;
  const c = await client(t, l.port);
  c.socket.write('POST /up HTTP/1.1\r\nHost: lane.test\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n');
  await until('the 100', () => c.text().length > 0);
  t.equal(c.text(), 'HTTP/1.1 100 Continue\r\n\r\n', "node:http's interim answer, nothing else yet");
  c.socket.write('abc');
  await until('the answer', () => answers(c.text()).length === 2);
  t.match(c.text(), /\r\n\r\n3 294$/);
  t.same(l.handed, []);
});

t.test('a body whose reader pauses is not read meanwhile; an answer given before the body ends lets the rest be dropped', async (t) => {
  const l = await lane(t);
  let held: [LaneRequest, LaneResponse] | null = null;
  l.answer = (req, res) => {
    if (req.method === 'GET') return hello(req, res);
    held = [req, res];
    req.pause();
  };
  const c = await client(t, l.port);
  c.socket.write('POST /held HTTP/1.1\r\nHost: lane.test\r\nContent-Length: 100000\r\n\r\n');
  await until('the request', () => held !== null);
  c.socket.write(Buffer.alloc(60_000, 1));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(held![0].bodyLeft, 100_000, 'nothing read while nobody reads');
  // Answered without reading: the rest of the body is read and dropped, then the next request.
  hello(...held!);
  c.socket.write(Buffer.concat([Buffer.alloc(40_000, 2), Buffer.from(GET('/next'))]));
  await until('two answers', () => answers(c.text()).length === 2);
  t.same(l.served, ['POST /held', 'GET /next']);
  t.equal(held![0].bodyLeft, 0, 'the body read to its end');
  t.ok(held![0].complete);
});

t.test('a request pipelined while an answer is written waits for it, then is served', async (t) => {
  const l = await lane(t);
  let release: () => void = () => undefined;
  l.answer = (req, res) => {
    if (req.url === '/slow') release = () => hello(req, res);
    else hello(req, res);
  };
  const c = await client(t, l.port);
  c.socket.write(GET('/slow'));
  await until('l.served.length === 1', () => l.served.length === 1);
  c.socket.write(GET('/next'));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.same(l.served, ['GET /slow'], 'the second request waits');
  release();
  await until('answers(c.text()).length === 2', () => answers(c.text()).length === 2);
  t.same(l.served, ['GET /slow', 'GET /next']);
  t.same(l.handed, []);
  // And the connection still serves after it, read through its stream now.
  c.socket.write(GET('/third'));
  await until('answers(c.text()).length === 3', () => answers(c.text()).length === 3);
  t.same(l.served, ['GET /slow', 'GET /next', 'GET /third']);
});

t.test('HEAD, 204 and 304 answers carry no body; an answer without a length is chunked', async (t) => {
  const l = await lane(t);
  l.answer = (req, res) => {
    if (req.url === '/chunked') {
      res.writeHead(200, ['Content-Type', 'text/plain']);
      res.write('ab');
      res.end('cde');
    } else if (req.url === '/204') {
      res.writeHead(204, []);
      res.end('ignored');
    } else hello(req, res);
  };
  const c = await client(t, l.port);
  c.socket.write('HEAD /h HTTP/1.1\r\nHost: lane.test\r\n\r\n');
  await until('answers(c.text()).length === 1', () => answers(c.text()).length === 1);
  c.socket.write(GET('/204'));
  await until('answers(c.text()).length === 2', () => answers(c.text()).length === 2);
  c.socket.write(GET('/chunked', 'Connection: close\r\n'));
  await c.closed;
  t.equal(
    withoutDate(c.text()),
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive\r\nKeep-Alive: timeout=10\r\n\r\n' +
      'HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\nKeep-Alive: timeout=10\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n',
  );
});

t.test('an answer that ends the connection closes it; what the client sends after it is not read as a request', async (t) => {
  const l = await lane(t);
  l.answer = (req, res) => {
    res.shouldKeepAlive = false;
    hello(req, res);
  };
  const c = await client(t, l.port);
  c.socket.write(GET('/last'));
  await until('answers(c.text()).length === 1', () => answers(c.text()).length === 1);
  c.socket.write(GET('/after'));
  await c.closed;
  t.same(l.served, ['GET /last']);
  t.same(l.handed, []);
  t.match(c.text(), /Connection: close\r\n/);
});

t.test('a new connection that sends nothing within the head timeout is the listener’s to answer (408)', async (t) => {
  const l = await lane(t, { headerTimeoutMs: 150 });
  const c = await client(t, l.port);
  await c.closed;
  t.equal(l.timedOut, 1);
  t.same(answers(c.text()), ['408']);
});

t.test('an idle kept connection closes after the keep-alive timeout, silently', async (t) => {
  const l = await lane(t, { keepaliveTimeoutMs: 150, headerTimeoutMs: 10_000 });
  const c = await client(t, l.port);
  c.socket.write(GET('/once'));
  const started = performance.now();
  await c.closed;
  t.ok(performance.now() - started >= 100, 'not before the timeout');
  t.same(answers(c.text()), ['200']);
  t.equal(l.timedOut, 0);
  t.match(c.text(), /Keep-Alive: timeout=0\r\n/);
});

t.test('an answer slower than the keep-alive timeout is not cut, and the idle time counts from its end', async (t) => {
  const l = await lane(t, { keepaliveTimeoutMs: 150, headerTimeoutMs: 10_000 });
  l.answer = (req, res) => void setTimeout(() => hello(req, res), req.url === '/slow' ? 400 : 0);
  const c = await client(t, l.port);
  let closedAt = 0;
  void c.closed.then(() => (closedAt = performance.now()));
  c.socket.write(GET('/quick'));
  await until('the first answer', () => answers(c.text()).length === 1);
  c.socket.write(GET('/slow'));
  await until('the slow answer', () => answers(c.text()).length === 2);
  const answeredAt = performance.now();
  t.equal(closedAt, 0, 'open while the slow answer was under way (400 ms, the timeout 150)');
  await c.closed;
  t.ok(closedAt - answeredAt >= 100, `closed ${Math.round(closedAt - answeredAt)} ms after the answer, not before the timeout`);
});

t.test('a client gone in the middle of an answer closes it (its "close" comes, not "finish")', async (t) => {
  const l = await lane(t);
  let res: LaneResponse | null = null;
  l.answer = (_req, r) => {
    res = r;
    r.writeHead(200, ['Content-Length', '10']);
    r.write('12345');
  };
  const c = await client(t, l.port);
  c.socket.write(GET('/cut'));
  await until('res !== null', () => res !== null);
  const events: string[] = [];
  res!.on('finish', () => events.push('finish'));
  res!.on('close', () => events.push('close'));
  c.socket.destroy();
  await until('events.length > 0', () => events.length > 0);
  t.same(events, ['close']);
  t.equal(res!.writableFinished, false);
});

t.test('header lines become the map node:http gives as req.headers', async (t) => {
  let seen: { headers: Record<string, unknown>; raw: string[] } | null = null;
  const server = createHttpServer((req, res) => {
    seen = { headers: { ...req.headers }, raw: req.rawHeaders };
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => void server.close());
  const c = await client(t, (server.address() as AddressInfo).port);
  const lines = ['Host: a', 'host: b', 'Cookie: x=1', 'cookie: y=2', 'Set-Cookie: s1', 'set-cookie: s2', 'X-Many: 1', 'x-many: 2', 'User-Agent: u1', 'user-agent: u2', 'Content-Type: t1', 'content-type: t2', 'Referer: r1', 'Referer: r2', 'X-One: o', 'Constructor: c1', 'constructor: c2', 'toString: t'];
  c.socket.write(`GET / HTTP/1.1\r\n${lines.map((l) => `${l}\r\n`).join('')}Connection: close\r\n\r\n`);
  await c.closed;
  t.ok(seen, 'node:http read the request');
  t.same({ ...headerMap(seen!.raw) }, seen!.headers);
  t.same({ ...headerMap(seen!.raw) }.cookie, 'x=1; y=2');
});
