/** SendWindow and ReceiveWindow (SPEC.md section 5): spending, granting, batching, the limits. */
import t from 'tap';
import { ErrorCode, ProtocolError } from '../../protocol/errors.js';
import { ReceiveWindow, SendWindow } from '../../protocol/flow.js';
import { MAX_WINDOW } from '../../protocol/frame.js';
import { int, mulberry32, seed } from './random.js';

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return null;
}

t.test('SendWindow: spend and grant', async (t) => {
  const w = new SendWindow(1000);
  t.equal(w.credit, 1000);
  w.spend(300);
  w.spend(700);
  t.equal(w.credit, 0, 'spent to zero');
  w.grant(500, 1);
  t.equal(w.credit, 500);
  w.spend(0);
  t.equal(w.credit, 500, 'an empty DATA costs nothing');
});

t.test('SendWindow: a zero increment is a PROTOCOL_ERROR on the stream', async (t) => {
  const w = new SendWindow(10);
  const err = caught(() => w.grant(0, 7));
  t.ok(err instanceof ProtocolError);
  t.match(err, { code: ErrorCode.PROTOCOL_ERROR, stream: 7 });
  t.equal(w.credit, 10, 'window unchanged');
});

t.test('SendWindow: the window may reach 2^31-1 but not pass it', async (t) => {
  const w = new SendWindow(0);
  w.grant(MAX_WINDOW, 1);
  t.equal(w.credit, MAX_WINDOW);
  t.match(caught(() => w.grant(1, 3)), { code: ErrorCode.FLOW_CONTROL_ERROR, stream: 3 });
  t.equal(w.credit, MAX_WINDOW, 'window unchanged after the refused grant');
  const half = new SendWindow(MAX_WINDOW - 10);
  half.grant(10, 1);
  t.match(caught(() => new SendWindow(MAX_WINDOW - 10).grant(11, 1)), { code: ErrorCode.FLOW_CONTROL_ERROR });
  t.match(caught(() => new SendWindow(1).grant(MAX_WINDOW, 1)), { code: ErrorCode.FLOW_CONTROL_ERROR });
});

t.test('ReceiveWindow: receive within the window, FLOW_CONTROL_ERROR beyond it', async (t) => {
  const w = new ReceiveWindow(100, 50);
  w.receive(60);
  w.receive(40);
  w.receive(0);
  const err = caught(() => w.receive(1));
  t.ok(err instanceof ProtocolError);
  t.match(err, { code: ErrorCode.FLOW_CONTROL_ERROR, stream: 0 }, 'a connection error');
  t.match(caught(() => new ReceiveWindow(100, 50).receive(101)), { code: ErrorCode.FLOW_CONTROL_ERROR });
  t.equal(caught(() => new ReceiveWindow(0, 1).receive(0)), null, 'empty DATA is allowed on a zero window');
});

t.test('ReceiveWindow: credit is returned in batches of at least the threshold', async (t) => {
  const w = new ReceiveWindow(1000, 100);
  w.receive(1000);
  t.equal(w.consume(40), 0);
  t.equal(w.consume(59), 0);
  t.equal(w.consume(1), 100, 'the batch goes out when it reaches the threshold');
  t.equal(w.consume(250), 250, 'a large consumption goes out at once');
  t.equal(w.consume(99), 0);
  t.equal(w.consume(2), 101);
  w.receive(100 + 250 + 101);
  t.match(caught(() => w.receive(1)), { code: ErrorCode.FLOW_CONTROL_ERROR }, 'only returned credit reopens the window');
});

t.test('ReceiveWindow: a consumer that keeps up grows the window, up to its maximum', async (t) => {
  const w = new ReceiveWindow(100, 50, 400);
  w.receive(100);
  t.equal(w.consume(50, true), 150, 'the batch plus a doubling (100 -> 200)');
  w.receive(150);
  t.equal(w.consume(50, true), 0, 'the threshold doubled with it');
  t.equal(w.consume(50, true), 300, 'the batch plus the growth to the maximum (200 -> 400)');
  w.receive(300);
  t.equal(w.consume(200, true), 200, 'no growth past the maximum');
  w.receive(200);
  t.match(caught(() => w.receive(1)), { code: ErrorCode.FLOW_CONTROL_ERROR }, 'the window is exactly the maximum');
});

t.test('ReceiveWindow: a consumer that falls behind never grows it', async (t) => {
  const w = new ReceiveWindow(100, 50, 400);
  w.receive(100);
  t.equal(w.consume(60, false), 60);
  t.equal(w.consume(40, false), 0);
  w.receive(60);
  t.match(caught(() => w.receive(1)), { code: ErrorCode.FLOW_CONTROL_ERROR }, 'still the initial window');
});

t.test('ReceiveWindow: the window reopens only by what was returned', async (t) => {
  const w = new ReceiveWindow(100, 60);
  w.receive(100);
  t.equal(w.consume(50), 0);
  t.match(caught(() => w.receive(1)), { code: ErrorCode.FLOW_CONTROL_ERROR }, 'consumed but not yet returned');
  t.equal(w.consume(10), 60);
  w.receive(60);
  t.match(caught(() => w.receive(1)), { code: ErrorCode.FLOW_CONTROL_ERROR });
});

t.test('ReceiveWindow: a threshold above the window is clamped to it', async (t) => {
  const w = new ReceiveWindow(100, 1000);
  w.receive(100);
  t.equal(w.consume(99), 0);
  t.equal(w.consume(1), 100, 'the whole window comes back rather than never');
});

t.test('ReceiveWindow: a threshold of 0 returns every byte', async (t) => {
  const w = new ReceiveWindow(10, 0);
  w.receive(1);
  t.equal(w.consume(1), 1);
});

t.test('a sender and a slow receiver never break the window and never stall', async (t) => {
  const runSeed = seed();
  t.comment(`seed ${runSeed} (replay with TSGI_SEED=${runSeed})`);
  const random = mulberry32(runSeed);
  for (const [window, threshold] of [[65536, 32768], [1000, 1], [100, 1000], [262144, 131072]] as const) {
    const send = new SendWindow(window);
    const receive = new ReceiveWindow(window, threshold);
    let inFlight = 0; // received, not yet consumed
    let buffered = 0; // consumed-but-unreturned is inside ReceiveWindow
    let sent = 0;
    let steps = 0;
    const total = window * 20;
    while (sent < total && steps++ < 1e6) {
      if (send.credit > 0 && random() < 0.6) {
        const n = Math.min(send.credit, int(random, 1, Math.max(1, window >> 2)), total - sent);
        send.spend(n);
        receive.receive(n);
        sent += n;
        inFlight += n;
      } else if (inFlight > 0) {
        const n = int(random, 1, inFlight);
        inFlight -= n;
        const increment = receive.consume(n);
        if (increment > 0) send.grant(increment, 1);
      } else if (send.credit === 0) {
        t.fail(`stalled: no credit and nothing left to consume (window ${window}, threshold ${threshold})`);
        break;
      }
      buffered = Math.max(buffered, inFlight);
    }
    t.equal(sent, total, `window ${window}, threshold ${threshold}: all ${total} bytes sent in ${steps} steps`);
    t.ok(buffered <= window, `never more than one window buffered (${buffered})`);
  }
});
