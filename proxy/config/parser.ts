/**
 * Tokens → a syntax tree of directives. Only the shape is checked here (names, arguments,
 * `;` or a `{ }` block); what a directive means is the directive table's business.
 */
import { ConfigError } from './errors.js';
import { tokenize, type Token } from './lexer.js';

export interface Arg {
  value: string;
  line: number;
  column: number;
  /** Written in quotes: `""` is still an argument, and a quoted `{` is just text. */
  quoted: boolean;
}

export interface Directive {
  name: string;
  args: Arg[];
  /** Present when the directive ended with `{ ... }` rather than `;`. */
  block?: Directive[];
  file: string;
  line: number;
  column: number;
}

export function parseText(text: string, file: string): Directive[] {
  return parse(tokenize(text, file), file);
}

export function parse(tokens: readonly Token[], file: string): Directive[] {
  return new Parser(tokens, file).parseBlock(undefined);
}

class Parser {
  private index = 0;

  constructor(
    private readonly tokens: readonly Token[],
    private readonly file: string,
  ) {}

  /** Reads directives until the `}` closing `opener`, or the end of input at top level. */
  parseBlock(opener: Token | undefined): Directive[] {
    const directives: Directive[] = [];
    for (;;) {
      const token = this.take();
      if (token.kind === 'word') directives.push(this.parseDirective(token));
      else if (token.kind === 'eof' && !opener) return directives;
      else if (token.kind === '}' && opener) return directives;
      else if (token.kind === 'eof') throw this.error(token, 'E_UNEXPECTED_EOF', 'unexpected end of file, expecting "}"');
      else throw this.error(token, 'E_UNEXPECTED_TOKEN', `unexpected "${token.value}"`);
    }
  }

  private parseDirective(name: Token): Directive {
    const directive: Directive = { name: name.value, args: [], file: this.file, line: name.line, column: name.column };
    for (;;) {
      const token = this.take();
      switch (token.kind) {
        case 'word':
          directive.args.push({ value: token.value, line: token.line, column: token.column, quoted: token.quoted });
          break;
        case ';':
          return directive;
        case '{':
          directive.block = this.parseBlock(token);
          return directive;
        case '}':
          throw this.error(token, 'E_UNEXPECTED_TOKEN', 'unexpected "}"');
        case 'eof':
          throw this.error(token, 'E_UNEXPECTED_EOF', 'unexpected end of file, expecting ";" or "}"');
      }
    }
  }

  private take(): Token {
    // tokenize() always ends with 'eof', and nothing reads past it.
    return this.tokens[this.index++] as Token;
  }

  private error(token: Token, code: 'E_UNEXPECTED_EOF' | 'E_UNEXPECTED_TOKEN', message: string): ConfigError {
    return new ConfigError(code, message, { file: this.file, line: token.line, column: token.column });
  }
}
