/**
 * nginx's measurement units (https://nginx.org/en/docs/syntax.html).
 * Sizes: bytes, or one suffix k/K, m/M, g/G; digits only, as nginx (no "1.5m").
 * Times: components from most to least significant (y M w d h m s ms), each at most once,
 * optionally separated by spaces ("1h 30m", "1m30s"); a number without a suffix is seconds.
 * A time may not exceed MAX_TIME_MS (about 24.8 days): Node's timers overflow beyond it and
 * would fire at once.
 */
import { ConfigError, type ValueSite } from './errors.js';

/** The longest delay a Node timer takes (2^31 - 1 ms); longer ones fire after 1 ms. */
export const MAX_TIME_MS = 2_147_483_647;

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

const SECOND = 1000;
/** Most significant first: a value's components must follow this order. */
const TIME_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['y', 365 * 24 * 3600 * SECOND],
  ['M', 30 * 24 * 3600 * SECOND],
  ['w', 7 * 24 * 3600 * SECOND],
  ['d', 24 * 3600 * SECOND],
  ['h', 3600 * SECOND],
  ['m', 60 * SECOND],
  ['s', SECOND],
  ['ms', 1],
];

/** Returns the size in bytes. */
export function parseSize(text: string, at: ValueSite): number {
  const match = /^(\d+)([kKmMgG]?)$/.exec(text);
  const bytes = match ? Number(match[1]) * (SIZE_UNITS[(match[2] as string).toLowerCase()] as number) : NaN;
  if (!Number.isSafeInteger(bytes)) {
    throw new ConfigError('E_INVALID_SIZE', `invalid size "${text}" in "${at.directive}"`, at);
  }
  return bytes;
}

/** Returns the time in milliseconds. */
export function parseTime(text: string, at: ValueSite): number {
  const total = sumTime(text);
  if (total === undefined) throw new ConfigError('E_INVALID_TIME', `invalid time "${text}" in "${at.directive}"`, at);
  if (total > MAX_TIME_MS) {
    throw new ConfigError('E_INVALID_TIME', `time "${text}" in "${at.directive}" is too long (at most 24d20h31m23s647ms)`, at);
  }
  return total;
}

function sumTime(text: string): number | undefined {
  const parts = [...text.matchAll(/\s*(\d+)(ms|[yMwdhms]?)\s*/gy)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) return undefined;
  let total = 0;
  let next = 0; // index in TIME_UNITS the next component may use, to enforce the order
  for (const [, digits, suffix] of parts) {
    const index = TIME_UNITS.findIndex(([unit]) => unit === (suffix || 's'));
    if (index < next) return undefined;
    next = index + 1;
    total += Number(digits) * (TIME_UNITS[index] as readonly [string, number])[1];
  }
  return total;
}
