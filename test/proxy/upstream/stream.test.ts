// An upstream stream's request body against a congested connection: no byte is queued on a
// socket the runner is not reading, even within credit, and each drain lets one chunk out.
import t from 'tap';
import { FrameType } from '../../../protocol/index.js';
import { UpstreamStream, type StreamEvents, type StreamHost } from '../../../proxy/upstream/stream.js';

function setup(credit = 1024 * 1024) {
  const sent: { type: FrameType; bytes: number; lent: boolean; first: number }[] = [];
  const host: StreamHost & { congested: boolean; room: boolean; drainAhead: boolean } = {
    peerMaxFrameSize: 64 * 1024,
    acceptsStreams: true,
    congested: false,
    room: true,
    roomForLent: () => host.room,
    drainAhead: false,
    sendFrame: (type, _flags, _stream, payload, lent = false) => void sent.push({ type, bytes: payload.length, lent, first: payload[0] ?? -1 }),
    sendCredit: () => undefined,
    sendCancel: () => undefined,
    streamClosed: () => undefined,
    readInto: () => undefined,
  };
  let writable = 0;
  const events: StreamEvents = {
    onResponse: () => undefined,
    onData: () => undefined,
    onReadEnd: () => false,
    whenWritten: () => false,
    onWritable: () => void writable++,
    onBodyRefused: () => undefined,
    onFailure: () => undefined,
  };
  const stream = new UpstreamStream(1, host, events, credit, 256 * 1024, true);
  const bodyBytes = () => sent.filter((f) => f.type === FrameType.DATA).reduce((n, f) => n + f.bytes, 0);
  return { host, stream, sent, bodyBytes, writable: () => writable };
}

t.test('a congested connection takes no body bytes, even within credit', async (t) => {
  const { host, stream, bodyBytes, writable } = setup();
  host.congested = true;
  t.equal(stream.writeBody(Buffer.alloc(256 * 1024)), false, 'the caller is told to pause');
  t.equal(bodyBytes(), 0, 'nothing was queued on the socket');
  stream.onCredit(1000);
  t.equal(bodyBytes(), 0, 'credit alone does not let it out while congested');
  host.congested = false;
  stream.onDrain();
  t.equal(bodyBytes(), 256 * 1024, 'the drain sends the held chunk');
  t.equal(writable(), 1, 'and then the caller may resume');
  t.equal(stream.writeBody(Buffer.alloc(1000)), true, 'uncongested, within credit: sent at once');
  t.equal(bodyBytes(), 256 * 1024 + 1000);
});

t.test('the end of a held body follows the held chunk', async (t) => {
  const { host, stream, bodyBytes } = setup();
  host.congested = true;
  stream.writeBody(Buffer.alloc(10));
  stream.endBody();
  t.equal(bodyBytes(), 0);
  host.congested = false;
  stream.onDrain();
  t.equal(bodyBytes(), 10, 'the chunk, then the empty END frame');
});

t.test('lent body bytes: sent to be copied, or copied before they are kept', async (t) => {
  const { host, stream, sent, bodyBytes, writable } = setup();
  const read = Buffer.alloc(1000, 1);
  t.equal(stream.writeBody(read, true), true, 'room to copy it: sent');
  t.same(sent.at(-1), { type: FrameType.DATA, bytes: 1000, lent: true, first: 1 }, 'marked lent: the writer copies it');

  // No kept block free: the chunk goes as a copy of its own, and the client waits for the drain.
  host.room = false;
  host.drainAhead = true;
  t.equal(stream.writeBody(read.fill(2), true), false, 'the caller pauses');
  t.same(sent.at(-1), { type: FrameType.DATA, bytes: 1000, lent: false, first: 2 }, 'sent as an owned copy');
  host.room = true;
  stream.onDrain();
  t.equal(writable(), 1, 'the drain resumes the caller');

  // Congested: kept until the drain, as a copy — the lender reuses its buffer at once.
  host.congested = true;
  t.equal(stream.writeBody(read.fill(3), true), false);
  read.fill(4);
  host.congested = false;
  stream.onDrain();
  t.same(sent.at(-1), { type: FrameType.DATA, bytes: 1000, lent: false, first: 3 }, 'the bytes as they were lent, not as the buffer became');
  t.equal(bodyBytes(), 3000);
});
