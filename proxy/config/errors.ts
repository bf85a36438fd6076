/**
 * The one catalogue of configuration errors. Callers and tests match `code` and the position,
 * never the message text, which follows nginx's wording so operators recognise it.
 */

/** Every error kind, so tests can check each one has a case. */
export const CONFIG_ERROR_CODES = [
  'E_FILE', // the config file, or a file named by `include`, could not be read
  'E_INCLUDE_CYCLE', // a file includes itself, directly or through others
  'E_UNTERMINATED_QUOTE',
  'E_UNEXPECTED_TOKEN', // a stray "}", ";", "{" or a character glued to a quoted string
  'E_UNEXPECTED_EOF',
  'E_UNKNOWN_DIRECTIVE',
  'E_NOT_ALLOWED_HERE', // a known directive in the wrong block
  'E_ARG_COUNT',
  'E_NO_OPENING_BRACE', // a block directive ended by ";"
  'E_NOT_TERMINATED', // a simple directive followed by a block
  'E_DUPLICATE', // a non-repeatable directive given twice in one block
  'E_INVALID_NUMBER',
  'E_INVALID_SIZE',
  'E_INVALID_TIME',
  'E_INVALID_ADDRESS',
  'E_INVALID_PARAMETER', // an unknown flag or modifier after the main argument
  'E_INVALID_FLAG', // not "on" or "off"
  'E_INVALID_REGEX', // a `~` location or server name that is not a valid regular expression
  'E_INVALID_SERVER_NAME', // a misplaced "*", or an empty name after "." or "~"
  'E_INVALID_RETURN_CODE',
  'E_INVALID_SCRIPT_NAME', // tsgi_script_name neither empty nor starting with "/"
  'E_UNSUPPORTED', // valid nginx, not implemented by tsgi yet
  'E_UNKNOWN_UPSTREAM',
  'E_UNKNOWN_VARIABLE', // a $name in a value that tsgi does not define
  'E_DUPLICATE_UPSTREAM',
  'E_EMPTY_UPSTREAM',
  'E_NO_TSGI_PASS', // a location with neither tsgi_pass nor return
  'E_DUPLICATE_LOCATION',
  'E_LOCATION_NESTING', // a nested location inside an exact one, or outside its parent's prefix
  'E_DUPLICATE_LISTEN',
  'E_DUPLICATE_DEFAULT_SERVER',
] as const;

export type ConfigErrorCode = (typeof CONFIG_ERROR_CODES)[number];

/** A point in a config file; line and column are 1-based, 0 when there is no position. */
export interface Position {
  file: string;
  line: number;
  column: number;
}

/** Where a directive's value was written, so value parsers can name both in their errors. */
export interface ValueSite extends Position {
  directive: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly code: ConfigErrorCode;
  readonly file: string;
  readonly line: number;
  readonly column: number;

  constructor(code: ConfigErrorCode, message: string, at: Position) {
    super(`${formatPosition(at)}: ${message}`);
    this.code = code;
    this.file = at.file;
    this.line = at.line;
    this.column = at.column;
  }
}

function formatPosition(at: Position): string {
  return at.line > 0 ? `${at.file}:${at.line}:${at.column}` : at.file;
}

/**
 * Why one value cannot be used, thrown by the pure parsers outside config/ (regex.ts,
 * ../server-names.ts, ../variables.ts), which know no position: the directive table turns it
 * into a ConfigError with this `code` at the value's position.
 */
export abstract class ValueError extends Error {
  abstract readonly code: ConfigErrorCode;
}

/** A pattern that cannot be compiled (PCRE-only syntax, or invalid as a JavaScript RegExp). */
export class RegexError extends ValueError {
  override readonly name = 'RegexError';
  readonly code = 'E_INVALID_REGEX';
}

/** A server name with a misplaced "*", or empty after "." or "~". */
export class ServerNameError extends ValueError {
  override readonly name = 'ServerNameError';
  readonly code = 'E_INVALID_SERVER_NAME';
}

/** A `$variable` that tsgi does not define, or a `${` without its `}`. */
export class VariableError extends ValueError {
  override readonly name = 'VariableError';
  readonly code = 'E_UNKNOWN_VARIABLE';
}
