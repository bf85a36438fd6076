import t from 'tap';
import { ConfigError, type ValueSite } from '../../../proxy/config/errors.js';
import { MAX_TIME_MS, parseSize, parseTime } from '../../../proxy/config/units.js';

const at: ValueSite = { file: 'u.conf', line: 3, column: 7, directive: 'some_directive' };

const K = 1024;
const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

const goodSizes: Array<[string, number]> = [
  ['0', 0],
  ['1', 1],
  ['1024', 1024],
  ['8k', 8 * K],
  ['8K', 8 * K],
  ['1m', K * K],
  ['10M', 10 * K * K],
  ['2g', 2 * K ** 3],
  ['3G', 3 * K ** 3],
  ['007k', 7 * K],
];

const badSizes = ['', 'k', '10q', '1.5m', '-1', ' 1', '1 m', '1kb', '1mm', '0x10', '1e3', '99999999999999999999'];

const goodTimes: Array<[string, number]> = [
  ['0', 0],
  ['30', 30 * S],
  ['500ms', 500],
  ['5s', 5 * S],
  ['2m', 2 * M],
  ['1h', H],
  ['1d', D],
  ['1w', 7 * D],
  ['1m30s', 90 * S],
  ['1h 30m', 90 * M],
  ['1m30', 90 * S], // a trailing bare number is seconds
  ['1s500ms', 1500],
  ['1w 1d 1h 1m 1s 1ms', 7 * D + D + H + M + S + 1],
  // The longest a Node timer takes: 2^31 - 1 ms.
  ['2147483647ms', 2_147_483_647],
  ['24d20h31m23s647ms', 2_147_483_647],
  ['2147483', 2_147_483_000],
];

const badTimes = ['', 's', '5x', '1.5s', '-1s', '1s1m', '1m1m', '30 1m', '1s 2', '1ms5', '1 s', 'ms', '1S', '1H', '99999999999999999999y'];

/** Well formed, but longer than a Node timer can wait (it would fire at once). */
const tooLong = ['2147483648ms', '24d20h31m23s648ms', '25d', '2147484', '1M', '1y', '1y 1M 1w 1d 1h 1m 1s 1ms', '99999999999999999999s'];

t.test('sizes', async (t) => {
  for (const [text, bytes] of goodSizes) t.equal(parseSize(text, at), bytes, text);
  for (const text of badSizes) {
    t.throws(() => parseSize(text, at), { code: 'E_INVALID_SIZE', line: 3, column: 7 }, JSON.stringify(text));
  }
});

t.test('times in milliseconds', async (t) => {
  for (const [text, ms] of goodTimes) t.equal(parseTime(text, at), ms, text);
  for (const text of badTimes) {
    t.throws(() => parseTime(text, at), { code: 'E_INVALID_TIME', line: 3, column: 7 }, JSON.stringify(text));
  }
});

t.test('times a Node timer cannot wait are refused', async (t) => {
  for (const text of tooLong) {
    t.throws(() => parseTime(text, at), { code: 'E_INVALID_TIME', line: 3, column: 7 }, text);
  }
  t.equal(MAX_TIME_MS, 2 ** 31 - 1);
  t.throws(() => parseTime('25d', at), { message: 'u.conf:3:7: time "25d" in "some_directive" is too long (at most 24d20h31m23s647ms)' });
});

t.test('errors name the value and the directive', async (t) => {
  const error = t.throws(() => parseSize('10q', at)) as ConfigError;
  t.equal(error.message, 'u.conf:3:7: invalid size "10q" in "some_directive"');
  t.throws(() => parseTime('5x', at), { message: 'u.conf:3:7: invalid time "5x" in "some_directive"' });
});
