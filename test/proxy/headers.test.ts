import t from 'tap';
import {
  HOP_BY_HOP,
  connectionTokens,
  isFieldValue,
  isHopByHop,
  isToken,
  parseContentLength,
} from '../../proxy/headers.js';

type H = [string, string][];

t.test('HOP_BY_HOP', async (t) => {
  t.strictSame(
    [...HOP_BY_HOP].sort(),
    ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'],
  );
});

t.test('connectionTokens', async (t) => {
  const cases: [string, string[]][] = [
    ['close', ['close']],
    ['Keep-Alive, X-Foo', ['keep-alive', 'x-foo']],
    [' , ,x-a ,\tX-B\t, ', ['x-a', 'x-b']],
    ['', []],
  ];
  for (const [value, want] of cases) t.strictSame(connectionTokens(value), want, JSON.stringify(value));
});

t.test('isHopByHop', async (t) => {
  const options = new Set(['x-foo', 'content-length', 'host']);
  const cases: [string, ReadonlySet<string> | null, boolean][] = [
    ['transfer-encoding', null, true],
    ['te', null, true],
    ['x-foo', null, false],
    ['x-foo', options, true],
    ['x-bar', options, false],
    ['content-length', options, false], // framing: a Connection token cannot remove it
    ['host', options, false],
  ];
  for (const [name, opts, want] of cases) t.equal(isHopByHop(name, opts), want, `${name} with ${opts ? [...opts] : 'none'}`);
});

t.test('isToken', async (t) => {
  const cases: [string, boolean][] = [
    ['Content-Type', true],
    ["!#$%&'*+-.^_`|~09azAZ", true],
    ['', false],
    ['Bad Name', false],
    ['Bad:Name', false],
    ['Bad\tName', false],
    ['(x)', false],
    ['caf\u00e9', false],
    ['x\u0000', false],
  ];
  for (const [s, want] of cases) t.equal(isToken(s), want, JSON.stringify(s));
});

t.test('isFieldValue', async (t) => {
  const cases: [string, boolean][] = [
    ['', true],
    ['text/html; charset=utf-8', true],
    ['a\tb', true],
    ['caf\u00c3\u00a9 \u0080\u00ff', true], // obs-text
    ['a\rb', false],
    ['a\nb', false],
    ['a\u0000b', false],
    ['a\u0001b', false],
    ['a\u001fb', false],
    ['a\u007fb', false],
    ['\u20ac', false], // not a byte
  ];
  for (const [s, want] of cases) t.equal(isFieldValue(s), want, JSON.stringify(s));
});

t.test('parseContentLength', async (t) => {
  const cases: [string[], number | null][] = [
    [[], null],
    [['0'], 0],
    [['42'], 42],
    [['007'], 7],
    [[' 42 '], 42],
    [['42', '42'], 42],
    [['42, 42'], 42],
    [['9007199254740991'], 9007199254740991],
    [['9007199254740992'], -1],
    [['99999999999999999999999'], -1],
    [['42', '43'], -1],
    [['42, 43'], -1],
    [['-1'], -1],
    [['+1'], -1],
    [['1.0'], -1],
    [['0x10'], -1],
    [[''], -1],
    [['42,'], -1],
    [['4 2'], -1],
  ];
  for (const [values, want] of cases) t.equal(parseContentLength(values), want, JSON.stringify(values));
});
