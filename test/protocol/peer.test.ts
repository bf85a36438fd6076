import t from 'tap';
import {
  ErrorCode,
  FrameType,
  MAX_UNSENT_PING_ANSWERS,
  PILED_UP_BYTES,
  PROTOCOL_VERSION,
  PingAnswers,
  ProtocolError,
  checkOpened,
  checkPeerHello,
  software,
  type Hello,
} from '../../protocol/index.js';

const hello = (over: Partial<Hello>): Hello => ({ version: PROTOCOL_VERSION, role: 'runner', maxFrameSize: 65536, initialWindow: 65536, maxStreams: 8, ...over }) as Hello;

t.test('software names the program and the version', async (t) => {
  t.equal(software('tsgi-proxy'), 'tsgi-proxy/0.1.0');
});

t.test('checkPeerHello: our version, the other role', async (t) => {
  t.doesNotThrow(() => checkPeerHello(hello({}), 'runner'));
  t.throws(() => checkPeerHello(hello({ version: PROTOCOL_VERSION + 1 }), 'runner'), { code: ErrorCode.UNSUPPORTED_VERSION });
  t.throws(() => checkPeerHello(hello({ role: 'proxy' }), 'runner'), { code: ErrorCode.PROTOCOL_ERROR, message: 'HELLO role must be "runner"' });
  t.throws(() => checkPeerHello(hello({ role: 'runner' }), 'proxy'), { code: ErrorCode.PROTOCOL_ERROR });
});

t.test('PingAnswers: counted only while output piles up', async (t) => {
  const answers = new PingAnswers();
  for (let i = 0; i < 3 * MAX_UNSENT_PING_ANSWERS; i++) answers.count(PILED_UP_BYTES - 1, 'peer');
  t.pass('a peer that reads is never cut');
  const piling = new PingAnswers();
  for (let i = 0; i < MAX_UNSENT_PING_ANSWERS; i++) piling.count(PILED_UP_BYTES, 'peer');
  t.throws(() => piling.count(PILED_UP_BYTES, 'runner'), { code: ErrorCode.FLOW_CONTROL_ERROR, message: /runner is not reading/ });
  const fresh = new PingAnswers();
  for (let i = 0; i < MAX_UNSENT_PING_ANSWERS; i++) fresh.count(PILED_UP_BYTES, 'peer');
  fresh.count(0, 'peer');
  t.pass('output drained: the count starts again');
});

t.test('checkOpened: above the highest stream opened is a PROTOCOL_ERROR', async (t) => {
  const frame = (stream: number) => ({ type: FrameType.DATA, flags: 0, stream, payload: new Uint8Array(0) });
  t.doesNotThrow(() => checkOpened(frame(5), 5), 'opened, since closed: ignored');
  const err = t.throws(() => checkOpened(frame(6), 5)) as ProtocolError;
  t.equal(err.code, ErrorCode.PROTOCOL_ERROR);
  t.equal(err.message, 'DATA on stream 6, which was never opened');
});
