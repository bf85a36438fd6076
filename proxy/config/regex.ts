/**
 * Regular expressions in the config (`location ~`, `server_name ~`). nginx's are PCRE; tsgi
 * runs them as JavaScript RegExp (without the `u` flag, so they match the byte strings that
 * request paths and hosts are). The two agree on what configs use: anchors, classes, `\d \w \s
 * \b`, groups, named groups `(?<name>...)`, alternation, greedy and lazy quantifiers.
 * Syntax only PCRE has is refused with a clear error rather than silently misread:
 * JavaScript throws on `(?i)`, `(?>...)`, `(?P<name>...)` or possessive `a++` by itself, but
 * would take `\A`, `\z`, `\h`... for the plain letters, so those are caught here.
 */
import { RegexError } from './errors.js';

/** PCRE escapes that mean something else (a literal letter, mostly) in a JavaScript RegExp. */
const PCRE_ONLY_ESCAPES = new Set(['A', 'z', 'Z', 'G', 'Q', 'E', 'h', 'H', 'v', 'V', 'R', 'K', 'X', 'C', 'N', 'e', 'a', 'g', 'o', 'p', 'P']);

export function compileRegex(source: string, caseless: boolean): RegExp {
  for (let i = 0; i < source.length; i++) {
    if (source[i] !== '\\') continue;
    const next = source[++i];
    if (next !== undefined && (PCRE_ONLY_ESCAPES.has(next) || (next === 'x' && source[i + 1] === '{'))) {
      throw new RegexError(`"\\${next}" is PCRE syntax that tsgi's regular expressions do not support`);
    }
  }
  try {
    return new RegExp(source, caseless ? 'i' : '');
  } catch (error) {
    // V8: "Invalid regular expression: /(a/: Unterminated group" → keep the reason.
    const message = (error as Error).message;
    throw new RegexError(message.slice(message.lastIndexOf(': ') + 2) || message);
  }
}
