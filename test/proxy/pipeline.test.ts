// The order of pipelined requests (proxy/pipeline.ts), with stand-ins for Node's socket, request
// and response: only what pipeline.ts reads of them (method, socket, writableFinished, the
// 'finish' / 'close' / 'socket' events, pause and resume).
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import t from 'tap';
import { MAX_WAITING, admit } from '../../proxy/pipeline.js';

class FakeSocket extends EventEmitter {
  pauses = 0;
  resumes = 0;
  pause(): this {
    this.pauses++;
    return this;
  }
  resume(): this {
    this.resumes++;
    this.emit('resume');
    return this;
  }
}

class FakeResponse extends EventEmitter {
  writableFinished = false;
  constructor(public socket: FakeSocket | null) {
    super();
  }
  finish(): void {
    this.writableFinished = true;
    this.emit('finish');
  }
}

interface Pipelined {
  name: string;
  res: FakeResponse;
}

/** One connection: requests arrive as Node hands them over; `started` lists them as they start. */
function connection() {
  const socket = new FakeSocket();
  const started: string[] = [];
  const inFlight: FakeResponse[] = [];
  const send = (method: string, name: string): Pipelined => {
    // Node gives a response the socket only when every earlier one has finished.
    const res = new FakeResponse(inFlight.some((r) => !r.writableFinished) ? null : socket);
    inFlight.push(res);
    const req = { method, socket } as unknown as IncomingMessage;
    admit(req, res as unknown as ServerResponse, () => started.push(name));
    return { name, res };
  };
  /** Finishes a response and hands the socket to the next one, as Node's resOnFinish does. */
  const finish = (p: Pipelined) => {
    p.res.finish();
    const next = inFlight.find((r) => !r.writableFinished && r.socket === null);
    if (next && inFlight.filter((r) => !r.writableFinished).indexOf(next) === 0) {
      next.socket = socket;
      next.emit('socket', socket);
    }
  };
  return { socket, started, send, finish };
}

const tick = () => new Promise((resolve) => process.nextTick(resolve));

t.test('safe requests start at once, in parallel', async (t) => {
  const c = connection();
  c.send('GET', 'a');
  c.send('HEAD', 'b');
  c.send('OPTIONS', 'c');
  c.send('TRACE', 'd');
  t.same(c.started, ['a', 'b', 'c', 'd']);
});

t.test('nothing after an unsafe request starts before its response finished', async (t) => {
  const c = connection();
  const post = c.send('POST', 'post');
  c.send('GET', 'get');
  c.send('HEAD', 'head');
  t.same(c.started, ['post']);
  c.finish(post);
  await tick();
  t.same(c.started, ['post', 'get', 'head'], 'then the safe ones after it, together');
  c.send('GET', 'later');
  t.same(c.started, ['post', 'get', 'head', 'later'], 'a request after the answer starts at once');
});

t.test('an unsafe request waits for every earlier response', async (t) => {
  const c = connection();
  const get = c.send('GET', 'get');
  const put = c.send('PUT', 'put');
  c.send('GET', 'after');
  t.same(c.started, ['get']);
  c.finish(get);
  await tick();
  t.same(c.started, ['get', 'put']);
  c.finish(put);
  await tick();
  t.same(c.started, ['get', 'put', 'after']);
});

t.test('two unsafe requests in a row: one at a time', async (t) => {
  const c = connection();
  const first = c.send('POST', 'first');
  const second = c.send('PATCH', 'second');
  c.send('BREW', 'extension'); // any other token is unsafe too
  c.finish(first);
  await tick();
  t.same(c.started, ['first', 'second']);
  c.finish(second);
  await tick();
  t.same(c.started, ['first', 'second', 'extension']);
});

t.test(`reading stops while ${MAX_WAITING} requests wait, and stays stopped until they start`, async (t) => {
  const c = connection();
  const post = c.send('POST', 'post');
  for (let i = 1; i < MAX_WAITING; i++) c.send('GET', `get${i}`);
  t.equal(c.socket.pauses, 0, `${MAX_WAITING - 1} waiting: still reading`);
  c.send('GET', `get${MAX_WAITING}`);
  t.equal(c.socket.pauses, 1, `${MAX_WAITING}: paused`);
  c.socket.resume(); // Node resuming on its own (a response drained)
  t.equal(c.socket.pauses, 2, 'paused again');
  c.finish(post);
  await tick();
  t.equal(c.started.length, MAX_WAITING + 1, 'all started');
  t.equal(c.socket.resumes, 2, 'and reading resumed');
  c.socket.resume();
  t.equal(c.socket.pauses, 2, 'no longer held paused');
});

t.test('a closed connection lets go of what waits', async (t) => {
  const c = connection();
  const post = c.send('POST', 'post');
  c.send('GET', 'never');
  c.socket.emit('close');
  post.res.emit('close');
  await tick();
  t.same(c.started, ['post'], 'the waiting request never starts');
});
