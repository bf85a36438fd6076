/**
 * A tiny seeded PRNG (mulberry32) for the split and fuzz tests. Each run draws a fresh seed
 * and prints it; TSGI_SEED=<n> replays a run exactly.
 */
export type Random = () => number;

export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 0x100000000;
  };
}

export function seed(): number {
  const fixed = process.env.TSGI_SEED;
  return fixed === undefined ? (Date.now() ^ (process.pid << 16)) >>> 0 : Number(fixed) >>> 0;
}

/** An integer in [min, max]. */
export const int = (random: Random, min: number, max: number): number => min + Math.floor(random() * (max - min + 1));

export function randomBytes(random: Random, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/**
 * Cuts `bytes` into fresh copies (never views, so the decoder cannot see past a piece) of
 * random sizes, from single bytes to whole frames, with the odd empty piece.
 */
export function randomSplit(random: Random, bytes: Uint8Array, maxPiece: number): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const scale = random();
    const size = scale < 0.05 ? 0 : scale < 0.4 ? int(random, 1, 16) : int(random, 1, maxPiece);
    pieces.push(copy(bytes, at, at + size));
    at += size;
  }
  return pieces;
}

/** A copy of bytes[start, end) in a new buffer (Buffer#slice would be a view). */
export function copy(bytes: Uint8Array, start: number, end: number = bytes.length): Uint8Array {
  return new Uint8Array(bytes.subarray(start, end));
}
