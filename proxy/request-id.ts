import { randomBytes } from 'node:crypto';

/** Request ids like nginx's $request_id: 32 hex digits, cheap to make (from a pooled buffer). */
let idPool = Buffer.alloc(0);
let idOffset = 0;
export function requestId(): string {
  if (idOffset + 16 > idPool.length) {
    idPool = randomBytes(16 * 256);
    idOffset = 0;
  }
  idOffset += 16;
  return idPool.toString('hex', idOffset - 16, idOffset);
}
