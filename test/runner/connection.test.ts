/**
 * The runner's protocol server over a real Unix socket: a RunnerServer hosting
 * test/fixtures/runner-app.js, and a hand-driven "proxy" built from protocol/ encoders and
 * the FrameDecoder. Also runner/serving/listen.ts: stale, live and foreign files at the socket path.
 */
import { spawn } from 'node:child_process';
import { once, type EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import t, { type Test } from 'tap';
import {
  ErrorCode,
  Flags,
  FrameDecoder,
  FrameType,
  MAX_FRAME_SIZE_LIMIT,
  MAX_STREAM_ID,
  PROTOCOL_VERSION,
  decodeCancel,
  decodeGoAway,
  decodeHello,
  decodeResponseHead,
  encodeCancel,
  encodeCredit,
  encodeEnviron,
  encodeFrame,
  encodeHello,
  encodePing,
  pack,
  readU32,
  type Frame,
  type Hello,
  type ResponseHead,
} from '../../protocol/index.js';
import { loadApp } from '../../runner/apps/app-loader.js';
import { ListenError } from '../../runner/errors.js';
import { RunnerServer, type RunnerServerOptions } from '../../runner/serving/server.js';
import { until } from '../helpers/until.js';
import { FIXTURES } from '../helpers/root.js';

type T = Test;

const FIXTURE = join(FIXTURES, 'runner-app.js');
const { app } = await loadApp(FIXTURE);
const fixture = (await import(pathToFileURL(FIXTURE).href)) as {
  probe: EventEmitter;
  release(id: string): void;
  releaseAll(): void;
};

const silent = pino({ level: 'silent' });
const WAIT_MS = 4000;
/** A module's URL from this (built) file, for t.mockImport. */
const moduleUrl = (path: string) => new URL(path, import.meta.url).href;

// ---------------------------------------------------------------- the hand-driven proxy

/** What arrived on one stream. */
interface StreamLog {
  head?: ResponseHead;
  headEnded?: boolean;
  body: Buffer[];
  dataFrames: number;
  ended: boolean;
  cancel?: { code: number; reason: string };
  credit: number;
}

class Peer {
  /** Every frame received, in order. */
  readonly log: Frame[] = [];
  readonly streams = new Map<number, StreamLog>();
  readonly decoder: FrameDecoder;
  closed = false;
  decodeError: unknown = null;
  private cursor = 0;
  private waiters = new Set<() => void>();

  constructor(
    readonly socket: Socket,
    maxFrameSize: number,
  ) {
    this.decoder = new FrameDecoder(maxFrameSize);
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of this.decoder.push(chunk)) this.receive(frame);
      } catch (err) {
        this.decodeError = err;
      }
      this.notify();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  static async connect(t: T, path: string, maxFrameSize = 65536): Promise<Peer> {
    const socket = connect({ path });
    t.teardown(() => {
      socket.destroy();
    });
    await once(socket, 'connect');
    return new Peer(socket, maxFrameSize);
  }

  send(...frames: Uint8Array[]): void {
    for (const frame of frames) this.socket.write(frame);
  }

  /** Sends our HELLO and returns the runner's. */
  async handshake(hello: Partial<Hello> = {}): Promise<Hello> {
    this.send(helloFrame(hello));
    const frame = await this.next();
    if (frame.type !== FrameType.HELLO) throw new Error(`expected HELLO, got ${FrameType[frame.type]}`);
    return decodeHello(frame.payload);
  }

  /** The next frame not yet read with next() (frames stay in `log` for the stream views). */
  async next(what = 'a frame'): Promise<Frame> {
    await this.waitFor(() => this.cursor < this.log.length, what);
    return this.log[this.cursor++]!;
  }

  /** The next frame of `type`, skipping others. */
  async nextOf(type: FrameType, what = FrameType[type]): Promise<Frame> {
    for (;;) {
      const frame = await this.next(what);
      if (frame.type === type) return frame;
    }
  }

  stream(id: number): StreamLog {
    let entry = this.streams.get(id);
    if (!entry) {
      entry = { body: [], dataFrames: 0, ended: false, credit: 0 };
      this.streams.set(id, entry);
    }
    return entry;
  }

  received(id: number): number {
    return this.stream(id).body.reduce((n, b) => n + b.length, 0);
  }

  /** Resolves once `condition` holds; fails after WAIT_MS, or at once if the socket closed first. */
  waitFor(condition: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (condition()) return done(resolve);
        if (this.decodeError) return done(() => reject(new Error(`decoding failed while waiting for ${what}: ${String(this.decodeError)}`)));
        if (this.closed) return done(() => reject(new Error(`connection closed while waiting for ${what}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${what}`))), ms);
      const done = (then: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        then();
      };
      this.waiters.add(check);
    });
  }

  /** Waits for the stream to end (END_STREAM or CANCEL) and returns what arrived on it. */
  async response(id: number): Promise<StreamLog & { text: string }> {
    await this.waitFor(() => this.stream(id).ended, `the end of stream ${id}`);
    const entry = this.stream(id);
    return { ...entry, text: Buffer.concat(entry.body).toString('latin1') };
  }

  /** Resolves when the runner closed the connection. */
  async closedByRunner(): Promise<void> {
    await this.waitFor(() => this.closed, 'the runner to close the connection');
  }

  private receive(frame: Frame): void {
    this.log.push(frame);
    if (frame.stream === 0) return;
    const entry = this.stream(frame.stream);
    const end = (frame.flags & Flags.END_STREAM) !== 0;
    switch (frame.type) {
      case FrameType.RESPONSE:
        entry.head = decodeResponseHead(frame.payload, frame.stream);
        entry.headEnded = end;
        if (end) entry.ended = true;
        break;
      case FrameType.DATA:
        entry.body.push(Buffer.from(frame.payload));
        entry.dataFrames++;
        if (end) entry.ended = true;
        break;
      case FrameType.CREDIT:
        entry.credit += readU32(frame.payload, 0);
        break;
      case FrameType.CANCEL:
        entry.cancel = decodeCancel(frame.payload, frame.stream);
        entry.ended = true;
        break;
    }
  }

  private notify(): void {
    for (const check of [...this.waiters]) check();
  }
}

function helloFrame(hello: Partial<Hello> = {}): Uint8Array {
  const full = { version: PROTOCOL_VERSION, role: 'proxy' as const, maxFrameSize: 65536, initialWindow: 1 << 20, ...hello };
  return encodeFrame(FrameType.HELLO, 0, 0, encodeHello(full));
}

let requestCounter = 0;

/** A REQUEST frame for `path`; the request id (which the fixture keys its gates on) is unique. */
function request(stream: number, path: string, options: { end?: boolean; query?: string; environ?: Record<string, unknown> } = {}) {
  const id = `req-${++requestCounter}`;
  const environ = {
    REQUEST_METHOD: 'POST',
    SCRIPT_NAME: '',
    PATH_INFO: path,
    QUERY_STRING: options.query ?? '',
    SERVER_NAME: 'localhost',
    SERVER_PORT: '8080',
    SERVER_PROTOCOL: 'HTTP/1.1',
    'wsgi.url_scheme': 'http',
    'tsgi.request_id': id,
    ...options.environ,
  };
  const payload = options.environ ? pack(environ) : encodeEnviron(environ as Record<string, string>);
  return { id, frame: encodeFrame(FrameType.REQUEST, options.end === false ? 0 : Flags.END_STREAM, stream, payload) };
}

function data(stream: number, bytes: Uint8Array | string, end = false): Uint8Array {
  return encodeFrame(FrameType.DATA, end ? Flags.END_STREAM : 0, stream, typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
}

function cancel(stream: number, code: ErrorCode): Uint8Array {
  return encodeFrame(FrameType.CANCEL, 0, stream, encodeCancel({ code, reason: 'test' }));
}

function goaway(frame: Frame) {
  return decodeGoAway(frame.payload);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The bytes /big produces: byte i is i % 251. */
function bigBody(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = i % 251;
  return out;
}

// ---------------------------------------------------------------- the server

function tempDir(t: T): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-runner-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startServer(t: T, options: Partial<RunnerServerOptions> = {}) {
  const path = join(tempDir(t), 'runner.sock');
  const server = new RunnerServer({
    address: { kind: 'unix', path },
    app,
    log: silent,
    identity: { pid: process.pid, worker: 0, workers: 1, app: 'runner-app.js' },
    ...options,
  });
  await server.listen();
  t.teardown(() => {
    server.close();
    fixture.releaseAll();
  });
  return { server, path };
}

/** A server and one connection past the handshake. */
async function connected(t: T, options: Partial<RunnerServerOptions> = {}, hello: Partial<Hello> = {}) {
  const { server, path } = await startServer(t, options);
  const peer = await Peer.connect(t, path, hello.maxFrameSize ?? 65536);
  const runnerHello = await peer.handshake(hello);
  return { server, path, peer, runnerHello };
}

/** Counts the chunks each request's /big generator was asked for. */
function pullCounter(t: T): Map<string, number> {
  const pulls = new Map<string, number>();
  const onPull = (id: string) => pulls.set(id, (pulls.get(id) ?? 0) + 1);
  fixture.probe.on('pulled', onPull);
  t.teardown(() => {
    fixture.probe.off('pulled', onPull);
  });
  return pulls;
}

// ---------------------------------------------------------------- handshake

t.test('handshake', async (t) => {
  t.test('the runner HELLO announces its limits and identity', async (t) => {
    const { path } = await startServer(t);
    const peer = await Peer.connect(t, path);
    await sleep(30);
    t.equal(peer.log.length, 0, 'the runner says nothing before the proxy HELLO');
    const hello = await peer.handshake();
    t.match(hello, {
      version: 1,
      role: 'runner',
      maxFrameSize: 65536,
      initialWindow: 262144,
      maxStreams: 1024,
      pid: process.pid,
      worker: 0,
      workers: 1,
      app: 'runner-app.js',
      software: /^tsgi-runner\//,
    });
  });

  // What the HELLO asks for follows the send buffer the socket ends with (send-buffer.ts).
  const sendBuffer = await import('../../runner/serving/send-buffer.js');
  for (const [size, connections, what] of [
    [2 * 1024 * 1024, undefined, 'a buffer that holds a window: one connection does, none asked for'],
    [2 * 212992, undefined, "a stock kernel's cap (416 KiB): one connection still does"],
    [212992, 2, 'the default buffer: 2 connections asked for'],
    [null, 2, 'no addon, no size known: 2 connections asked for'],
  ] as const) {
    t.test(what, async (t) => {
      const { RunnerServer: Sized } = await t.mockImport<typeof import('../../runner/serving/server.js')>(moduleUrl('../../runner/serving/server.js'), {
        [moduleUrl('../../runner/serving/send-buffer.js')]: { ...sendBuffer, raiseSendBuffer: () => size },
      });
      const path = join(tempDir(t), 'sized.sock');
      const server = new Sized({ address: { kind: 'unix', path }, app, log: silent, identity: { pid: process.pid, worker: 0, workers: 1, app: 'runner-app.js' } });
      await server.listen();
      t.teardown(() => server.close());
      const peer = await Peer.connect(t, path);
      t.equal((await peer.handshake()).connections, connections);
    });
  }

  t.test('configured limits are the ones announced', async (t) => {
    const { runnerHello } = await connected(t, { maxStreams: 7, initialWindow: 16384, maxFrameSize: 32768 });
    t.match(runnerHello, { maxStreams: 7, initialWindow: 16384, maxFrameSize: 32768 });
  });

  const firstFrames: Array<[string, Uint8Array]> = [
    ['PING', encodePing(new Uint8Array(8), false)],
    ['REQUEST', request(1, '/hello').frame],
    ['DATA', data(1, 'x')],
  ];
  for (const [name, frame] of firstFrames) {
    t.test(`${name} before HELLO → GOAWAY PROTOCOL_ERROR, then close`, async (t) => {
      const { path } = await startServer(t);
      const peer = await Peer.connect(t, path);
      peer.send(frame);
      const first = await peer.next();
      t.equal(first.type, FrameType.GOAWAY, 'the answer is a GOAWAY, not a HELLO');
      t.match(goaway(first), { lastStream: 0, code: ErrorCode.PROTOCOL_ERROR });
      await peer.closedByRunner();
      t.equal(peer.log.length, 1, 'nothing else was sent');
    });
  }

  t.test('an unsupported version → GOAWAY UNSUPPORTED_VERSION, then close', async (t) => {
    const { path } = await startServer(t);
    const peer = await Peer.connect(t, path);
    peer.send(helloFrame({ version: 2 }));
    const first = await peer.next();
    t.equal(first.type, FrameType.GOAWAY);
    t.match(goaway(first), { code: ErrorCode.UNSUPPORTED_VERSION, reason: /version 2/ });
    await peer.closedByRunner();
  });

  t.test('a HELLO from another runner → GOAWAY PROTOCOL_ERROR', async (t) => {
    const { path } = await startServer(t);
    const peer = await Peer.connect(t, path);
    peer.send(helloFrame({ role: 'runner' }));
    t.match(goaway(await peer.nextOf(FrameType.GOAWAY)), { code: ErrorCode.PROTOCOL_ERROR });
    await peer.closedByRunner();
  });

  t.test('a frame over 16 KiB before the handshake → GOAWAY FRAME_SIZE_ERROR', async (t) => {
    const { path } = await startServer(t);
    const peer = await Peer.connect(t, path);
    peer.send(encodeFrame(FrameType.HELLO, 0, 0, new Uint8Array(16385)));
    t.match(goaway(await peer.nextOf(FrameType.GOAWAY)), { code: ErrorCode.FRAME_SIZE_ERROR });
    await peer.closedByRunner();
  });

  t.test('a second HELLO → GOAWAY PROTOCOL_ERROR', async (t) => {
    const { peer } = await connected(t);
    peer.send(helloFrame());
    t.match(goaway(await peer.nextOf(FrameType.GOAWAY)), { code: ErrorCode.PROTOCOL_ERROR });
    await peer.closedByRunner();
  });
});

// ---------------------------------------------------------------- requests

t.test('REQUEST with END_STREAM → RESPONSE, DATA…, END', async (t) => {
  const { peer } = await connected(t);
  peer.send(request(1, '/hello').frame);
  const response = await peer.response(1);
  t.same(response.head, { status: 200, reason: 'OK', headers: [['Content-Type', 'text/plain']] });
  t.equal(response.headEnded, false);
  t.equal(response.text, 'Hello World!');
  const frames = peer.log.slice(1).map((f) => [FrameType[f.type], f.flags, f.stream, Buffer.from(f.payload).toString('latin1')]);
  t.same(frames[0], ['ACCEPT', 0, 1, ''], 'ACCEPT first: the app is about to run');
  t.same(frames.slice(2), [
    ['DATA', 0, 1, 'Hello '],
    ['DATA', Flags.END_STREAM, 1, 'World!'],
  ], 'each chunk is one DATA frame; the empty one was skipped; the last one carries END_STREAM');
  t.equal(frames[1]![0], 'RESPONSE');
});

t.test('an empty body: RESPONSE with END_STREAM and nothing else', async (t) => {
  const { peer } = await connected(t);
  peer.send(request(1, '/empty').frame);
  const response = await peer.response(1);
  t.same(response.head, { status: 204, reason: 'No Content', headers: [['X-Empty', 'yes']] });
  t.equal(response.headEnded, true);
  t.equal(response.dataFrames, 0);
  // A PING answered after the response proves nothing else was queued behind it.
  peer.send(encodePing(Buffer.from('12345678'), false));
  await peer.nextOf(FrameType.PING);
  t.same(peer.log.filter((f) => f.stream === 1).map((f) => FrameType[f.type]), ['ACCEPT', 'RESPONSE']);
});

t.test('a request body in several DATA frames is echoed back', async (t) => {
  const { peer } = await connected(t);
  peer.send(request(1, '/echo', { end: false }).frame, data(1, 'abc'), data(1, ''), data(1, 'def'));
  await peer.waitFor(() => peer.received(1) === 6, 'the first two chunks echoed');
  peer.send(data(1, 'ghi', true));
  const response = await peer.response(1);
  t.equal(response.head?.status, 200);
  t.equal(response.text, 'abcdefghi');
  t.notOk(response.cancel);
});

t.test('a request body larger than the runner window flows with its CREDIT', async (t) => {
  const { peer, runnerHello } = await connected(t, { initialWindow: 16384 });
  t.equal(runnerHello.initialWindow, 16384);
  const body = bigBody(200_000);
  peer.send(request(1, '/echo', { end: false }).frame);
  let sent = 0;
  while (sent < body.length) {
    await peer.waitFor(() => 16384 + peer.stream(1).credit - sent > 0, `credit to send beyond ${sent}`);
    const window = 16384 + peer.stream(1).credit - sent;
    const size = Math.min(window, 8192, body.length - sent);
    peer.send(data(1, body.subarray(sent, sent + size), sent + size === body.length));
    sent += size;
  }
  const response = await peer.response(1);
  t.equal(response.text.length, body.length);
  t.ok(Buffer.from(response.text, 'latin1').equals(body), 'the echo is byte-exact');
  t.ok(peer.stream(1).credit >= body.length - 16384, 'the runner returned credit as the app read');
});

t.test('a request body window grows while the app keeps up, to 4 × initialWindow at most', async (t) => {
  const { peer } = await connected(t, { initialWindow: 16384 });
  const body = bigBody(400_000);
  peer.send(request(1, '/echo', { end: false }).frame);
  let sent = 0;
  let widest = 0;
  while (sent < body.length) {
    await peer.waitFor(() => 16384 + peer.stream(1).credit - sent > 0, `credit to send beyond ${sent}`);
    const window = 16384 + peer.stream(1).credit - sent;
    widest = Math.max(widest, window);
    // The whole window at once, as a proxy whose client sends fast does.
    const size = Math.min(window, body.length - sent);
    for (let at = sent; at < sent + size; at += 16384) {
      const end = Math.min(at + 16384, sent + size);
      peer.send(data(1, body.subarray(at, end), end === body.length));
    }
    sent += size;
  }
  const response = await peer.response(1);
  t.ok(Buffer.from(response.text, 'latin1').equals(body), 'the echo is byte-exact');
  t.ok(widest > 16384, `the window grew (widest ${widest})`);
  t.ok(widest <= 4 * 16384, `and stayed within 4 × initialWindow (widest ${widest})`);
});

t.test('the environ the app sees: the proxy strings plus the live objects', async (t) => {
  const { peer } = await connected(t, { environDefaults: { 'wsgi.multiprocess': true } });
  const { id, frame } = request(1, '/environ', { environ: { HTTP_X_BYTES: 'caf\u00c3\u00a9' } });
  peer.send(frame);
  const seen = JSON.parse(Buffer.concat((await peer.response(1)).body).toString('utf8')) as Record<string, unknown>;
  t.match(seen, {
    values: { REQUEST_METHOD: 'POST', PATH_INFO: '/environ', 'tsgi.request_id': id, HTTP_X_BYTES: 'caf\u00c3\u00a9' },
    types: { 'wsgi.input': 'object', 'wsgi.errors': 'object' },
    extra: true,
    inputIsAsyncIterable: true,
    errorsCanWrite: true,
  });
});

t.test('an app error before the head → a 500 response; after it → CANCEL APP_ERROR', async (t) => {
  const { peer } = await connected(t);
  peer.send(request(1, '/fail-before-head').frame, request(3, '/fail-after-head').frame);
  const before = await peer.response(1);
  t.equal(before.head?.status, 500);
  t.equal(before.text, 'Internal Server Error\n');
  t.notOk(before.cancel);
  const after = await peer.response(3);
  t.equal(after.head?.status, 200);
  t.equal(after.text, 'partial');
  t.equal(after.cancel?.code, ErrorCode.APP_ERROR, 'aborted: the truncated body cannot pass as complete');
  t.notOk(peer.log.some((f) => f.stream === 3 && f.type === FrameType.DATA && f.flags & Flags.END_STREAM), 'no END_STREAM');
});

t.test('a response head larger than the proxy max frame size → 500, the connection survives', async (t) => {
  const { peer } = await connected(t, {}, { maxFrameSize: 16384 });
  peer.send(request(1, '/big-header', { query: '20000' }).frame);
  const response = await peer.response(1);
  t.equal(response.head?.status, 500, 'the runner answers 500 instead of sending a frame the proxy must refuse');
  t.equal(response.text, 'Internal Server Error\n');
  peer.send(request(3, '/hello').frame);
  t.equal((await peer.response(3)).text, 'Hello World!', 'other streams go on');
  t.equal(peer.decodeError, null);
});

t.test('a legacy write() after the response ended sends nothing on the ended stream', async (t) => {
  const { peer } = await connected(t);
  const { id, frame } = request(1, '/late-write');
  const late = new Promise<unknown>((resolve) => {
    const onLate = (which: string, err: unknown) => {
      if (which !== id) return;
      fixture.probe.off('late-write', onLate);
      resolve(err);
    };
    fixture.probe.on('late-write', onLate);
  });
  peer.send(frame);
  const response = await peer.response(1);
  t.equal(response.text, 'on time');
  const err = await late;
  t.match(err, { name: 'ContractError', message: /after the response ended/ }, 'the late write() is refused');
  peer.send(encodePing(Buffer.from('barrier!'), false));
  await peer.nextOf(FrameType.PING);
  const onStream = peer.log.filter((f) => f.stream === 1).map((f) => [FrameType[f.type], f.flags]);
  t.same(onStream, [['ACCEPT', 0], ['RESPONSE', 0], ['DATA', Flags.END_STREAM]], 'no DATA after END_STREAM');
});

// ---------------------------------------------------------------- flow control

t.test('flow control: the runner sends no more DATA than the proxy granted', async (t) => {
  const pulls = pullCounter(t);
  const { peer } = await connected(t, {}, { initialWindow: 16384, maxFrameSize: 16384 });
  const size = 1 << 20;
  const { id, frame } = request(1, '/big', { query: String(size) });
  peer.send(frame);
  await peer.waitFor(() => peer.received(1) === 16384, 'the initial window of data');
  await sleep(100);
  t.equal(peer.received(1), 16384, 'stops at exactly the initial window');
  t.equal(peer.stream(1).ended, false);
  t.equal(pulls.get(id), 1, 'the app was not asked for a second chunk');

  peer.send(encodeCredit(1, 100_000));
  await peer.waitFor(() => peer.received(1) === 116_384, 'the data of the first CREDIT');
  await sleep(100);
  t.equal(peer.received(1), 116_384, 'stops again at the granted total');
  t.equal(pulls.get(id), 2, 'the app went on only as far as the credit');

  peer.send(encodeCredit(1, size - 116_384));
  const response = await peer.response(1);
  t.equal(response.head?.status, 200);
  const body = Buffer.concat(response.body);
  t.equal(body.length, size);
  t.ok(body.equals(bigBody(size)), 'the body arrives intact');
  t.ok(peer.log.every((f) => f.payload.length <= 16384), 'no frame above the max frame size the proxy announced');
  t.equal(pulls.get(id), 16);
});

t.test('flow control: an initial window of 0 holds every byte until CREDIT', async (t) => {
  const { peer } = await connected(t, {}, { initialWindow: 0 });
  peer.send(request(1, '/hello').frame);
  await peer.waitFor(() => peer.stream(1).head !== undefined, 'the head');
  await sleep(50);
  t.equal(peer.stream(1).dataFrames, 0, 'the head goes out, no DATA');
  peer.send(encodeCredit(1, 5));
  await peer.waitFor(() => peer.received(1) === 5, 'five bytes');
  await sleep(50);
  t.equal(peer.received(1), 5);
  peer.send(encodeCredit(1, 1000));
  t.equal((await peer.response(1)).text, 'Hello World!');
});

t.test('the proxy exceeding the runner window → GOAWAY FLOW_CONTROL_ERROR', async (t) => {
  const { peer } = await connected(t, { initialWindow: 16384 });
  peer.send(request(1, '/hold', { end: false }).frame, data(1, new Uint8Array(8192)), data(1, new Uint8Array(8192)));
  peer.send(encodePing(Buffer.from('accepted'), false));
  await peer.nextOf(FrameType.PING, 'the PING ACK');
  t.notOk(peer.log.some((f) => f.type === FrameType.GOAWAY), 'exactly one window is accepted');
  peer.send(data(1, new Uint8Array(1)));
  const frame = await peer.nextOf(FrameType.GOAWAY);
  t.match(goaway(frame), { lastStream: 1, code: ErrorCode.FLOW_CONTROL_ERROR });
  await peer.closedByRunner();
});

t.test('CREDIT overflowing the window cancels that stream only', async (t) => {
  const { peer } = await connected(t, {}, { initialWindow: 0x7fffffff });
  const held = request(1, '/hold');
  peer.send(held.frame, encodeCredit(1, 1));
  const response = await peer.response(1);
  t.equal(response.cancel?.code, ErrorCode.FLOW_CONTROL_ERROR);
  t.notOk(response.head);
  peer.send(request(3, '/hello').frame);
  t.equal((await peer.response(3)).text, 'Hello World!', 'the connection keeps serving');
  fixture.release(held.id);
  await sleep(30);
  t.equal(peer.stream(1).dataFrames, 0, 'the cancelled app\'s late answer is not sent');
  t.notOk(peer.stream(1).head);
});

t.test('a CREDIT of 0 cancels that stream (PROTOCOL_ERROR)', async (t) => {
  const { peer } = await connected(t);
  const held = request(1, '/hold');
  peer.send(held.frame, encodeCredit(1, 0));
  t.equal((await peer.response(1)).cancel?.code, ErrorCode.PROTOCOL_ERROR);
  fixture.release(held.id);
});

// ---------------------------------------------------------------- cancel

t.test('CANCEL from the proxy mid-response runs the generator finally block', async (t) => {
  const pulls = pullCounter(t);
  const { peer } = await connected(t, {}, { initialWindow: 16384 });
  const { id, frame } = request(1, '/big', { query: String(10 << 20) });
  const finallyRan = new Promise<void>((resolve) => {
    const onFinally = (which: string) => {
      if (which !== id) return;
      fixture.probe.off('finally', onFinally);
      resolve();
    };
    fixture.probe.on('finally', onFinally);
  });
  peer.send(frame);
  await peer.waitFor(() => peer.received(1) === 16384, 'a window of data');
  peer.send(cancel(1, ErrorCode.CANCEL));
  await Promise.race([finallyRan, sleep(WAIT_MS).then(() => Promise.reject(new Error('finally did not run')))]);
  t.pass('the finally block ran');
  t.equal(pulls.get(id), 1, 'no chunk was produced after the cancel');
  // Credit crossing the CANCEL is ignored; the stream sends nothing more.
  peer.send(encodeCredit(1, 1 << 20), request(3, '/hello').frame);
  t.equal((await peer.response(3)).text, 'Hello World!', 'the connection keeps serving');
  await sleep(50);
  t.equal(peer.received(1), 16384, 'nothing more on the cancelled stream');
  t.notOk(peer.stream(1).ended, 'no END or CANCEL echoed for a stream the proxy cancelled');
});

t.test('a CANCEL for an unknown stream is harmless', async (t) => {
  const { peer } = await connected(t);
  peer.send(cancel(9, ErrorCode.CANCEL), request(1, '/hello').frame);
  t.equal((await peer.response(1)).text, 'Hello World!');
});

// ---------------------------------------------------------------- stream rules

t.test('REQUEST with a non-increasing stream id → GOAWAY PROTOCOL_ERROR', async (t) => {
  for (const again of [5, 3]) {
    t.test(`stream ${again} after stream 5`, async (t) => {
      const { peer } = await connected(t);
      peer.send(request(5, '/hello').frame);
      await peer.response(5);
      peer.send(request(again, '/hello').frame);
      const frame = await peer.nextOf(FrameType.GOAWAY);
      t.match(goaway(frame), { lastStream: 5, code: ErrorCode.PROTOCOL_ERROR });
      await peer.closedByRunner();
      const responses = peer.log.filter((f) => f.type === FrameType.RESPONSE && f.stream === again).length;
      t.equal(responses, again === 5 ? 1 : 0, 'the offending REQUEST was not served');
    });
  }
});

t.test('DATA or CREDIT on a stream never opened → GOAWAY PROTOCOL_ERROR', async (t) => {
  for (const frame of [data(7, 'x'), encodeCredit(7, 10)]) {
    const { peer } = await connected(t);
    peer.send(frame);
    t.match(goaway(await peer.nextOf(FrameType.GOAWAY)), { code: ErrorCode.PROTOCOL_ERROR });
    await peer.closedByRunner();
  }
});

t.test('DATA after the request half ended → GOAWAY STREAM_CLOSED', async (t) => {
  const { peer } = await connected(t);
  const { frame } = request(1, '/slow');
  peer.send(frame);
  await peer.waitFor(() => peer.received(1) > 0, 'the first chunk');
  peer.send(data(1, 'late'));
  t.match(goaway(await peer.nextOf(FrameType.GOAWAY)), { code: ErrorCode.STREAM_CLOSED });
  await peer.closedByRunner();
});

t.test('a bad environ cancels that stream only (CANCEL PROTOCOL_ERROR)', async (t) => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['no REQUEST_METHOD', { REQUEST_METHOD: undefined }],
    ['no PATH_INFO', { PATH_INFO: undefined }],
    ['a non-string value', { CONTENT_LENGTH: 5 }],
  ];
  const { peer } = await connected(t);
  let stream = 1;
  for (const [name, environ] of cases) {
    peer.send(request(stream, '/hello', { environ }).frame);
    const response = await peer.response(stream);
    t.equal(response.cancel?.code, ErrorCode.PROTOCOL_ERROR, `${name}: CANCEL PROTOCOL_ERROR`);
    t.notOk(response.head, `${name}: the app was not called`);
    stream += 2;
    peer.send(request(stream, '/hello').frame);
    t.equal((await peer.response(stream)).text, 'Hello World!', `${name}: the connection keeps serving`);
    stream += 2;
  }
  t.notOk(peer.log.some((f) => f.type === FrameType.GOAWAY));
});

t.test('an environ with too many keys → CANCEL LIMIT_EXCEEDED', async (t) => {
  const { peer } = await connected(t);
  const environ: Record<string, string> = {};
  for (let i = 0; i < 600; i++) environ[`HTTP_X_${i}`] = 'v';
  peer.send(request(1, '/hello', { environ }).frame);
  t.equal((await peer.response(1)).cancel?.code, ErrorCode.LIMIT_EXCEEDED);
  peer.send(request(3, '/hello').frame);
  t.equal((await peer.response(3)).text, 'Hello World!');
});

t.test('more concurrent requests than maxStreams → CANCEL REFUSED_STREAM', async (t) => {
  const { peer, runnerHello } = await connected(t, { maxStreams: 2 });
  t.equal(runnerHello.maxStreams, 2);
  const first = request(1, '/hold');
  const second = request(3, '/hold');
  peer.send(first.frame, second.frame, request(5, '/hello').frame);
  const refused = await peer.response(5);
  t.equal(refused.cancel?.code, ErrorCode.REFUSED_STREAM);
  t.notOk(refused.head);
  t.notOk(peer.stream(1).ended || peer.stream(3).ended, 'the two held streams go on');
  fixture.release(first.id);
  t.equal((await peer.response(1)).text, 'released');
  peer.send(request(7, '/hello').frame);
  t.equal((await peer.response(7)).text, 'Hello World!', 'a freed slot serves the next request');
  fixture.release(second.id);
  t.equal((await peer.response(3)).text, 'released');
});

t.test('a read whose buffer an app was lent counts toward a young collection (proxy/young-gc.ts); a reused one does not', async (t) => {
  // The app's body chunks are views of the read's buffer, dead once the app lets go: counted, a
  // 64 MiB upload peaks the worker at 70-73 MiB instead of 96-98 (PROFILE.md, 2026-12-06).
  // A read that lent nothing keeps its buffer for the next read: no garbage to count.
  let counted = 0;
  // Absolute URLs: tap resolves relative ones from the source-mapped test file, not the built one.
  const { RunnerConnection: Counting } = await t.mockImport<typeof import('../../runner/serving/connection.js')>(moduleUrl('../../runner/serving/connection.js'), {
    [moduleUrl('../../proxy/young-gc.js')]: { bodyBytesRead: (n: number) => (counted += n) },
  });
  const path = join(tempDir(t), 'runner.sock');
  const options = { app, log: silent, identity: { pid: process.pid, worker: 0, workers: 1, app: 'runner-app.js' } };
  const listener = createServer({ pauseOnConnect: true }, (socket) => new Counting(socket, options));
  await new Promise<void>((resolve) => listener.listen(path, resolve));
  t.teardown(() => listener.close());
  const peer = await Peer.connect(t, path);
  await peer.handshake();
  for (let stream = 1; stream <= 9; stream += 2) peer.send(request(stream, '/hello').frame);
  for (let stream = 1; stream <= 9; stream += 2) t.equal((await peer.response(stream)).text, 'Hello World!');
  t.equal(counted, 0, 'requests without a body lend nothing');
  peer.send(request(11, '/echo', { end: false }).frame, data(11, 'abc', true));
  t.equal((await peer.response(11)).text, 'abc');
  t.ok(counted >= 64 * 1024, 'the whole buffer the body came in is counted');
  t.equal(counted % (64 * 1024), 0, 'in buffers, not in body bytes');
});

t.test('a body chunk the app has not read yet survives the reads that follow it', async (t) => {
  // Each read of a connection reuses its buffer unless an app was lent a view of it: the chunk
  // waiting in wsgi.input must not be overwritten by the requests read after it.
  const { peer } = await connected(t);
  const held = request(1, '/hold-echo', { end: false });
  const first = Buffer.alloc(1000, 'A');
  peer.send(held.frame);
  await peer.nextOf(FrameType.ACCEPT);
  // The chunk at the start of a read of its own (the PING's answer says it was read), where
  // the reads after it would write were the buffer reused.
  peer.send(data(1, first), encodePing(Buffer.from('chunkred'), false));
  await peer.nextOf(FrameType.PING);
  for (let stream = 3; stream <= 41; stream += 2) {
    peer.send(request(stream, '/id').frame);
    t.match((await peer.response(stream)).text, /^id=req-/, `request ${stream} read and answered meanwhile`);
  }
  peer.send(data(1, 'B', true));
  fixture.release(held.id);
  t.equal((await peer.response(1)).text, `${first.toString()}B`, 'the held chunk is intact');
});

t.test('PING → PING ACK with the same bytes; an ACK is not answered', async (t) => {
  const { peer } = await connected(t);
  const opaque = Buffer.from([1, 2, 3, 4, 0xfd, 0xfe, 0xff, 0]);
  peer.send(encodePing(Buffer.from('ack-only'), true), encodePing(opaque, false));
  const pong = await peer.nextOf(FrameType.PING);
  t.equal(pong.flags, Flags.ACK);
  t.equal(pong.stream, 0);
  t.same([...pong.payload], [...opaque], 'the first answer is for the non-ACK PING');
  await sleep(30);
  t.equal(peer.log.filter((f) => f.type === FrameType.PING).length, 1);
});

t.test('unknown frame types are skipped', async (t) => {
  const { peer } = await connected(t);
  peer.send(encodeFrame(0x7e, 0xff, 0, Buffer.from('future')), encodeFrame(0x7f, 0, 1, Buffer.from('x')), request(1, '/hello').frame);
  t.equal((await peer.response(1)).text, 'Hello World!');
});

// ---------------------------------------------------------------- drain, concurrency

/** The drain's first GOAWAY (no stream refused yet) and the PING fence after it. */
async function drainAnnounced(t: T, peer: Peer): Promise<Frame> {
  t.match(goaway(await peer.nextOf(FrameType.GOAWAY)), { lastStream: MAX_STREAM_ID, code: ErrorCode.NO_ERROR }, 'first GOAWAY: open no more streams');
  const fence = await peer.nextOf(FrameType.PING);
  t.equal(fence.flags & Flags.ACK, 0, 'then a PING');
  return fence;
}

t.test('drain: GOAWAY NO_ERROR, in-flight and crossing requests finish, new streams refused after the fence, then close', async (t) => {
  const { server, path, peer } = await connected(t);
  const slow = request(1, '/slow');
  peer.send(slow.frame);
  await peer.waitFor(() => peer.received(1) > 0, 'the first chunk of the slow response');
  const drained = server.drain(5000);
  const fence = await drainAnnounced(t, peer);
  t.notOk(existsSync(path), 'the socket file is removed at once');
  // Sent before the proxy read the GOAWAY: served, not refused.
  peer.send(request(3, '/hello').frame);
  t.equal((await peer.response(3)).text, 'Hello World!', 'a REQUEST that crossed the first GOAWAY is served');
  peer.send(encodePing(fence.payload, true));
  t.match(goaway(await peer.nextOf(FrameType.GOAWAY)), { lastStream: 3, code: ErrorCode.NO_ERROR }, 'the fence answered: the final GOAWAY names the last stream');
  peer.send(request(5, '/hello').frame);
  const refused = await peer.response(5);
  t.equal(refused.cancel?.code, ErrorCode.REFUSED_STREAM);
  t.equal(peer.stream(1).ended, false, 'the in-flight request is still open');
  fixture.release(slow.id);
  const response = await peer.response(1);
  t.equal(response.text, 'first;last', 'the in-flight request completed');
  t.notOk(response.cancel);
  await peer.closedByRunner();
  t.equal(await drained, true, 'drain reports a clean stop');
});

t.test('drain with no streams: GOAWAY, fence, final GOAWAY, then closed within a short linger', async (t) => {
  const { server, peer } = await connected(t);
  const drained = server.drain(5000);
  const fence = await drainAnnounced(t, peer);
  peer.send(encodePing(fence.payload, true));
  t.match(goaway(await peer.nextOf(FrameType.GOAWAY)), { code: ErrorCode.NO_ERROR, lastStream: 0 });
  await peer.closedByRunner();
  t.equal(await drained, true);
});

t.test('drain: a proxy that never answers the fence gets the final GOAWAY anyway', async (t) => {
  const { server, peer } = await connected(t);
  const drained = server.drain(10_000);
  await drainAnnounced(t, peer);
  t.match(goaway(await peer.nextOf(FrameType.GOAWAY)), { code: ErrorCode.NO_ERROR, lastStream: 0 });
  await peer.closedByRunner();
  t.equal(await drained, true);
});

t.test('drain: a REQUEST after the final GOAWAY is refused, not cut; the proxy closing ends it at once', async (t) => {
  const { server, peer } = await connected(t);
  const drained = server.drain(5000);
  peer.send(encodePing((await drainAnnounced(t, peer)).payload, true));
  await peer.nextOf(FrameType.GOAWAY);
  peer.send(request(1, '/hello').frame);
  t.match((await peer.response(1)).cancel, { code: ErrorCode.REFUSED_STREAM }, 'refused: safe to retry elsewhere');
  const started = Date.now();
  peer.socket.end();
  t.equal(await drained, true);
  // Typically a few ms; the runner's own close after the final GOAWAY comes 1 s after it
  // (DRAIN_LINGER_MS), which a looser bound could not tell apart.
  t.ok(Date.now() - started < 500, 'closed as soon as the proxy closed, not by the drain linger');
});

t.test('drain before the handshake: HELLO first, then the GOAWAY', async (t) => {
  const { server, path } = await startServer(t);
  const peer = await Peer.connect(t, path);
  await sleep(50); // accepted by the server, no HELLO yet
  const drained = server.drain(5000);
  await peer.handshake();
  peer.send(encodePing((await drainAnnounced(t, peer)).payload, true));
  t.match(goaway(await peer.nextOf(FrameType.GOAWAY)), { code: ErrorCode.NO_ERROR, lastStream: 0 });
  await peer.closedByRunner();
  t.equal(await drained, true);
});

t.test('a GOAWAY from the proxy drains the connection', async (t) => {
  const { peer } = await connected(t);
  const slow = request(1, '/slow');
  peer.send(slow.frame);
  await peer.waitFor(() => peer.received(1) > 0, 'the first chunk');
  peer.send(encodeFrame(FrameType.GOAWAY, 0, 0, pack({ lastStream: 0, code: 0, reason: 'proxy reload' })));
  t.match(goaway(await peer.nextOf(FrameType.GOAWAY)), { code: ErrorCode.NO_ERROR });
  fixture.release(slow.id);
  t.equal((await peer.response(1)).text, 'first;last');
  await peer.closedByRunner();
});

t.test('100 concurrent streams on one connection are all answered correctly', async (t) => {
  const { peer } = await connected(t);
  const ids = Array.from({ length: 100 }, (_, i) => 2 * i + 1);
  const requests = ids.map((stream) => (stream % 4 === 1 ? request(stream, '/echo', { end: false }) : request(stream, '/id')));
  peer.send(...requests.map((r) => r.frame));
  // Interleave the bodies: every first half, then every second half.
  peer.send(...ids.filter((s) => s % 4 === 1).map((s) => data(s, `stream ${s} `)));
  peer.send(...ids.filter((s) => s % 4 === 1).map((s) => data(s, `says hello`, true)));
  for (const [i, stream] of ids.entries()) {
    const response = await peer.response(stream);
    const want = stream % 4 === 1 ? `stream ${stream} says hello` : `id=${requests[i]!.id}`;
    if (response.text !== want || response.head?.status !== 200 || response.cancel) {
      t.fail(`stream ${stream}: got ${JSON.stringify(response.text)}`, { response });
    }
  }
  t.equal(peer.streams.size, 100);
  t.pass('all answered');
});

t.test('an app that answers without reading the body → CANCEL NO_ERROR after its END_STREAM', async (t) => {
  const { peer } = await connected(t);
  peer.send(request(1, '/noread', { end: false }).frame, data(1, 'part of a big upload'));
  const response = await peer.response(1);
  t.equal(response.head?.status, 413);
  await peer.waitFor(() => peer.stream(1).cancel !== undefined, 'the CANCEL');
  const onStream = peer.log.filter((f) => f.stream === 1).map((f) => [FrameType[f.type], f.flags]);
  t.same(onStream, [
    ['ACCEPT', 0],
    ['RESPONSE', 0],
    ['DATA', Flags.END_STREAM],
    ['CANCEL', 0],
  ], 'the response is complete before the CANCEL');
  t.equal(peer.stream(1).cancel?.code, ErrorCode.NO_ERROR);
  t.equal(Buffer.concat(response.body).toString(), 'too big');
  // The rest of the upload crosses the CANCEL: ignored, not an error.
  peer.send(data(1, 'more'), data(1, 'end', true), request(3, '/hello').frame);
  t.equal((await peer.response(3)).text, 'Hello World!');
  t.notOk(peer.log.some((f) => f.type === FrameType.GOAWAY));
});

t.test('a stream waiting for credit does not stall the others', async (t) => {
  const { peer } = await connected(t, {}, { initialWindow: 16384 });
  peer.send(request(1, '/big', { query: String(1 << 20) }).frame);
  await peer.waitFor(() => peer.received(1) === 16384, 'stream 1 to exhaust its window');
  peer.send(request(3, '/hello').frame, request(5, '/echo', { end: false }).frame, data(5, 'still flowing', true));
  t.equal((await peer.response(3)).text, 'Hello World!');
  t.equal((await peer.response(5)).text, 'still flowing');
  t.equal(peer.received(1), 16384, 'stream 1 is still waiting');
});

t.test('the proxy hanging up mid-response runs the generator finally block', async (t) => {
  const { peer } = await connected(t, {}, { initialWindow: 16384 });
  const { id, frame } = request(1, '/big', { query: String(1 << 20) });
  const finallyRan = once(fixture.probe, 'finally');
  peer.send(frame);
  await peer.waitFor(() => peer.received(1) === 16384, 'a window of data');
  peer.socket.destroy();
  t.same(await finallyRan, [id]);
});

t.test('drain past its deadline cancels what is left and reports it', async (t) => {
  const { server, peer } = await connected(t);
  peer.send(request(1, '/slow').frame);
  await peer.waitFor(() => peer.received(1) > 0, 'the first chunk');
  t.equal(server.activeStreams, 1);
  t.equal(await server.drain(100), false, 'not clean');
  await peer.closedByRunner();
  t.equal(peer.stream(1).ended, false, 'the unfinished response was never marked complete');
  t.equal(server.activeStreams, 0);
});

t.test('close() cancels the streams and runs the finally blocks', async (t) => {
  const { server, peer } = await connected(t, {}, { initialWindow: 16384 });
  const { id, frame } = request(1, '/big', { query: String(1 << 20) });
  const finallyRan = once(fixture.probe, 'finally');
  peer.send(frame);
  await peer.waitFor(() => peer.received(1) === 16384, 'a window of data');
  server.close();
  t.same(await finallyRan, [id]);
  await peer.closedByRunner();
});

// ---------------------------------------------------------------- listen.ts

function serverAt(t: T, path: string, mode?: number): RunnerServer {
  const server = new RunnerServer({
    address: { kind: 'unix', path },
    ...(mode === undefined ? {} : { mode }),
    app,
    log: silent,
    identity: { pid: process.pid, worker: 0, workers: 1, app: 'runner-app.js' },
  });
  t.teardown(() => server.close());
  return server;
}

t.test('listen: a stale socket file left by a killed process is replaced', async (t) => {
  const path = join(tempDir(t), 'stale.sock');
  const child = spawn(process.execPath, [
    '-e',
    `require('node:net').createServer().listen(process.argv[1], () => process.stdout.write('ready'))`,
    path,
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
  });
  await once(child.stdout!, 'data');
  process.kill(child.pid!, 'SIGKILL');
  await once(child, 'exit');
  t.ok(statSync(path).isSocket(), 'the killed process left its socket file behind');
  const server = serverAt(t, path);
  await server.listen();
  const peer = await Peer.connect(t, path);
  t.equal((await peer.handshake()).role, 'runner', 'the new runner answers on the path');
});

t.test('listen: a live socket is not stolen', async (t) => {
  const path = join(tempDir(t), 'live.sock');
  const other = createServer((socket) => {
    socket.on('error', () => undefined); // the runner's probe hangs up at once
    socket.end('still mine');
  });
  await new Promise<void>((resolve) => other.listen(path, resolve));
  t.teardown(() => {
    other.close();
  });
  const server = serverAt(t, path);
  const err = await server.listen().catch((e: unknown) => e);
  t.type(err, ListenError);
  t.match((err as Error).message, /in use by another live process/);
  const socket = connect({ path });
  t.teardown(() => {
    socket.destroy();
  });
  const [reply] = (await once(socket, 'data')) as [Buffer];
  t.equal(reply.toString(), 'still mine', 'the live process still owns the path');
});

t.test('listen: a regular file at the path is not deleted', async (t) => {
  const path = join(tempDir(t), 'not-a.sock');
  writeFileSync(path, 'precious');
  const server = serverAt(t, path);
  const err = await server.listen().catch((e: unknown) => e);
  t.type(err, ListenError);
  t.match((err as Error).message, /exists and is not a socket/);
  t.equal(readFileSync(path, 'utf8'), 'precious');
  server.close();
  t.equal(readFileSync(path, 'utf8'), 'precious', 'close() does not remove it either');
});

t.test('listen: socket mode is 0660 by default and as given', async (t) => {
  const dir = tempDir(t);
  for (const [mode, want] of [[undefined, 0o660], [0o600, 0o600], [0o666, 0o666]] as const) {
    const path = join(dir, `mode-${want.toString(8)}.sock`);
    const server = serverAt(t, path, mode);
    await server.listen();
    t.equal((statSync(path).mode & 0o777).toString(8), want.toString(8), `mode ${want.toString(8)}`);
    server.close();
    t.notOk(existsSync(path), 'close() removes the socket file');
  }
});

t.test('a request past its deadline (harakiri) → CANCEL TIMEOUT; the observer and the watchdog see it', async (t) => {
  const events: string[] = [];
  const slots: string[] = [];
  const observer = {
    // What started returns, finished is given back.
    started: (environ: Record<string, string>) => (events.push(`started ${environ.PATH_INFO}`), environ.PATH_INFO),
    finished: (path: string | undefined) => events.push(`finished ${path}`),
    timedOut: (environ: Record<string, string>) => events.push(`timedOut ${environ.PATH_INFO}`),
    failed: (environ: Record<string, string>) => events.push(`failed ${environ.PATH_INFO}`),
  };
  const watchdog = {
    track: (fd: number, stream: number) => (slots.push(`track ${stream} ${fd >= 0}`), stream),
    untrack: (slot: number) => void slots.push(`untrack ${slot}`),
  };
  const { peer } = await connected(t, { deadlineMs: 100, observer, watchdog });
  peer.send(request(1, '/hold').frame, request(3, '/hello').frame);
  t.equal((await peer.response(3)).text, 'Hello World!', 'a quick request is not affected');
  const held = await peer.response(1);
  t.match(held.cancel, { code: ErrorCode.TIMEOUT, reason: /harakiri/ });
  t.same(events, ['started /hold', 'started /hello', 'finished /hello', 'timedOut /hold', 'finished /hold']);
  t.same(slots, ['track 1 true', 'track 3 true', 'untrack 3', 'untrack 1']);
  peer.send(request(5, '/fail-before-head').frame);
  t.equal((await peer.response(5)).head?.status, 500);
  // Counted after the 500 went out: polled (peer.waitFor wakes on frames only).
  await until('the failure to be counted', () => events.includes('failed /fail-before-head'), WAIT_MS).catch(() => undefined);
  t.same(events.slice(-2), ['finished /fail-before-head', 'failed /fail-before-head'], 'an app exception is counted');
});

t.test("an observer that throws is the runner's own bug: logged, and the connection serves on", async (t) => {
  const lines: string[] = [];
  const log = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
  const observer = { started: () => undefined, finished: () => undefined, timedOut: () => undefined, failed: () => { throw new Error('observer down'); } };
  const { peer } = await connected(t, { log, observer });
  peer.send(request(1, '/fail-before-head').frame);
  t.equal((await peer.response(1)).head?.status, 500);
  peer.send(request(3, '/hello').frame);
  t.equal((await peer.response(3)).text, 'Hello World!', 'the next request on the connection is served');
  const logged = lines.map((l) => JSON.parse(l) as { msg: string; err?: { message?: string } }).find((l) => l.msg === 'internal error while serving a request');
  t.match(logged, { err: { message: 'observer down' } });
});

t.test('a peer that floods PINGs and reads no answer is closed with FLOW_CONTROL_ERROR', async (t) => {
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
  const { peer } = await connected(t, { log });
  peer.send(encodePing(new Uint8Array(8), false));
  await peer.nextOf(FrameType.PING, 'an answer to one PING');
  // 20 000 PINGs while we read nothing: the answers pile up on the runner's side.
  peer.socket.pause();
  const burst = Buffer.concat(Array.from({ length: 2000 }, () => encodePing(new Uint8Array(8), false)));
  for (let i = 0; i < 10; i++) peer.send(burst);
  await sleep(200);
  peer.socket.resume();
  // The runner closes with unread PINGs in its queue, so the kernel resets the connection and
  // its GOAWAY may never arrive: its log says what it did.
  await peer.closedByRunner();
  const closing = lines.map((l) => JSON.parse(l) as { msg: string; code?: string; err?: string }).find((l) => l.msg === 'protocol error, closing connection');
  t.match(closing, { code: 'FLOW_CONTROL_ERROR', err: /not reading/ });
});
