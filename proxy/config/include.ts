/**
 * `include FILE | MASK;` as nginx does it, with one difference: a relative FILE is taken
 * relative to the directory of the file that contains the `include` (nginx: relative to the
 * main config's directory), so a file and what it includes can move together.
 *
 * - A FILE without `*`, `?` or `[` must exist: a missing one is an error.
 * - A MASK (with any of them, in any part of the path) is a glob: every match, sorted by path,
 *   each parsed as a whole file of its own; a MASK that matches nothing is fine. As in POSIX
 *   glob(3), wildcards do not match a leading `.` of a name.
 * - The directives of an included file take the place of the `include`, in the block that holds
 *   it; each keeps its own file name, so errors name the included file.
 * - A file that includes itself, directly or through others, is an error (nginx would recurse
 *   until it runs out of file descriptors).
 */
import { readdirSync, readFileSync, realpathSync, lstatSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from './errors.js';
import { parseText, type Arg, type Directive } from './parser.js';

export interface IncludedFile {
  file: string;
  /** The path compared to detect cycles (symlinks resolved). */
  canonical: string;
  directives: Directive[];
}

const GLOB_CHARS = /[*?[]/;

/**
 * The files an `include` directive names, parsed. `chain` holds the canonical paths of the
 * files being read, outermost first (the main config, then each including file).
 */
export function includeFiles(directive: Directive, chain: readonly string[]): IncludedFile[] {
  const arg = directive.args[0] as Arg; // the table allows exactly one argument
  const pattern = arg.value;
  const at = { file: directive.file, line: arg.line, column: arg.column };
  const base = dirname(directive.file);
  const files = GLOB_CHARS.test(pattern) ? glob(pattern, base) : [isAbsolute(pattern) ? pattern : join(base, pattern)];
  return files.map((file) => {
    const canonical = canonicalPath(file);
    if (chain.includes(canonical)) {
      throw new ConfigError('E_INCLUDE_CYCLE', `"${file}" includes itself (through ${describeChain(chain, canonical)})`, at);
    }
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code;
      throw new ConfigError('E_FILE', `cannot read included file "${file}" (${reason})`, at);
    }
    return { file, canonical, directives: parseText(text, file) };
  });
}

/** The canonical form of a path: symlinks resolved when it exists, else just absolute. */
export function canonicalPath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return resolve(file);
  }
}

function describeChain(chain: readonly string[], repeated: string): string {
  return [...chain.slice(chain.indexOf(repeated)), repeated].join(' → ');
}

/** POSIX-style glob of `pattern` (relative ones under `base`), sorted by path. */
export function glob(pattern: string, base: string): string[] {
  let paths = [isAbsolute(pattern) ? '/' : base];
  const segments = pattern.split('/').filter((segment) => segment !== '');
  for (const segment of segments) {
    if (!GLOB_CHARS.test(segment)) {
      paths = paths.map((path) => join(path, segment));
      continue;
    }
    const matcher = globSegment(segment);
    paths = paths.flatMap((path) => entries(path).filter(matcher).map((name) => join(path, name)));
  }
  return paths.filter(exists).sort(byPath);
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return []; // not a directory, or unreadable: no matches there, as glob(3) without GLOB_ERR
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function byPath(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One path segment of a glob (`*`, `?`, `[a-z]`, `[!x]`, `\\x`) as a name test. */
export function globSegment(segment: string): (name: string) => boolean {
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const ch = segment[i] as string;
    if (ch === '*') source += '[^]*';
    else if (ch === '?') source += '[^]';
    else if (ch === '[') {
      const end = classEnd(segment, i);
      if (end < 0) source += '\\[';
      else {
        source += bracket(segment.slice(i + 1, end));
        i = end;
      }
    } else if (ch === '\\' && i + 1 < segment.length) source += escapeRegex(segment[++i] as string);
    else source += escapeRegex(ch);
  }
  const regex = new RegExp(`^${source}$`);
  const dotted = segment.startsWith('.');
  return (name) => (dotted || !name.startsWith('.')) && regex.test(name);
}

/** Index of the `]` closing the class opened at `open`, or -1 (then `[` is literal). */
function classEnd(segment: string, open: number): number {
  let i = open + 1;
  if (segment[i] === '!' || segment[i] === '^') i++;
  if (segment[i] === ']') i++; // a `]` first in the class is a member
  return segment.indexOf(']', i);
}

function bracket(body: string): string {
  const negated = body.startsWith('!') || body.startsWith('^');
  const members = negated ? body.slice(1) : body;
  return `[${negated ? '^' : ''}${members.replace(/[\\\]^]/g, (c) => `\\${c}`)}]`;
}

function escapeRegex(ch: string): string {
  return ch.replace(/[\\^$.*+?()[\]{}|/]/g, (c) => `\\${c}`);
}
