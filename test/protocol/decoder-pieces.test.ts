/**
 * FrameDecoder with `dataInPieces`: a DATA frame split across reads comes out in parts, each a
 * view of its read. Joined back (each run of `continued` parts onto its first part), every
 * vector at every cut must give exactly the frames of the assembling decoder; the parts must
 * announce the bytes still to come, and only the last may carry END_STREAM.
 */
import t from 'tap';
import { FrameDecoder } from '../../protocol/decoder.js';
import type { Frame } from '../../protocol/frame.js';
import * as b from './builder.js';
import { copy, mulberry32, randomBytes, randomSplit, seed } from './random.js';
import { bytesOf, expectedFrames, valid } from './vectors.js';

interface Seen {
  type: number;
  flags: number;
  stream: number;
  payload: string;
}

const DATA = b.T.DATA;

/** Joins the parts of each DATA frame, checking what each part says of the rest on the way. */
function joined(parts: Frame[], problems: string[]): Seen[] {
  const frames: Seen[] = [];
  let open: { seen: Seen; rest: number } | null = null;
  for (const f of parts) {
    if (f.continued) {
      if (!open || f.type !== DATA || f.stream !== open.seen.stream) problems.push('a continued part without its first part');
      else {
        if (f.payload.length + (f.rest ?? 0) !== open.rest) problems.push(`part of ${f.payload.length} bytes, ${f.rest} to come, after ${open.rest} announced`);
        open.seen.payload += b.hex(f.payload);
        open.seen.flags = f.flags;
        open.rest = f.rest ?? 0;
      }
    } else {
      if (open && open.rest > 0) problems.push('a new frame before the last part of a DATA frame');
      const seen = { type: f.type, flags: f.flags, stream: f.stream, payload: b.hex(f.payload) };
      frames.push(seen);
      open = f.type === DATA ? { seen, rest: f.rest ?? 0 } : null;
    }
    if ((f.rest ?? 0) > 0 && (f.flags & b.END_STREAM) !== 0) problems.push('END_STREAM on a part that is not the last');
  }
  return frames;
}

function decodeInPieces(pieces: Uint8Array[]): { frames: Seen[]; idle: boolean; problems: string[] } {
  const decoder = new FrameDecoder(16 * 1024 * 1024, { dataInPieces: true });
  const parts = pieces.flatMap((piece) => decoder.push(piece));
  const problems: string[] = [];
  return { frames: joined(parts, problems), idle: decoder.idle, problems };
}

const cutAt = (bytes: Uint8Array, ...cuts: number[]): Uint8Array[] =>
  [0, ...cuts, bytes.length].slice(1).map((end, i, ends) => copy(bytes, i === 0 ? 0 : ends[i - 1]!, end));

t.test('every valid vector cut in two at every point gives the frames of the assembling decoder', async (t) => {
  for (const v of valid) {
    const bytes = bytesOf(v);
    const expected = JSON.stringify(expectedFrames(v));
    let wrong = 0;
    for (let cut = 0; cut <= bytes.length; cut++) {
      const { frames, idle, problems } = decodeInPieces(cutAt(bytes, cut));
      if (!idle || problems.length > 0 || JSON.stringify(frames) !== expected) wrong++;
    }
    t.equal(wrong, 0, `${v.name}: ${bytes.length + 1} cuts`);
  }
});

t.test('DATA frames at seeded random cuts, END_STREAM on the last part only', async (t) => {
  const runSeed = seed();
  const random = mulberry32(runSeed);
  const payloads = [0, 1, 100, 5000, 70000].map((n) => randomBytes(random, n));
  const bytes = Buffer.concat([
    ...payloads.map((p, i) => b.frame(DATA, i === payloads.length - 1 ? b.END_STREAM : 0, 3, p)),
    b.credit(3, 10),
  ]);
  const expected = JSON.stringify([
    ...payloads.map((p, i) => ({ type: DATA, flags: i === payloads.length - 1 ? b.END_STREAM : 0, stream: 3, payload: b.hex(p) })),
    { type: b.T.CREDIT, flags: 0, stream: 3, payload: b.hex(b.u32(10)) },
  ]);
  for (let round = 0; round < 50; round++) {
    const { frames, idle, problems } = decodeInPieces(randomSplit(random, bytes, 9000));
    t.same(problems, [], `seed ${runSeed} round ${round}: parts consistent`);
    t.equal(JSON.stringify(frames), expected, `seed ${runSeed} round ${round}: frames`);
    t.ok(idle, 'idle after the last frame');
  }
});

t.test('a part is a view of its read, and the decoder is not idle inside a frame', async (t) => {
  const bytes = b.frame(DATA, b.END_STREAM, 1, Buffer.from('0123456789'));
  const pieces = cutAt(bytes, 14);
  const decoder = new FrameDecoder(undefined, { dataInPieces: true });
  const first = decoder.push(pieces[0]!);
  t.equal(first.length, 1);
  t.equal(Buffer.from(first[0]!.payload).toString(), '0123');
  t.equal(first[0]!.rest, 6);
  t.equal(first[0]!.flags, 0, 'END_STREAM held back for the last part');
  t.equal(first[0]!.payload.buffer, pieces[0]!.buffer, 'not copied');
  t.notOk(decoder.idle);
  const last = decoder.push(pieces[1]!);
  t.equal(Buffer.from(last[0]!.payload).toString(), '456789');
  t.equal(last[0]!.flags, b.END_STREAM);
  t.ok(last[0]!.continued);
  t.ok(decoder.idle);
});

t.test('frames other than DATA are still assembled whole', async (t) => {
  const bytes = b.frame(b.T.CANCEL, 0, 1, b.msgpack({ code: 0, reason: 'x'.repeat(40) }));
  const decoder = new FrameDecoder(undefined, { dataInPieces: true });
  const frames = cutAt(bytes, 5, 20).flatMap((piece) => decoder.push(piece));
  t.equal(frames.length, 1);
  t.equal(b.hex(frames[0]!.payload), b.hex(bytes.subarray(b.HEADER)));
});
