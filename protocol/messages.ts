import { pack, unpack } from './codec.js';
import { ErrorCode, ProtocolError } from './errors.js';
import { MAX_FRAME_SIZE_LIMIT, MAX_STREAM_ID, MAX_WINDOW, MIN_FRAME_SIZE } from './frame.js';
import { decodeHeadInOnePass, decodeStringMap, encodeHeadInOnePass, encodeStringMap } from './one-pass.js';

/** The protocol version this implementation speaks. */
export const PROTOCOL_VERSION = 1;

/** Defaults a side announces unless configured otherwise (SPEC.md, "Limits"). */
export const DEFAULTS = {
  maxFrameSize: 64 * 1024,
  initialWindow: 256 * 1024,
  maxStreams: 1024,
  maxEnvironKeys: 512,
} as const;

/** HELLO payload. Unknown keys are ignored so either side can add facts later. */
export interface Hello {
  version: number;
  role: 'proxy' | 'runner';
  /** Largest frame payload the sender of this HELLO accepts. */
  maxFrameSize: number;
  /** Window each new stream starts with, for DATA sent *to* the sender of this HELLO. */
  initialWindow: number;
  /** Runner only: streams it serves at once on this connection. */
  maxStreams?: number;
  /** Runner only: identity, for logs and balancing. */
  pid?: number;
  worker?: number;
  workers?: number;
  app?: string;
  software?: string;
  /** Runner only: it sends ACCEPT before calling the app for each stream (SPEC.md §4). */
  accepts?: boolean;
  /** Runner only: connections per worker the proxy may open when this one's socket is saturated (SPEC.md §3). */
  connections?: number;
}

/** RESPONSE payload. Header values are latin-1 strings (one char per byte). */
export interface ResponseHead {
  status: number;
  reason: string;
  headers: Array<[string, string]>;
}

export interface Cancel {
  code: number;
  reason: string;
}

export interface GoAway {
  lastStream: number;
  code: number;
  reason: string;
}

export type Environ = Record<string, string>;

export function encodeHello(hello: Hello): Uint8Array {
  return pack(hello);
}

export function decodeHello(payload: Uint8Array): Hello {
  const value = asMap(unpack(payload, 'HELLO'), 'HELLO');
  const hello: Hello = {
    version: uint(value.version, 'HELLO.version', 0, 0xffff),
    role: value.role === 'proxy' || value.role === 'runner' ? value.role : fail('HELLO.role must be "proxy" or "runner"'),
    maxFrameSize: uint(value.maxFrameSize, 'HELLO.maxFrameSize', MIN_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT),
    initialWindow: uint(value.initialWindow, 'HELLO.initialWindow', 0, MAX_WINDOW),
  };
  if (value.maxStreams !== undefined) hello.maxStreams = uint(value.maxStreams, 'HELLO.maxStreams', 1, MAX_STREAM_ID);
  if (value.pid !== undefined) hello.pid = uint(value.pid, 'HELLO.pid', 0, MAX_STREAM_ID);
  if (value.worker !== undefined) hello.worker = uint(value.worker, 'HELLO.worker', 0, 0xffff);
  if (value.workers !== undefined) hello.workers = uint(value.workers, 'HELLO.workers', 0, 0xffff);
  if (typeof value.app === 'string') hello.app = value.app;
  if (typeof value.software === 'string') hello.software = value.software;
  if (value.accepts === true) hello.accepts = true;
  if (value.connections !== undefined) hello.connections = uint(value.connections, 'HELLO.connections', 1, 0xffff);
  return hello;
}

export function encodeEnviron(environ: Environ): Uint8Array {
  return encodeStringMap(environ) ?? pack(environ);
}

/**
 * The bounds of one environ (SPEC.md, "Limits"): at most `maxKeys` keys, and its encoding fits
 * one frame of the receiver. Null when it is within them, else why not. The proxy asks before
 * it sends (and answers 431 itself); the runner's decoder enforces the key count and cancels
 * with LIMIT_EXCEEDED, which the proxy answers with the same 431.
 */
export function environOverLimit(keys: number, bytes: number, maxFrameSize: number, maxKeys: number = DEFAULTS.maxEnvironKeys): string | null {
  if (keys > maxKeys) return `environ has more than ${maxKeys} keys`;
  if (bytes > maxFrameSize) return `environ of ${bytes} bytes exceeds the runner's maxFrameSize ${maxFrameSize}`;
  return null;
}

/** REQUEST payload: a map of string keys to string values, bounded in key count. */
export function decodeEnviron(payload: Uint8Array, stream: number, maxKeys: number = DEFAULTS.maxEnvironKeys): Environ {
  const value = decodeStringMap(payload, maxKeys) ?? checkedEnviron(payload, stream, maxKeys);
  if (typeof value.REQUEST_METHOD !== 'string' || typeof value.PATH_INFO !== 'string') {
    throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'environ lacks REQUEST_METHOD or PATH_INFO', stream);
  }
  return value as Environ;
}

/** An environ the one-pass decoder did not take (one-pass.ts): decoded by the general path, every value checked. */
function checkedEnviron(payload: Uint8Array, stream: number, maxKeys: number): Record<string, unknown> {
  const value = asMap(unpack(payload, 'REQUEST', stream), 'REQUEST', stream);
  let count = 0;
  for (const key in value) {
    // The frame fitted already: only the key count can be over.
    const over = ++count > maxKeys ? environOverLimit(count, payload.length, Infinity, maxKeys) : null;
    if (over) throw new ProtocolError(ErrorCode.LIMIT_EXCEEDED, over, stream);
    if (typeof value[key] !== 'string') {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `environ value of ${JSON.stringify(key)} is not a string`, stream);
    }
  }
  return value;
}

export function encodeResponseHead(head: ResponseHead): Uint8Array {
  return encodeHeadInOnePass(head.status, head.reason, head.headers) ?? pack(head);
}

/** RESPONSE payload: shape only. Whether the headers are safe for HTTP is the proxy's rule. */
export function decodeResponseHead(payload: Uint8Array, stream: number): ResponseHead {
  return decodeHeadInOnePass(payload) ?? checkedResponseHead(payload, stream);
}

/** A head the one-pass decoder did not take (one-pass.ts): decoded by the general path, its shape checked. */
function checkedResponseHead(payload: Uint8Array, stream: number): ResponseHead {
  const value = asMap(unpack(payload, 'RESPONSE', stream), 'RESPONSE', stream);
  const status = uint(value.status, 'RESPONSE.status', 0, 999, stream);
  const reason = typeof value.reason === 'string' ? value.reason : '';
  const headers = value.headers;
  if (!Array.isArray(headers)) fail('RESPONSE.headers must be an array', stream);
  for (const pair of headers) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      fail('RESPONSE.headers must hold [name, value] string pairs', stream);
    }
  }
  return { status, reason, headers: headers as Array<[string, string]> };
}

export function encodeCancel(cancel: Cancel): Uint8Array {
  return pack(cancel);
}

export function decodeCancel(payload: Uint8Array, stream: number): Cancel {
  const value = asMap(unpack(payload, 'CANCEL', stream), 'CANCEL', stream);
  return {
    code: uint(value.code, 'CANCEL.code', 0, MAX_STREAM_ID, stream),
    reason: typeof value.reason === 'string' ? value.reason : '',
  };
}

export function encodeGoAway(goaway: GoAway): Uint8Array {
  return pack(goaway);
}

export function decodeGoAway(payload: Uint8Array): GoAway {
  const value = asMap(unpack(payload, 'GOAWAY'), 'GOAWAY');
  return {
    lastStream: uint(value.lastStream, 'GOAWAY.lastStream', 0, MAX_STREAM_ID),
    code: uint(value.code, 'GOAWAY.code', 0, MAX_STREAM_ID),
    reason: typeof value.reason === 'string' ? value.reason : '',
  };
}

type Map = Record<string, unknown>;

function asMap(value: unknown, what: string, stream = 0): Map {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    fail(`${what} payload must be a map`, stream);
  }
  return value as Map;
}

function uint(value: unknown, what: string, min: number, max: number, stream = 0): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(`${what} must be an integer in ${min}..${max}`, stream);
  }
  return value;
}

function fail(message: string, stream = 0): never {
  throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, message, stream);
}
