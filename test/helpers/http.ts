/** A small HTTP client for tests, on node:http, that can stream and read slowly. */
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string | number>;
  body?: Buffer | string | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
  agent?: false;
}

/** Sends a request and collects the whole response (for small bodies). */
export async function fetchBuffer(url: string, options: RequestOptions = {}): Promise<Reply> {
  const res = await send(url, options);
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) };
}

/** Sends a request and returns the response stream as soon as its head arrives. */
export function send(url: string, options: RequestOptions = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers, agent: options.agent }, resolve);
    req.on('error', reject);
    const { body } = options;
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else Readable.from(body).pipe(req);
  });
}

/** Hashes a response body as it streams; optionally stalls before reading and between chunks. */
/**
 * The body's sha256 and length. `stallMs`: read nothing for that long first; `pause`: then stop
 * reading for `ms` after every `everyBytes` (a slow client's rhythm, not a wait for an event).
 */
export async function hashBody(
  res: IncomingMessage,
  options: { stallMs?: number; pause?: { everyBytes: number; ms: number } } = {},
): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  if (options.stallMs) {
    res.pause();
    await new Promise((resolve) => setTimeout(resolve, options.stallMs));
  }
  let nextPause = options.pause?.everyBytes ?? Infinity;
  for await (const chunk of res) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    if (bytes >= nextPause) {
      nextPause = bytes + options.pause!.everyBytes;
      await new Promise((resolve) => setTimeout(resolve, options.pause!.ms));
    }
  }
  return { sha256: hash.digest('hex'), bytes };
}

/**
 * The deterministic byte pattern the fixture app serves and checks: byte j of 64 KiB block i
 * is (i * 31 + j) & 0xff. Test and app compute it independently.
 */
export function* pattern(totalBytes: number, block = 65536): Generator<Buffer> {
  for (let offset = 0, i = 0; offset < totalBytes; offset += block, i++) {
    const size = Math.min(block, totalBytes - offset);
    const buf = Buffer.allocUnsafe(size);
    const start = (i * 31) & 0xff;
    for (let j = 0; j < size; j++) buf[j] = (start + j) & 0xff;
    yield buf;
  }
}

export function patternHash(totalBytes: number): string {
  const hash = createHash('sha256');
  for (const chunk of pattern(totalBytes)) hash.update(chunk);
  return hash.digest('hex');
}
