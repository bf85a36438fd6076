import t from 'tap';
import { ConfigError } from '../../../proxy/config/errors.js';
import { tokenize, type Token } from '../../../proxy/config/lexer.js';

/** Compact form: [kind, value, line, column] plus 'q' for quoted words. */
function lex(text: string): Array<[string, string, number, number] | [string, string, number, number, 'q']> {
  return tokenize(text, 'test.conf').map((tok: Token) =>
    tok.quoted ? [tok.kind, tok.value, tok.line, tok.column, 'q'] : [tok.kind, tok.value, tok.line, tok.column],
  );
}

function lexError(text: string): { code: string; line: number; column: number } {
  try {
    tokenize(text, 'test.conf');
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { code: error.code, line: error.line, column: error.column };
  }
  throw new Error(`no error for ${JSON.stringify(text)}`);
}

t.test('every token kind with 1-based positions', async (t) => {
  t.same(lex('server {\n  listen 80;\n}\n'), [
    ['word', 'server', 1, 1],
    ['{', '{', 1, 8],
    ['word', 'listen', 2, 3],
    ['word', '80', 2, 10],
    [';', ';', 2, 12],
    ['}', '}', 3, 1],
    ['eof', '', 4, 1],
  ]);
});

t.test('empty input and whitespace only give just eof', async (t) => {
  t.same(lex(''), [['eof', '', 1, 1]]);
  t.same(lex(' \t\r\n '), [['eof', '', 2, 2]]);
});

t.test('`;` and `{` end a word without spaces; `}` only at the start of a token', async (t) => {
  t.same(lex('a;b{c }d}'), [
    ['word', 'a', 1, 1],
    [';', ';', 1, 2],
    ['word', 'b', 1, 3],
    ['{', '{', 1, 4],
    ['word', 'c', 1, 5],
    ['}', '}', 1, 7],
    ['word', 'd}', 1, 8],
    ['eof', '', 1, 10],
  ]);
  // As in nginx, `a}` is one word: a block closed without a space before "}" is unterminated.
  t.same(lex('x { y a}').map((tok) => tok[1]), ['x', '{', 'y', 'a}', '']);
  t.same(lex('{}').map((tok) => tok[0]), ['{', '}', 'eof']);
});

t.test('comments run to the end of the line, only at the start of a token', async (t) => {
  t.same(lex('# whole line\na; # trailing { } ;\nb#c;'), [
    ['word', 'a', 2, 1],
    [';', ';', 2, 2],
    ['word', 'b#c', 3, 1],
    [';', ';', 3, 4],
    ['eof', '', 3, 5],
  ]);
  t.same(lex('a #no newline at end'), [
    ['word', 'a', 1, 1],
    ['eof', '', 1, 21],
  ]);
});

t.test('quoted words: both quotes, empty, spaces and punctuation inside, spanning lines', async (t) => {
  t.same(lex(`"a b" 'c;d' "" '{}' "x\ny";`), [
    ['word', 'a b', 1, 1, 'q'],
    ['word', 'c;d', 1, 7, 'q'],
    ['word', '', 1, 13, 'q'],
    ['word', '{}', 1, 16, 'q'],
    ['word', 'x\ny', 1, 21, 'q'],
    [';', ';', 2, 3],
    ['eof', '', 2, 4],
  ]);
  t.same(lex(`"it's" 'say "hi"'`).map((tok) => tok[1]), [`it's`, 'say "hi"', '']);
});

t.test('escapes are decoded in quoted and bare words; unknown escapes are kept', async (t) => {
  t.same(lex(String.raw`"a\"b" 'c\'d' "e\\f" "g\nh" "i\tj" "k\rl" "\d"`).map((tok) => tok[1]), [
    'a"b',
    "c'd",
    'e\\f',
    'g\nh',
    'i\tj',
    'k\rl',
    '\\d',
    '',
  ]);
  // A backslash makes the next character literal, so `\;` and `\ ` do not end the word.
  t.same(lex(String.raw`a\;b c\ d;`), [
    ['word', 'a\\;b', 1, 1],
    ['word', 'c\\ d', 1, 6],
    [';', ';', 1, 10],
    ['eof', '', 1, 11],
  ]);
});

t.test('a quote inside a word is an ordinary character', async (t) => {
  t.same(lex(`a"b'c;`).map((tok) => tok[1]), [`a"b'c`, ';', '']);
});

t.test('$variables stay in the word, ${...} braces included', async (t) => {
  t.same(lex('tsgi_param X $host$uri;'), [
    ['word', 'tsgi_param', 1, 1],
    ['word', 'X', 1, 12],
    ['word', '$host$uri', 1, 14],
    [';', ';', 1, 23],
    ['eof', '', 1, 24],
  ]);
  t.same(lex('a ${host}x {').map((tok) => tok[1]), ['a', '${host}x', '{', '']);
  t.same(lex('"$uri${args}"').map((tok) => tok[1]), ['$uri${args}', '']);
});

t.test('a `{` right after `$` belongs to the word, anywhere in it', async (t) => {
  t.same(lex('${a}b $x{ a$${b} "${c}"{').map((tok) => tok[1]), ['${a}b', '$x', '{', 'a$${b}', '${c}', '{', '']);
  t.same(lex('a\\{b {').map((tok) => tok[1]), ['a\\{b', '{', '']);
});

t.test('a `)` may follow a closing quote and starts the next word (nginx\'s `if (...)`)', async (t) => {
  t.same(lex('if ($a = "b") {'), [
    ['word', 'if', 1, 1],
    ['word', '($a', 1, 4],
    ['word', '=', 1, 8],
    ['word', 'b', 1, 10, 'q'],
    ['word', ')', 1, 13],
    ['{', '{', 1, 15],
    ['eof', '', 1, 16],
  ]);
});

t.test('a trailing backslash in a bare word is kept', async (t) => {
  t.same(lex('a\\').map((tok) => tok[1]), ['a\\', '']);
});

t.test('an unterminated quote is reported at the quote', async (t) => {
  t.same(lexError('a "bc'), { code: 'E_UNTERMINATED_QUOTE', line: 1, column: 3 });
  t.same(lexError("x;\n  'bc\n\n"), { code: 'E_UNTERMINATED_QUOTE', line: 2, column: 3 });
  t.same(lexError('"ends with escape\\'), { code: 'E_UNTERMINATED_QUOTE', line: 1, column: 1 });
});

t.test('a character glued to a closing quote is unexpected', async (t) => {
  t.same(lexError('"a"b;'), { code: 'E_UNEXPECTED_TOKEN', line: 1, column: 4 });
  t.same(lexError("x 'a'#c"), { code: 'E_UNEXPECTED_TOKEN', line: 1, column: 6 });
  // nginx: `unexpected "}"` — a quoted word needs a space before the closing brace.
  t.same(lexError('x { y "a"}'), { code: 'E_UNEXPECTED_TOKEN', line: 1, column: 10 });
  t.same(lexError('"a"\'b\''), { code: 'E_UNEXPECTED_TOKEN', line: 1, column: 4 });
});

t.test('the error message carries file:line:column', async (t) => {
  t.throws(() => tokenize('\n  "x', 'conf/proxy.conf'), {
    name: 'ConfigError',
    message: 'conf/proxy.conf:2:3: unterminated quoted string',
    file: 'conf/proxy.conf',
  });
});
