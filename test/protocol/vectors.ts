/** Typed access to protocol/vectors/*.json (written by ./make-vectors.ts) for the tests. */
import { readFileSync } from 'node:fs';
import { T, unhex } from './builder.js';
import { source } from '../helpers/root.js';

export interface FrameVector {
  type: string | number;
  flags: number;
  stream: number;
  payload: string;
  value?: unknown;
  canonical?: false;
}

export interface ValidVector {
  name: string;
  description: string;
  hex: string;
  frames: FrameVector[];
}

export interface InvalidVector {
  name: string;
  description: string;
  hex: string;
  maxFrameSize: number;
  error: string;
}

export interface PayloadVector {
  name: string;
  description: string;
  decode: 'hello' | 'environ' | 'responseHead' | 'cancel' | 'goaway';
  stream?: number;
  maxKeys?: number;
  payload: string;
  error: string;
}

function load<V>(name: string): V[] {
  const file = source('protocol/vectors', name);
  return (JSON.parse(readFileSync(file, 'utf8')) as { vectors: V[] }).vectors;
}

export const valid = load<ValidVector>('frames.json');
export const invalid = load<InvalidVector>('invalid.json');
export const payloadsInvalid = load<PayloadVector>('payloads-invalid.json');

/** The numeric type of a vector frame: a name from the builder's table, or the number itself. */
export function typeCode(type: string | number): number {
  if (typeof type === 'number') return type;
  const code = (T as Record<string, number>)[type];
  if (code === undefined) throw new Error(`vector names an unknown type ${type}`);
  return code;
}

/** The frames of a vector as the decoder returns them. */
export function expectedFrames(v: ValidVector): Array<{ type: number; flags: number; stream: number; payload: string }> {
  return v.frames.map((f) => ({ type: typeCode(f.type), flags: f.flags, stream: f.stream, payload: f.payload }));
}

export const bytesOf = (v: { hex: string }): Buffer => unhex(v.hex);
