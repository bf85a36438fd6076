/**
 * Syntax tree → scopes, driven by the directive table: each directive is looked up for the
 * block it is in, its shape checked in nginx's order (`;` vs block, then argument count,
 * then duplicates), its arguments converted, and its block validated in the block's context.
 * An `include` is replaced, in place, by the directives of the files it names (include.ts).
 */
import { DIRECTIVES, DIRECTIVE_LIST, type Context, type DirectiveSpec } from './directives.js';
import { ConfigError, type ConfigErrorCode } from './errors.js';
import { canonicalPath, includeFiles } from './include.js';
import type { Directive } from './parser.js';
import { Scope } from './scope.js';
import { closest } from './suggest.js';

/**
 * Returns the scope of the top level ('main'). `file` is where `directives` came from: includes
 * are relative to its directory, and including it again is a cycle.
 */
export function validate(directives: readonly Directive[], file: string): Scope {
  return fill(new Scope('main'), directives, [canonicalPath(file)]);
}

/** `chain`: the canonical paths of the files being read, outermost first. */
function fill(scope: Scope, directives: readonly Directive[], chain: readonly string[]): Scope {
  for (const directive of directives) {
    const spec = lookup(directive, scope.context);
    checkShape(spec, directive);
    if (spec === DIRECTIVES.include) {
      for (const included of includeFiles(directive, chain)) fill(scope, included.directives, [...chain, included.canonical]);
      continue;
    }
    if (!spec.repeatable && scope.has(spec)) fail(directive, 'E_DUPLICATE', `"${directive.name}" directive is duplicate`);
    const value = spec.convert(directive);
    // checkShape made sure the directive has a block exactly when the spec opens one.
    const inner = spec.block && directive.block && fill(new Scope(spec.block), directive.block, chain);
    scope.add(spec, { value, directive, scope: inner });
  }
  return scope;
}

/** Directives of the same name may differ by context (`server` in main vs in upstream). */
function lookup(directive: Directive, context: Context): DirectiveSpec {
  const named = DIRECTIVE_LIST.filter((spec) => spec.name === directive.name);
  const spec = named.find((candidate) => candidate.contexts.includes(context));
  if (spec) return spec;
  if (named.length === 0) {
    const guess = closest(directive.name, new Set(DIRECTIVE_LIST.map((s) => s.name)));
    const hint = guess ? ` (did you mean "${guess}"?)` : '';
    fail(directive, 'E_UNKNOWN_DIRECTIVE', `unknown directive "${directive.name}"${hint}`);
  }
  const homes = [...new Set(named.flatMap((s) => s.contexts))].join(', ');
  fail(directive, 'E_NOT_ALLOWED_HERE', `"${directive.name}" directive is not allowed here (it belongs in: ${homes})`);
}

function checkShape(spec: DirectiveSpec, directive: Directive): void {
  const name = directive.name;
  if (spec.block && !directive.block) fail(directive, 'E_NO_OPENING_BRACE', `directive "${name}" has no opening "{"`);
  if (!spec.block && directive.block) fail(directive, 'E_NOT_TERMINATED', `directive "${name}" is not terminated by ";"`);
  const [min, max] = spec.args;
  if (directive.args.length < min || directive.args.length > max) {
    fail(directive, 'E_ARG_COUNT', `invalid number of arguments in "${name}" directive`);
  }
}

function fail(directive: Directive, code: ConfigErrorCode, message: string): never {
  throw new ConfigError(code, message, directive);
}
