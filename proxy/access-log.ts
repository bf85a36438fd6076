import pino, { type Logger } from 'pino';

/** What one access line says about a request (the fields of nginx's combined format that matter here). */
export interface Access {
  reqId: string;
  method: string;
  uri: string;
  status: number;
  /** Body bytes sent to the client ($body_bytes_sent). */
  bytes: number;
  /** Milliseconds from the request's arrival to its end, to the microsecond, as a JSON number (elapsedMs). */
  ms: string;
  /** The runner that answered, or '-' when the proxy answered itself. */
  upstream: string;
  /** The client left before the response was all written. */
  aborted?: boolean;
  /** Why the proxy failed the request (errors.ts), when it did. */
  code?: string;
}

const { chindingsSym, streamSym } = pino.symbols;

/** pino's level number for `info`, which access lines are logged at. */
const INFO = 30;

/**
 * Logs one access line through `log`: the same line `log.info(access, 'access')` writes, built
 * in one template instead. pino's generic serializer walks the object's keys, tests each value's
 * type and escapes each string; at hello c=50 that was 4 % of the proxy's CPU (PROFILE.md, item
 * 31), the line's making costing more than its writing. Here the keys are fixed and only the
 * strings a client or an operator chose are escaped. The line goes to pino's own destination, so
 * it keeps its place among the logger's other lines and its bound (log.ts).
 *
 * Only for loggers with pino's default formatters, time and message key (log.ts makes them so):
 * the line is pino's default layout, `{"level":30,"time":…,<bindings>,<fields>,"msg":"access"}`.
 */
export function logAccess(log: Logger, access: Access): void {
  if (!log.isLevelEnabled('info')) return;
  const bindings = (log as unknown as Record<symbol, string>)[chindingsSym];
  let line = `{"level":${INFO},"time":${timeNow()}${bindings},"reqId":${json(access.reqId)},"method":${json(access.method)},"uri":${json(access.uri)},"status":${access.status},"bytes":${access.bytes},"ms":${access.ms},"upstream":${json(access.upstream)}`;
  if (access.aborted) line += ',"aborted":true';
  if (access.code !== undefined) line += `,"code":${json(access.code)}`;
  (log as unknown as Record<symbol, { write(line: string): void }>)[streamSym]!.write(`${line},"msg":"access"}\n`);
}

/** What JSON must escape in a string: quote, backslash, control characters, and surrogates (a lone one is escaped). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * A string as JSON. Most of an access line's strings need no escaping, and testing for that is
 * ~6× cheaper than JSON.stringify, which V8 runs in C++ behind a call out of JavaScript; a URI
 * may hold anything a client sent, and then JSON.stringify escapes it.
 */
function json(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/**
 * Date.now() as text, made once a millisecond: a number past 2^31 is a heap number, which V8
 * turns into text on its slow path. At 20,000 requests a second, twenty lines share each.
 */
let lastNow = 0;
let lastNowText = '0';
function timeNow(): string {
  const now = Date.now();
  if (now !== lastNow) {
    lastNow = now;
    lastNowText = String(now);
  }
  return lastNowText;
}

/**
 * Milliseconds since `started` (a performance.now()) to the microsecond, as text: what
 * `String(Math.round(ms * 1000) / 1000)` prints, made from whole numbers (V8 prints a fraction
 * on its slow path, 0.6 % of the proxy's CPU at hello c=50).
 */
export function elapsedMs(started: number): string {
  return microsAsMillis(Math.round((performance.now() - started) * 1000));
}

/** `us` microseconds as milliseconds in JSON: `String(us / 1000)` for a whole `us` ≥ 0. */
export function microsAsMillis(us: number): string {
  const whole = Math.floor(us / 1000);
  const fraction = us - whole * 1000;
  if (fraction === 0) return `${whole}`;
  const digits = fraction < 10 ? `00${fraction}` : fraction < 100 ? `0${fraction}` : `${fraction}`;
  return `${whole}.${digits.replace(TRAILING_ZEROS, '')}`;
}

const TRAILING_ZEROS = /0+$/;
