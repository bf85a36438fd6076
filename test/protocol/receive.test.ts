import t from 'tap';
import { FrameDecoder, FrameType, ProtocolError, SendWindow, encodeFrame, receiveFrames, sendWithinCredit, type Frame } from '../../protocol/index.js';

t.test('receiveFrames: every frame of a read, errors to fail, nothing after a close', async (t) => {
  const bytes = Buffer.concat([
    encodeFrame(FrameType.DATA, 0, 1, Buffer.from('a')),
    encodeFrame(FrameType.DATA, 0, 1, Buffer.from('b')),
    encodeFrame(FrameType.DATA, 0, 1, Buffer.from('c')),
  ]);
  const seen: string[] = [];
  const failures: unknown[] = [];
  let closed = false;
  receiveFrames(
    new FrameDecoder(),
    bytes,
    (f: Frame) => {
      const text = Buffer.from(f.payload).toString();
      if (text === 'b') throw new Error('handler failed on b');
      seen.push(text);
    },
    (err) => {
      failures.push(err);
      closed = true;
    },
    () => closed,
  );
  t.same(seen, ['a'], 'stopped after the failing frame closed the connection');
  t.match(failures, [{ message: 'handler failed on b' }]);

  const decodeFailures: unknown[] = [];
  receiveFrames(new FrameDecoder(), encodeFrame(FrameType.DATA, 0, 0, Buffer.from('x')), () => t.fail('no frame'), (e) => decodeFailures.push(e), () => false);
  t.type(decodeFailures[0], ProtocolError, 'a decoding error goes to fail');

  let calls = 0;
  receiveFrames(new FrameDecoder(), bytes, () => calls++, () => undefined, () => true);
  t.equal(calls, 0, 'a closed connection handles nothing');
});

t.test('sendWithinCredit: pieces within the window and the frame size, the rest returned', async (t) => {
  const window = new SendWindow(10);
  const pieces: number[] = [];
  const rest = sendWithinCredit(window, new Uint8Array(25), 4, (p) => pieces.push(p.length));
  t.same(pieces, [4, 4, 2]);
  t.equal(rest.length, 15);
  t.equal(window.credit, 0);
  window.grant(100, 1);
  const none = sendWithinCredit(window, rest, 64, (p) => pieces.push(p.length));
  t.equal(none.length, 0);
  t.same(pieces, [4, 4, 2, 15]);
});
