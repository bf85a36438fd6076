import t from 'tap';
import { connectionTokens, namedByConnection, parseContentLength } from '../../proxy/headers.js';


t.test('connectionTokens', async (t) => {
  const cases: [string, string[]][] = [
    ['close', ['close']],
    ['Keep-Alive, X-Foo', ['keep-alive', 'x-foo']],
    [' , ,x-a ,\tX-B\t, ', ['x-a', 'x-b']],
    ['', []],
  ];
  for (const [value, want] of cases) t.strictSame(connectionTokens(value), want, JSON.stringify(value));
});

t.test('namedByConnection', async (t) => {
  const options = new Set(['x-foo', 'content-length', 'host']);
  const cases: [string, boolean][] = [
    ['x-foo', true],
    ['x-bar', false],
    ['content-length', false], // framing: a Connection token cannot remove it
    ['host', false],
  ];
  for (const [name, want] of cases) t.equal(namedByConnection(name, options), want, name);
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
