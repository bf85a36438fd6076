import t from 'tap';
import { RegexError } from '../../../proxy/config/errors.js';
import { compileRegex } from '../../../proxy/config/regex.js';

t.test('what PCRE and JavaScript agree on compiles', async (t) => {
  const good: Array<[source: string, caseless: boolean, matches: string[], misses: string[]]> = [
    ['^/api/v\\d+/', false, ['/api/v12/x'], ['/api/v/x', '/API/v1/']],
    ['\\.(gif|jpe?g)$', true, ['/a.GIF', '/b.jpeg'], ['/c.png']],
    ['^/(?<user>[^/]+)/?$', false, ['/bob', '/bob/'], ['/bob/x']],
    ['^/a{2,3}$', false, ['/aa', '/aaa'], ['/a', '/aaaa']],
    ['^/\\w+\\s?\\b', false, ['/word'], ['/!']],
    ['^/[^/]+?x', false, ['/abx'], ['/x']],
    ['^/\\x41$', false, ['/A'], ['/B']],
    ['', false, ['/anything'], []],
  ];
  for (const [source, caseless, matches, misses] of good) {
    const regex = compileRegex(source, caseless);
    for (const path of matches) t.ok(regex.test(path), `${source} ~ ${path}`);
    for (const path of misses) t.notOk(regex.test(path), `${source} !~ ${path}`);
    t.equal(regex.flags, caseless ? 'i' : '', 'no g/y flag: test() keeps no state');
  }
});

t.test('PCRE-only syntax is refused, never misread', async (t) => {
  for (const source of ['\\A/x', '/x\\z', '/x\\Z', '\\G', '\\Q.\\E', '\\h', '\\v', '\\R', '\\K', '\\X', '\\p{L}', '\\P{L}', '\\x{41}', '\\e', '\\g1', '\\o{101}', '\\N', '\\C', '\\H', '\\V', '\\a']) {
    t.throws(() => compileRegex(source, false), { name: 'RegexError', message: /is PCRE syntax/ }, source);
  }
  for (const source of ['(?i)a', '(?>a)', '(?P<n>a)', 'a++', '(a', '[a', '*a', 'a{1}{2}']) {
    t.throws(() => compileRegex(source, false), RegexError, source);
  }
  t.doesNotThrow(() => compileRegex('\\\\A', false), 'an escaped backslash before A is fine');
});
