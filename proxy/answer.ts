import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { elapsedMs, logAccess } from './access-log.js';
import { closesConnection, errorBody, type HttpErrorKind } from './errors.js';
import { closeAfterAnswer, type LingerBounds } from './linger.js';

/**
 * An answer the proxy gives itself before any upstream is involved (400, 404, 503...), with
 * its two log lines: the reason (warn for a client's mistake, error for ours) and the access line.
 * After the statuses that end the connection, the rest of the body is read within `lingering`
 * (linger.ts); llhttp may still fail on it (a body it cannot frame): that is the same refusal,
 * logged once, here.
 */
export function answer(log: Logger, res: ServerResponse, reqId: string, kind: HttpErrorKind, reason: string, started: number, lingering: LingerBounds): void {
  log[kind.status < 500 ? 'warn' : 'error']({ reqId, code: kind.code, status: kind.status, reason }, 'request failed');
  const body = errorBody(kind);
  if (closesConnection(kind)) closeAfterAnswer(res.req, res, lingering);
  res.writeHead(kind.status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
  logAccess(log, { reqId, method: res.req.method ?? '-', uri: res.req.url ?? '-', status: kind.status, bytes: 0, ms: elapsedMs(started), upstream: '-', code: kind.code });
}
