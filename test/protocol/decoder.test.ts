/**
 * FrameDecoder against the vectors, fed in every way a socket could cut them: in one read, at
 * every split point, byte by byte, and at seeded random cuts of a large sequence. Pieces are
 * always pushed one by one (and are fresh copies, so the decoder cannot read past one).
 */
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { FrameDecoder } from '../../protocol/decoder.js';
import { ErrorCode, ProtocolError } from '../../protocol/errors.js';
import type { Frame } from '../../protocol/frame.js';
import { decodeCancel, decodeEnviron, decodeGoAway, decodeHello, decodeResponseHead } from '../../protocol/messages.js';
import * as b from './builder.js';
import { copy, int, mulberry32, randomBytes, randomSplit, seed, type Random } from './random.js';
import { bytesOf, expectedFrames, invalid, valid, type InvalidVector, type ValidVector } from './vectors.js';

interface Seen {
  type: number;
  flags: number;
  stream: number;
  payload: string;
}

const seen = (f: Frame): Seen => ({ type: f.type, flags: f.flags, stream: f.stream, payload: b.hex(f.payload) });

/** Pushes each piece on its own (never joined) and returns every frame, in order. */
function decodePieces(pieces: Uint8Array[], maxFrameSize?: number): { frames: Seen[]; idle: boolean } {
  const decoder = new FrameDecoder(maxFrameSize);
  const frames: Seen[] = [];
  for (const piece of pieces) for (const f of decoder.push(piece)) frames.push(seen(f));
  return { frames, idle: decoder.idle };
}

const cutAt = (bytes: Uint8Array, ...cuts: number[]): Uint8Array[] =>
  [0, ...cuts, bytes.length].slice(1).map((end, i, ends) => copy(bytes, i === 0 ? 0 : ends[i - 1]!, end));

const byteByByte = (bytes: Uint8Array): Uint8Array[] => Array.from(bytes, (_, i) => copy(bytes, i, i + 1));

const RUN_SEED = seed();
t.comment(`seed ${RUN_SEED} (replay with TSGI_SEED=${RUN_SEED})`);

// ---------------------------------------------------------------------------------------------
// Valid vectors

const DECODERS: Record<string, (payload: Uint8Array, stream: number) => unknown> = {
  HELLO: (p) => decodeHello(p),
  REQUEST: (p, s) => decodeEnviron(p, s),
  RESPONSE: (p, s) => decodeResponseHead(p, s),
  CANCEL: (p, s) => decodeCancel(p, s),
  GOAWAY: (p) => decodeGoAway(p),
};

/** What is wrong with the frames decoded from one vector (frames, then decoded values); empty when right. */
function frameProblems(v: ValidVector, frames: Frame[]): string[] {
  if (JSON.stringify(frames.map(seen)) !== JSON.stringify(expectedFrames(v))) return [`frames: ${JSON.stringify(frames.map(seen)).slice(0, 200)}`];
  const problems: string[] = [];
  frames.forEach((f, i) => {
    const expected = v.frames[i]!;
    if (expected.value === undefined) return;
    const value = DECODERS[expected.type as string]!(f.payload, f.stream);
    if (!isDeepStrictEqual(value, expected.value)) problems.push(`value of frame ${i}: ${JSON.stringify(value)}`);
  });
  return problems;
}

t.test('every valid vector decodes in one read', async (t) => {
  for (const v of valid) {
    const decoder = new FrameDecoder();
    t.same(frameProblems(v, decoder.push(bytesOf(v))), [], `${v.name}: frames and values`);
    t.ok(decoder.idle, `${v.name}: idle after the last frame`);
  }
});

t.test('every valid vector decodes byte by byte', async (t) => {
  for (const v of valid) {
    const decoder = new FrameDecoder();
    const frames = byteByByte(bytesOf(v)).flatMap((piece) => decoder.push(piece));
    t.same(frameProblems(v, frames), [], `${v.name}: frames and values`);
    t.ok(decoder.idle, `${v.name}: idle after the last frame`);
  }
});

t.test('every valid vector decodes cut in two at every point', async (t) => {
  for (const v of valid) {
    const bytes = bytesOf(v);
    const expected = expectedFrames(v);
    let wrong = 0;
    for (let cut = 0; cut <= bytes.length; cut++) {
      const { frames, idle } = decodePieces(cutAt(bytes, cut));
      if (!idle || JSON.stringify(frames) !== JSON.stringify(expected)) wrong++;
    }
    t.equal(wrong, 0, `${v.name}: ${bytes.length + 1} cuts`);
  }
});

t.test('small vectors decode cut in three at every pair of points', async (t) => {
  for (const v of valid) {
    const bytes = bytesOf(v);
    if (bytes.length > 80) continue;
    const expected = JSON.stringify(expectedFrames(v));
    let wrong = 0;
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) {
        if (JSON.stringify(decodePieces(cutAt(bytes, i, j)).frames) !== expected) wrong++;
      }
    }
    t.equal(wrong, 0, `${v.name}: every pair of cuts`);
  }
});

t.test('idle tells whether a partial frame is held', async (t) => {
  const bytes = b.frame(b.T.DATA, 0, 1, Buffer.from('abcdef'));
  for (let cut = 1; cut < bytes.length; cut++) {
    const decoder = new FrameDecoder();
    t.same(decoder.push(copy(bytes, 0, cut)), [], `nothing before byte ${cut}`);
    t.notOk(decoder.idle, `not idle after ${cut} bytes`);
  }
});

t.test('a payload assembled from pieces does not alias the pieces', async (t) => {
  const bytes = b.frame(b.T.DATA, 0, 1, Buffer.from('0123456789'));
  const pieces = cutAt(bytes, 4, 12, 15);
  const decoder = new FrameDecoder();
  const frames = pieces.flatMap((piece) => decoder.push(piece));
  for (const piece of pieces) piece.fill(0);
  t.equal(Buffer.from(frames[0]!.payload).toString(), '0123456789');
});

t.test('the max frame size is inclusive and can be raised after the handshake', async (t) => {
  const exact = b.frame(b.T.DATA, 0, 1, Buffer.alloc(16384, 0x61));
  t.equal(new FrameDecoder().push(exact)[0]!.payload.length, 16384, '16384 bytes pass the default');
  const bigger = b.frame(b.T.DATA, 0, 1, Buffer.alloc(16385, 0x61));
  t.throws(() => new FrameDecoder().push(bigger), { code: ErrorCode.FRAME_SIZE_ERROR });
  const decoder = new FrameDecoder();
  decoder.setMaxFrameSize(65536);
  t.equal(decoder.push(bigger)[0]!.payload.length, 16385, 'after setMaxFrameSize(65536)');
});

// ---------------------------------------------------------------------------------------------
// A large sequence at random cuts

interface Built {
  bytes: Buffer;
  frames: Array<{ type: number; flags: number; stream: number; payload: Buffer }>;
}

/** About `size` bytes of mostly DATA of random sizes (up to the limit), with the other types among them. */
function largeSequence(random: Random, size: number, maxFrameSize: number): Built {
  const frames: Built['frames'] = [];
  let total = 0;
  let stream = 1;
  while (total < size) {
    const pick = random();
    let f: Built['frames'][number];
    if (pick < 0.8) {
      const length = random() < 0.05 ? int(random, 0, 1) * maxFrameSize : int(random, 0, random() < 0.5 ? 300 : 20000);
      f = { type: b.T.DATA, flags: random() < 0.1 ? b.END_STREAM : 0, stream, payload: randomBytes(random, length) };
    } else if (pick < 0.88) {
      f = { type: b.T.CREDIT, flags: 0, stream, payload: b.u32(int(random, 1, 0x7fffffff)) };
    } else if (pick < 0.93) {
      f = { type: b.T.PING, flags: int(random, 0, 1), stream: 0, payload: randomBytes(random, 8) };
    } else if (pick < 0.97) {
      stream += 2;
      const environ = { REQUEST_METHOD: 'PUT', PATH_INFO: `/upload/${stream}`, CONTENT_LENGTH: String(int(random, 0, 1e6)) };
      f = { type: b.T.REQUEST, flags: 0, stream, payload: b.msgpack(environ) };
    } else {
      f = { type: 0x42, flags: 0, stream: int(random, 0, 10), payload: randomBytes(random, int(random, 0, 100)) };
    }
    frames.push(f);
    total += b.HEADER + f.payload.length;
  }
  return { frames, bytes: Buffer.concat(frames.map((f) => b.frame(f.type, f.flags, f.stream, f.payload))) };
}

/** Index of the first frame that differs from the expected one, or -1. */
function firstDifference(got: Frame[], expected: Built['frames']): number {
  const n = Math.max(got.length, expected.length);
  for (let i = 0; i < n; i++) {
    const g = got[i];
    const e = expected[i];
    if (!g || !e || g.type !== e.type || g.flags !== e.flags || g.stream !== e.stream) return i;
    if (!Buffer.from(g.payload.buffer, g.payload.byteOffset, g.payload.length).equals(e.payload)) return i;
  }
  return -1;
}

t.test('a 1 MiB sequence decodes the same at seeded random cuts', async (t) => {
  const random = mulberry32(RUN_SEED);
  const maxFrameSize = 65536;
  const sequence = largeSequence(random, 1024 * 1024, maxFrameSize);
  t.comment(`${sequence.frames.length} frames, ${sequence.bytes.length} bytes`);
  for (const maxPiece of [64, 4096, 70000, 300000]) {
    for (let round = 0; round < 2; round++) {
      const pieces = randomSplit(random, sequence.bytes, maxPiece);
      const decoder = new FrameDecoder(maxFrameSize);
      const frames: Frame[] = [];
      for (const piece of pieces) for (const f of decoder.push(piece)) frames.push(f);
      t.equal(firstDifference(frames, sequence.frames), -1, `${pieces.length} pieces of up to ${maxPiece} bytes`);
      t.ok(decoder.idle);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Invalid vectors

/** Start of the last frame header: in every invalid vector, the header that breaks a rule. */
function lastHeaderAt(bytes: Uint8Array): number {
  let at = 0;
  for (;;) {
    const next = at + b.HEADER + Buffer.from(bytes.subarray(at, at + 4)).readUInt32BE(0);
    if (next >= bytes.length) return at;
    at = next;
  }
}

/** Pushes the pieces in turn; returns what is wrong unless piece `failAt` throws the vector's error. */
function failureProblem(v: InvalidVector, pieces: Uint8Array[], failAt: number, how: string): string | null {
  const decoder = new FrameDecoder(v.maxFrameSize);
  let failure: unknown = null;
  let failedPiece = -1;
  for (let i = 0; i < pieces.length && failure === null; i++) {
    try {
      decoder.push(pieces[i]!);
    } catch (err) {
      failure = err;
      failedPiece = i;
    }
  }
  const ok =
    failure instanceof ProtocolError &&
    failure.code === ErrorCode[v.error as keyof typeof ErrorCode] &&
    failure.stream === 0 &&
    failedPiece === failAt;
  return ok ? null : `${how}: piece ${failedPiece} threw ${String(failure)}, expected ${v.error} at piece ${failAt}`;
}

t.test('every invalid vector fails with its code, and the decoder stays failed', async (t) => {
  for (const v of invalid) {
    const decoder = new FrameDecoder(v.maxFrameSize);
    const error = t.throws(() => decoder.push(bytesOf(v)), { name: 'ProtocolError', code: ErrorCode[v.error as keyof typeof ErrorCode], stream: 0 }, v.name);
    t.ok(error instanceof ProtocolError, `${v.name}: a ProtocolError`);
    let again: unknown;
    try {
      decoder.push(b.frame(b.T.PING, 0, 0, Buffer.alloc(8)));
    } catch (err) {
      again = err;
    }
    t.equal(again, error, `${v.name}: the next push throws the same error`);
    t.throws(() => decoder.push(new Uint8Array(0)), error as Error, `${v.name}: even an empty push`);
  }
});

t.test('invalid vectors fail on the last header byte, however they are cut', async (t) => {
  for (const v of invalid) {
    const bytes = bytesOf(v);
    const failByte = lastHeaderAt(bytes) + b.HEADER - 1;
    const problems = [failureProblem(v, byteByByte(bytes), failByte, 'byte by byte')];
    for (let cut = 0; cut <= bytes.length; cut++) problems.push(failureProblem(v, cutAt(bytes, cut), cut > failByte ? 0 : 1, `cut at ${cut}`));
    t.same(problems.filter(Boolean), [], `${v.name}: fails at byte ${failByte}, cut anywhere`);
  }
});

t.test('an over-long length fails on its 10 header bytes alone', async (t) => {
  const head = b.header(b.T.DATA, 0, 1, 0xffffffff);
  const decoder = new FrameDecoder(16384);
  for (let i = 0; i < b.HEADER - 1; i++) t.same(decoder.push(copy(head, i, i + 1)), [], `header byte ${i} accepted`);
  t.throws(() => decoder.push(copy(head, b.HEADER - 1)), { code: ErrorCode.FRAME_SIZE_ERROR }, 'the 10th byte fails');
  // In a read that also carries (the start of) the payload, the header still decides first.
  t.throws(() => new FrameDecoder(16384).push(Buffer.concat([b.header(b.T.DATA, 0, 1, 16385), Buffer.alloc(16385)])), {
    code: ErrorCode.FRAME_SIZE_ERROR,
  });
});

// ---------------------------------------------------------------------------------------------
// Fuzz

interface Outcome {
  frames: Seen[];
  error: ErrorCode | null;
  idle: boolean;
  /** Anything thrown that is not a ProtocolError. */
  foreign: unknown;
}

function outcome(pieces: Uint8Array[], maxFrameSize: number): Outcome {
  const decoder = new FrameDecoder(maxFrameSize);
  const result: Outcome = { frames: [], error: null, idle: true, foreign: null };
  try {
    for (const piece of pieces) for (const f of decoder.push(piece)) result.frames.push(seen(f));
  } catch (err) {
    if (err instanceof ProtocolError) result.error = err.code;
    else result.foreign = err;
  }
  result.idle = decoder.idle;
  return result;
}

function mutate(random: Random, bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  switch (int(random, 0, 3)) {
    case 0: // flip a few bytes, biased towards the first header
      for (let n = int(random, 1, 4); n > 0; n--) out[int(random, 0, Math.min(out.length - 1, random() < 0.5 ? 9 : out.length - 1))] = int(random, 0, 255);
      return out;
    case 1:
      return out.subarray(0, int(random, 0, out.length));
    case 2:
      return Buffer.concat([out, out.subarray(0, int(random, 0, out.length))]);
    default: {
      const at = int(random, 0, out.length);
      return Buffer.concat([out.subarray(0, at), randomBytes(random, int(random, 1, 12)), out.subarray(at)]);
    }
  }
}

/** Garbage whose headers are often plausible: small lengths, known types, small streams. */
function garbage(random: Random): Buffer {
  if (random() < 0.5) return randomBytes(random, int(random, 0, 300));
  const parts: Buffer[] = [];
  for (let n = int(random, 1, 5); n > 0; n--) {
    const payload = randomBytes(random, int(random, 0, 40));
    parts.push(b.header(int(random, 0, 9), int(random, 0, 255), int(random, 0, 3), random() < 0.9 ? payload.length : int(random, 0, 0xffffffff)), payload);
  }
  return Buffer.concat(parts);
}

t.test('fuzz: garbage and mutated vectors give frames or a ProtocolError, the same at any cut', async (t) => {
  const random = mulberry32(RUN_SEED ^ 0x5eed);
  const small = valid.filter((v) => v.hex.length < 2000).map(bytesOf);
  const problems: string[] = [];
  const tally = { frames: 0, errors: 0 };
  for (let i = 0; i < 2000; i++) {
    const input = random() < 0.5 ? garbage(random) : mutate(random, small[int(random, 0, small.length - 1)]!);
    const maxFrameSize = random() < 0.5 ? 16384 : 65536;
    const whole = outcome([copy(input, 0)], maxFrameSize);
    const split = outcome(randomSplit(random, input, 64), maxFrameSize);
    tally[whole.error === null ? 'frames' : 'errors']++;
    const which = `case ${i} (${input.toString('hex').slice(0, 80)})`;
    if (whole.foreign || split.foreign) problems.push(`${which}: threw ${String(whole.foreign ?? split.foreign)}`);
    else if (whole.error !== split.error) problems.push(`${which}: ${whole.error} in one read, ${split.error} split`);
    else if (whole.error === null && (JSON.stringify(whole.frames) !== JSON.stringify(split.frames) || whole.idle !== split.idle)) {
      problems.push(`${which}: frames differ between one read and split`);
    }
    for (const f of whole.error === null ? whole.frames : []) {
      const decode = DECODERS[b.TYPE_NAMES[f.type] ?? ''];
      if (!decode) continue;
      try {
        decode(b.unhex(f.payload), f.stream);
      } catch (err) {
        if (!(err instanceof ProtocolError)) problems.push(`${which}: payload decoder threw ${String(err)}`);
      }
    }
  }
  t.comment(`${tally.frames} inputs decoded (fully or waiting for more), ${tally.errors} refused`);
  t.same(problems.slice(0, 5), [], `2000 cases, ${problems.length} problems`);
});
