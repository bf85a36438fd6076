import t from 'tap';
import { FrameDecoder, FrameType, FrameWriter, Flags, HEADER_SIZE, type ByteSink } from '../../protocol/index.js';

/** A sink that records what reaches the "socket": writes made while corked arrive together. */
class Sink implements ByteSink {
  destroyed = false;
  corks = 0;
  pending: Uint8Array[] = [];
  flushes: Uint8Array[][] = [];
  /** What a socket whose reader lags would still hold after a flush. */
  lag = 0;
  /** As a net.Socket's: what it holds, the corked writes included. */
  get writableLength(): number {
    return this.lag + this.pending.reduce((n, view) => n + view.length, 0);
  }
  writableEnded = false;
  write(bytes: Uint8Array): boolean {
    if (this.corks > 0) this.pending.push(bytes);
    else this.flushes.push([bytes]);
    return true;
  }
  cork(): void {
    this.corks++;
  }
  uncork(): void {
    if (--this.corks === 0 && this.pending.length > 0) {
      this.flushes.push(this.pending);
      this.pending = [];
    }
  }
}

function manual(): { defer: (fn: () => void) => void; run: () => void } {
  const queue: Array<() => void> = [];
  return { defer: (fn) => queue.push(fn), run: () => queue.splice(0).forEach((fn) => fn()) };
}

t.test('frames written in one turn leave in one flush, in order', async (t) => {
  const sink = new Sink();
  const turn = manual();
  const writer = new FrameWriter(sink, turn.defer);
  writer.frame(FrameType.RESPONSE, 0, 1, new Uint8Array([0x80]));
  writer.frame(FrameType.DATA, 0, 1, new Uint8Array([1, 2, 3]));
  writer.credit(1, 4096);
  writer.frame(FrameType.DATA, Flags.END_STREAM, 1, new Uint8Array(0));
  t.equal(sink.flushes.length, 0, 'nothing before the turn ends');
  turn.run();
  t.equal(sink.flushes.length, 1, 'one flush');
  const frames = new FrameDecoder().push(Buffer.concat(sink.flushes[0]!));
  t.same(frames.map((f) => [f.type, f.flags, f.stream, f.payload.length]), [
    [FrameType.RESPONSE, 0, 1, 1],
    [FrameType.DATA, 0, 1, 3],
    [FrameType.CREDIT, 0, 1, 4],
    [FrameType.DATA, Flags.END_STREAM, 1, 0],
  ]);
  writer.frame(FrameType.DATA, 0, 1, new Uint8Array([9]));
  turn.run();
  t.equal(sink.flushes.length, 2, 'the next turn corks again');
});

t.test('a large payload is written after its header, not copied', async (t) => {
  const sink = new Sink();
  const turn = manual();
  const payload = new Uint8Array(64 * 1024).fill(7);
  new FrameWriter(sink, turn.defer).frame(FrameType.DATA, 0, 3, payload);
  turn.run();
  t.equal(sink.flushes[0]!.length, 2);
  t.equal(sink.flushes[0]![1], payload, 'the same buffer');
});

t.test('nothing is written to a destroyed sink', async (t) => {
  const sink = new Sink();
  sink.destroyed = true;
  const turn = manual();
  new FrameWriter(sink, turn.defer).frame(FrameType.DATA, 0, 1, new Uint8Array([1]));
  turn.run();
  t.equal(sink.flushes.length + sink.pending.length + sink.corks, 0);
});

t.test('endData marks the last DATA frame of the turn END_STREAM in place, and only that one', async (t) => {
  const sink = new Sink();
  const turn = manual();
  const writer = new FrameWriter(sink, turn.defer);
  const decode = (i: number) => new FrameDecoder(1 << 20).push(Buffer.concat(sink.flushes[i]!)).map((f) => [f.type, f.flags, f.stream, f.payload.length]);
  t.notOk(writer.endData(1), 'nothing written yet');
  writer.frame(FrameType.DATA, 0, 1, new Uint8Array([1, 2, 3]));
  t.notOk(writer.endData(2), 'the last frame is another stream\'s');
  t.ok(writer.endData(1), 'small frame: marked');
  t.notOk(writer.endData(1), 'once');
  writer.frame(FrameType.DATA, 0, 3, new Uint8Array(64 * 1024));
  t.ok(writer.endData(3), 'large frame (header written apart): marked');
  writer.frame(FrameType.DATA, 0, 5, new Uint8Array([1]));
  writer.credit(7, 10);
  t.notOk(writer.endData(5), 'a frame came after it');
  writer.frame(FrameType.RESPONSE, 0, 9, new Uint8Array([0x80]));
  t.notOk(writer.endData(9), 'not DATA');
  turn.run();
  t.same(decode(0), [
    [FrameType.DATA, Flags.END_STREAM, 1, 3],
    [FrameType.DATA, Flags.END_STREAM, 3, 64 * 1024],
    [FrameType.DATA, 0, 5, 1],
    [FrameType.CREDIT, 0, 7, 4],
    [FrameType.RESPONSE, 0, 9, 1],
  ]);
  writer.frame(FrameType.DATA, 0, 11, new Uint8Array([1]));
  turn.run();
  t.notOk(writer.endData(11), 'already flushed: too late to change');
});

t.test('the block is written again from its start once the socket holds none of it, and only then', async (t) => {
  const sink = new Sink();
  const turn = manual();
  const writer = new FrameWriter(sink, turn.defer);
  const at = (i: number) => sink.flushes[i]![0]!;
  writer.frame(FrameType.DATA, 0, 1, new Uint8Array([1, 2, 3]));
  turn.run();
  writer.frame(FrameType.DATA, 0, 1, new Uint8Array([4, 5, 6]));
  turn.run();
  t.equal(at(1).buffer, at(0).buffer, 'the same block');
  t.equal(at(1).byteOffset, at(0).byteOffset, 'from the same place: the socket took the first turn whole');

  sink.lag = 12; // the reader lags: the socket keeps the second turn's view
  writer.frame(FrameType.DATA, 0, 1, new Uint8Array([7, 8, 9]));
  turn.run();
  const held = Uint8Array.from(at(2));
  writer.frame(FrameType.DATA, 0, 1, new Uint8Array([10, 11, 12]));
  turn.run();
  t.same(Uint8Array.from(at(2)), held, 'what the socket holds is not overwritten');
  t.ok(at(3).byteOffset >= at(2).byteOffset + at(2).length || at(3).buffer !== at(2).buffer, 'the next turn writes after it');

  sink.lag = 0;
  writer.frame(FrameType.DATA, 0, 1, new Uint8Array([13]));
  turn.run();
  writer.frame(FrameType.DATA, 0, 1, new Uint8Array([14]));
  turn.run();
  t.ok(at(4).byteOffset > at(0).byteOffset, 'the turn the socket catches up in still writes after what it held');
  t.equal(at(5).byteOffset, at(0).byteOffset, 'the turn after it: from the start again');
  t.same(new FrameDecoder().push(Buffer.concat(sink.flushes[5]!)).map((f) => [...f.payload]), [[14]]);
});

t.test('a turn that fills more than one block keeps them, and the next turns write them again', async (t) => {
  const sink = new Sink();
  const turn = manual();
  const writer = new FrameWriter(sink, turn.defer);
  const frame = new Uint8Array(15 * 1024); // copied: under the 16 KiB copy limit; 4 to a 64 KiB block
  const blocksOf = (i: number) => [...new Set(sink.flushes[i]!.map((view) => view.buffer))];
  const writeTurn = (frames: number) => {
    for (let i = 0; i < frames; i++) writer.frame(FrameType.DATA, 0, 1, frame.fill(i));
    turn.run();
  };
  writeTurn(10);
  const first = blocksOf(0);
  t.equal(first.length, 3, '10 frames of 15 KiB: three blocks');
  writeTurn(10);
  const same = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  t.ok(same(blocksOf(1), first), 'the next turn writes the same three again, in order');
  t.equal(sink.flushes[1]![0]!.byteOffset, 0, 'from the first one\'s start');
  t.same(new FrameDecoder(1 << 20).push(Buffer.concat(sink.flushes[1]!)).map((f) => f.payload[0]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'each frame intact');

  writeTurn(24); // six blocks: four kept, two of the turn's own
  const big = blocksOf(2);
  t.equal(big.length, 6);
  t.ok(same(big.slice(0, 3), first), 'the kept ones first');
  writeTurn(24);
  const again = blocksOf(3);
  t.ok(same(again.slice(0, 4), big.slice(0, 4)), 'four blocks are kept');
  t.notOk(again.slice(4).some((b) => big.includes(b)), 'the turn\'s extra blocks are not');
});

t.test('while the socket holds part of the blocks, a turn goes on to the kept blocks after them, never back', async (t) => {
  const sink = new Sink();
  const turn = manual();
  const writer = new FrameWriter(sink, turn.defer);
  const frame = new Uint8Array(15 * 1024);
  for (let i = 0; i < 6; i++) writer.frame(FrameType.DATA, 0, 1, frame);
  turn.run(); // two blocks, both kept
  const [a, b] = [sink.flushes[0]![0]!.buffer, sink.flushes[0]![5]!.buffer];
  t.not(a, b);
  writer.frame(FrameType.DATA, 0, 1, frame.fill(1));
  sink.lag = 100; // the reader lags: the socket still holds this turn's frame, in block a
  turn.run();
  t.equal(sink.flushes[1]![0]!.buffer, a, 'a turn starts in the first kept block');
  const held = Uint8Array.from(sink.flushes[1]![0]!);
  for (let i = 0; i < 6; i++) writer.frame(FrameType.DATA, 0, 1, frame.fill(2));
  turn.run();
  t.same(Uint8Array.from(sink.flushes[1]![0]!), held, 'what the socket holds is not overwritten');
  t.ok(sink.flushes[2]!.some((view) => view.buffer === b), 'the next kept block is written');
  t.ok(sink.flushes[2]!.slice(3).every((view) => view.buffer !== a), 'and never the first again while the socket may hold it');

  sink.lag = 0; // the reader caught up during the last turn
  writer.frame(FrameType.DATA, 0, 1, frame);
  turn.run();
  writer.frame(FrameType.DATA, 0, 1, frame);
  turn.run();
  t.equal(sink.flushes[4]![0]!.buffer, a, 'caught up: back to the first kept block');
  t.equal(sink.flushes[4]![0]!.byteOffset, 0, 'from its start');
});

t.test('a frame after end() is dropped: the socket can take nothing more', async (t) => {
  const sink = new Sink();
  const turn = manual();
  const writer = new FrameWriter(sink, turn.defer);
  writer.frame(FrameType.DATA, 0, 1, new Uint8Array([1]));
  turn.run();
  sink.writableEnded = true;
  writer.frame(FrameType.DATA, 0, 1, new Uint8Array([2]));
  writer.credit(1, 10);
  turn.run();
  t.equal(sink.flushes.length, 1, 'only the frame before the end');
  t.equal(sink.corks + sink.pending.length, 0, 'nothing corked or waiting');
});

t.test('a lent payload is copied whatever its size and written at once; roomFor says when a kept block can take it', async (t) => {
  const sink = new Sink();
  const turn = manual();
  const writer = new FrameWriter(sink, turn.defer);
  const read = new Uint8Array(64 * 1024 - HEADER_SIZE).fill(5); // one read of the lane's
  t.ok(writer.roomFor(read.length), 'room before anything is written');
  writer.frame(FrameType.DATA, 0, 1, read, true);
  t.equal(sink.flushes.length, 1, 'written before the turn ends');
  read.fill(6); // the lender reads into its buffer again
  const frames = new FrameDecoder(1 << 20).push(Buffer.concat(sink.flushes[0]!));
  t.same([frames[0]!.payload.length, frames[0]!.payload[0], frames[0]!.payload.at(-1)], [read.length, 5, 5], 'the copy holds the bytes as lent');
  t.equal(sink.flushes[0]![0]!.byteOffset, 0, 'a read of the lane\'s size and its header fill one block');

  // The reader lags: each lent frame stays in the socket, in a kept block of its own.
  sink.lag = 1;
  for (let i = 0; i < 3; i++) {
    t.ok(writer.roomFor(read.length), `room in kept block ${i + 2}`);
    writer.frame(FrameType.DATA, 0, 1, read, true);
  }
  t.notOk(writer.roomFor(read.length), 'all four kept blocks held by the socket: no room');
  t.equal(new Set(sink.flushes.map((f) => f[0]!.buffer)).size, 4, 'four blocks, none written over');
  sink.lag = 0;
  t.ok(writer.roomFor(read.length), 'the socket caught up: room again');
  writer.frame(FrameType.DATA, 0, 1, read, true);
  t.equal(sink.flushes.at(-1)![0]!.buffer, sink.flushes[0]![0]!.buffer, 'from the first block again');
  turn.run();
});
