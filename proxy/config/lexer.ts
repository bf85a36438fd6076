/**
 * Config text → tokens, following nginx's ngx_conf_read_token:
 * - `{`, `}` and `;` are tokens of their own at the start of a token; whitespace separates words.
 * - A bare word ends at whitespace, `;` or `{`. A `}` inside a word is an ordinary character
 *   (`a}` is one word, as in nginx), and so is a `{` right after `$` (`${host}`).
 * - `#` starts a comment only at the start of a token (`a#b` is one word, as in nginx).
 * - A quote starts a quoted word only at the start of a token; the quoted word is one argument
 *   even if empty, may span lines, and must be followed by whitespace, `;`, `{`, `)` or the end
 *   (a `}` glued to it is an error, as in nginx; `)` is allowed for nginx's `if (...)` syntax and
 *   starts the next word).
 * - A backslash takes the next character literally in both forms; `\" \' \\ \n \r \t` are
 *   decoded and any other pair is kept as written (so `\d` survives for later regexes).
 * - `$var` and `${var}` stay in the word text.
 * Lines and columns are 1-based; a column counts UTF-16 code units and a tab as one.
 */
import { ConfigError } from './errors.js';

export type TokenKind = 'word' | '{' | '}' | ';' | 'eof';

export interface Token {
  kind: TokenKind;
  /** Decoded text for words; the punctuation itself otherwise; '' for eof. */
  value: string;
  quoted: boolean;
  line: number;
  column: number;
}

const SPACE = new Set([' ', '\t', '\r', '\n']);
const PUNCTUATION = new Set(['{', '}', ';']);
/** What may follow a closing quote besides whitespace (nginx: no `}`). */
const AFTER_QUOTE = new Set(['{', ';', ')']);
const ESCAPES: Record<string, string> = { '"': '"', "'": "'", '\\': '\\', n: '\n', r: '\r', t: '\t' };

/** Returns every token, always ending with one 'eof' token that carries the end position. */
export function tokenize(text: string, file: string): Token[] {
  const lexer = new Lexer(text, file);
  const tokens: Token[] = [];
  for (;;) {
    const token = lexer.next();
    tokens.push(token);
    if (token.kind === 'eof') return tokens;
  }
}

class Lexer {
  private pos = 0;
  private line = 1;
  private column = 1;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  next(): Token {
    this.skipSpaceAndComments();
    const ch = this.text[this.pos];
    const start = { line: this.line, column: this.column };
    if (ch === undefined) return { kind: 'eof', value: '', quoted: false, ...start };
    if (PUNCTUATION.has(ch)) {
      this.advance();
      return { kind: ch as TokenKind, value: ch, quoted: false, ...start };
    }
    if (ch === '"' || ch === "'") return { kind: 'word', value: this.quoted(ch), quoted: true, ...start };
    return { kind: 'word', value: this.word(), quoted: false, ...start };
  }

  private skipSpaceAndComments(): void {
    for (;;) {
      const ch = this.text[this.pos];
      if (ch !== undefined && SPACE.has(ch)) this.advance();
      else if (ch === '#') while (this.pos < this.text.length && this.text[this.pos] !== '\n') this.advance();
      else return;
    }
  }

  private word(): string {
    let value = '';
    let variable = false; // just after `$` (or `${`): a `{` here belongs to the word
    for (;;) {
      const ch = this.text[this.pos];
      if (ch === undefined || SPACE.has(ch) || ch === ';') return value;
      if (ch === '{' && !variable) return value;
      if (ch === '\\' && this.pos + 1 < this.text.length) {
        value += this.escape();
        variable = false;
        continue;
      }
      if (ch !== '{') variable = ch === '$';
      value += ch;
      this.advance();
    }
  }

  private quoted(quote: string): string {
    const start = { file: this.file, line: this.line, column: this.column };
    this.advance();
    let value = '';
    for (;;) {
      const ch = this.text[this.pos];
      if (ch === undefined || (ch === '\\' && this.pos + 1 >= this.text.length)) {
        throw new ConfigError('E_UNTERMINATED_QUOTE', 'unterminated quoted string', start);
      }
      if (ch === quote) break;
      if (ch === '\\') value += this.escape();
      else {
        value += ch;
        this.advance();
      }
    }
    this.advance();
    this.expectSeparator();
    return value;
  }

  /** Consumes a backslash and the character after it; returns the decoded text. */
  private escape(): string {
    const next = this.text[this.pos + 1] as string;
    this.advance();
    this.advance();
    return ESCAPES[next] ?? `\\${next}`;
  }

  private expectSeparator(): void {
    const ch = this.text[this.pos];
    if (ch === undefined || SPACE.has(ch) || AFTER_QUOTE.has(ch)) return;
    const at = { file: this.file, line: this.line, column: this.column };
    throw new ConfigError('E_UNEXPECTED_TOKEN', `unexpected "${ch}"`, at);
  }

  private advance(): void {
    if (this.text[this.pos] === '\n') {
      this.line++;
      this.column = 1;
    } else {
      this.column++;
    }
    this.pos++;
  }
}
