// End to end against a runner that misbehaves: a hand-written protocol server in this process
// (speaking through protocol/ encoders) behind a real tsgi-proxy. Whatever it sends, the client
// gets a clean 502 or an aborted response, never a forged header or a body passed off as
// complete, and the proxy keeps serving.
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import {
  ErrorCode,
  Flags,
  FrameDecoder,
  FrameType,
  PROTOCOL_VERSION,
  decodeGoAway,
  encodeCancel,
  encodeFrame,
  encodeHello,
  encodeResponseHead,
  type Frame,
  type ResponseHead,
} from '../../protocol/index.js';
import { fetchBuffer, send } from '../helpers/http.js';
import { simpleConfig, startProxy, tempDir, until } from '../helpers/processes.js';

type Behaviour = (socket: Socket, stream: number) => void;

const dir = tempDir(t);
const socket = join(dir, 'fake.sock');
const received: Frame[] = [];
const behaviours = new Map<string, Behaviour>();

const head = (h: Partial<ResponseHead>): Uint8Array => encodeResponseHead({ status: 200, reason: 'OK', headers: [], ...h });
const data = (text: string, end = false) => encodeFrame(FrameType.DATA, end ? Flags.END_STREAM : 0, 0, Buffer.from(text));
/** Re-addresses a frame built for stream 0 to `stream` (bytes 6..9 of the header). */
const on = (frame: Uint8Array, stream: number) => (Buffer.from(frame.buffer, frame.byteOffset, frame.length).writeUInt32BE(stream, 6), frame);

behaviours.set('/ok', (s, id) => {
  s.write(encodeFrame(FrameType.RESPONSE, 0, id, head({ headers: [['Content-Type', 'text/plain']] })));
  s.write(on(data('fine', true), id));
});
behaviours.set('/crlf-header', (s, id) => {
  s.write(encodeFrame(FrameType.RESPONSE, 0, id, head({ headers: [['X-Evil', 'a\r\nSet-Cookie: stolen=1']] })));
  s.write(on(data('body', true), id));
});
behaviours.set('/bad-name', (s, id) => {
  s.write(encodeFrame(FrameType.RESPONSE, Flags.END_STREAM, id, head({ headers: [['Bad Name', 'x']] })));
});
behaviours.set('/status-600', (s, id) => {
  s.write(encodeFrame(FrameType.RESPONSE, Flags.END_STREAM, id, head({ status: 600 })));
});
behaviours.set('/status-101', (s, id) => {
  s.write(encodeFrame(FrameType.RESPONSE, Flags.END_STREAM, id, head({ status: 101 })));
});
behaviours.set('/two-lengths', (s, id) => {
  s.write(encodeFrame(FrameType.RESPONSE, Flags.END_STREAM, id, head({ headers: [['Content-Length', '1'], ['Content-Length', '2']] })));
});
behaviours.set('/too-long', (s, id) => {
  s.write(encodeFrame(FrameType.RESPONSE, 0, id, head({ headers: [['Content-Length', '3']] })));
  s.write(on(data('abcdef', true), id));
});
behaviours.set('/too-short', (s, id) => {
  s.write(encodeFrame(FrameType.RESPONSE, 0, id, head({ headers: [['Content-Length', '10']] })));
  s.write(on(data('abc', true), id));
});
behaviours.set('/app-error-after-head', (s, id) => {
  s.write(encodeFrame(FrameType.RESPONSE, 0, id, head({})));
  s.write(on(data('partial'), id));
  setTimeout(() => s.write(encodeFrame(FrameType.CANCEL, 0, id, encodeCancel({ code: ErrorCode.APP_ERROR, reason: 'boom' }))), 20);
});
behaviours.set('/data-before-head', (s, id) => {
  s.write(on(data('oops', true), id));
});
let refusals = 0;
behaviours.set('/refuse-once', (s, id) => {
  if (refusals++ === 0) {
    s.write(encodeFrame(FrameType.CANCEL, 0, id, encodeCancel({ code: ErrorCode.REFUSED_STREAM, reason: 'draining' })));
    return;
  }
  behaviours.get('/ok')!(s, id);
});
behaviours.set('/refuse-always', (s, id) => {
  s.write(encodeFrame(FrameType.CANCEL, 0, id, encodeCancel({ code: ErrorCode.REFUSED_STREAM, reason: 'draining' })));
});
// The connection dies with the request: before or after the runner said it started the app.
const drops = new Map<string, number>();
for (const [path, accept] of [['/drop-before-accept', false], ['/drop-after-accept', true]] as const) {
  behaviours.set(path, (s, id) => {
    const seen = drops.get(path) ?? 0;
    drops.set(path, seen + 1);
    if (seen > 0) return behaviours.get('/ok')!(s, id);
    if (accept) s.write(encodeFrame(FrameType.ACCEPT, 0, id, new Uint8Array(0)));
    setTimeout(() => s.destroy(), 10);
  });
}
behaviours.set('/garbage', (s) => {
  s.write(Buffer.from('HTTP/1.1 200 OK\r\n\r\nnot a frame at all'));
});

const server = createServer((conn) => {
  const decoder = new FrameDecoder();
  conn.on('error', () => undefined);
  conn.on('data', (chunk) => {
    let frames: Frame[];
    try {
      frames = decoder.push(chunk);
    } catch {
      conn.destroy();
      return;
    }
    for (const frame of frames) {
      received.push(frame);
      if (frame.type === FrameType.HELLO) {
        conn.write(encodeFrame(FrameType.HELLO, 0, 0, encodeHello({ version: PROTOCOL_VERSION, role: 'runner', maxFrameSize: 65536, initialWindow: 65536, maxStreams: 100, pid: process.pid, app: 'fake', accepts: true })));
      } else if (frame.type === FrameType.REQUEST) {
        const path = decodePath(frame.payload);
        streams.set(path, frame.stream);
        behaviours.get(path)?.(conn, frame.stream);
      }
    }
  });
});
await new Promise<void>((resolve) => server.listen(socket, resolve));
t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));

const streams = new Map<string, number>();
/** The stream id the proxy used for the last request to `path`. */
const streamOf = (path: string) => streams.get(path);

/** PATH_INFO from the environ payload, without trusting our own decoder more than needed. */
function decodePath(payload: Uint8Array): string {
  const text = Buffer.from(payload).toString('latin1');
  const match = /PATH_INFO.(\/[\w-]*)/.exec(text);
  return match ? match[1]! : '';
}

const proxy = await startProxy(t, dir, simpleConfig(socket));
const seen = new Set<string>();

t.test('a well-behaved answer passes', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/ok`);
  t.equal(reply.status, 200);
  t.equal(reply.body.toString(), 'fine');
});

for (const [path, why] of [
  ['/crlf-header', 'CR/LF in a header value'],
  ['/bad-name', 'a header name that is not a token'],
  ['/status-600', 'a status above 599'],
  ['/status-101', 'a 1xx as the final status'],
  ['/two-lengths', 'conflicting Content-Length'],
] as const) {
  t.test(`invalid head (${why}): 502, never forwarded`, async (t) => {
    const reply = await fetchBuffer(`${proxy.url}${path}`);
    t.equal(reply.status, 502);
    t.notOk(reply.headers['set-cookie'], 'no injected header');
    t.notOk(reply.headers['x-evil']);
    t.equal(reply.body.toString(), '502 Bad Gateway\n');
    const logged = await proxy.proc.waitForLog((l) => l.msg === 'request failed' && l.code === 'TSGI_INVALID_RESPONSE' && typeof l.reqId === 'string' && !seen.has(l.reqId));
    seen.add(logged.reqId as string);
    // The CANCEL may still be on its way when the client has its answer.
    const cancelled = () => received.some((f) => f.type === FrameType.CANCEL && f.stream === streamOf(path));
    await until('the CANCEL at the runner', cancelled, 10_000).catch(() => undefined);
    t.ok(cancelled(), 'the stream was cancelled at the runner');
  });
}
for (const [path, why] of [
  ['/too-long', 'more body than Content-Length'],
  ['/too-short', 'less body than Content-Length'],
  ['/app-error-after-head', 'the app failed after the head'],
] as const) {
  t.test(`${why}: the response is aborted, not passed off as complete`, async (t) => {
    // The connection is cut: before the head reached the client, or after part of the body.
    const res = await send(`${proxy.url}${path}`).catch(() => null);
    if (!res) return t.pass('aborted before the head');
    const outcome = await new Promise<string>((resolve) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve('complete'));
      res.on('error', () => resolve('aborted'));
      res.on('aborted', () => resolve('aborted'));
    });
    t.equal(outcome, 'aborted');
  });
}

t.test('a refused stream (never started) is retried, a bounded number of times', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/refuse-once`);
  t.equal(reply.status, 200);
  t.equal(reply.body.toString(), 'fine');
  const again = await fetchBuffer(`${proxy.url}/refuse-always`);
  t.equal(again.status, 502, 'refused every time: 502 after the bounded retries');
  await proxy.proc.waitForLog((l) => l.msg === 'request failed' && l.code === 'TSGI_UPSTREAM_REFUSED');
});

t.test('ACCEPT decides whether a lost POST may go to another server', async (t) => {
  // The same fake runner twice: a retry goes to the "other" server over a new connection.
  const pair = await startProxy(
    t,
    dir,
    `upstream pair { server unix:${socket}; server unix:${socket}; }
     server { listen 127.0.0.1:0; location / { tsgi_pass pair; } }`,
  );
  const before = await fetchBuffer(`${pair.url}/drop-before-accept`, { method: 'POST', body: '' });
  t.equal(before.status, 200, 'never started: retried although POST is not idempotent');
  const after = await fetchBuffer(`${pair.url}/drop-after-accept`, { method: 'POST', body: '' });
  t.equal(after.status, 502, 'may have run: not retried (no non_idempotent)');
});

t.test('DATA before RESPONSE: 502', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/data-before-head`);
  t.equal(reply.status, 502);
  await proxy.proc.waitForLog((l) => l.msg === 'request failed' && l.code === 'TSGI_UPSTREAM_PROTOCOL');
});

t.test('garbage from the runner: 502, GOAWAY with a code, and the proxy reconnects', async (t) => {
  const reply = await fetchBuffer(`${proxy.url}/garbage`);
  t.equal(reply.status, 502);
  // The GOAWAY comes on the runner's socket, not with the 502: waited for.
  const coded = () => received.some((f) => f.type === FrameType.GOAWAY && [ErrorCode.FRAME_SIZE_ERROR, ErrorCode.PROTOCOL_ERROR].includes(decodeGoAway(f.payload).code));
  await until('the coded GOAWAY', coded, 10_000).catch(() => undefined);
  t.ok(coded(), 'coded GOAWAY sent');
  let status = 0;
  const served = async () => (status = (await fetchBuffer(`${proxy.url}/ok`).catch(() => ({ status: 0 }))).status) === 200;
  await until('an answer on a new connection', served, 10_000).catch(() => undefined);
  t.equal(status, 200, 'served again on a new connection');
});
