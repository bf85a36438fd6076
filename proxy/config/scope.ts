/**
 * The checked, converted directives of one block, and nginx-style inheritance between blocks.
 * validate.ts fills scopes from the syntax tree; build.ts reads them into the typed config.
 */
import { defaultValue, type Context, type DirectiveSpec } from './directives.js';
import type { Directive } from './parser.js';

export interface Entry<V> {
  value: V;
  directive: Directive;
  /** The directive's own block, for block directives. */
  scope?: Scope;
}

export class Scope {
  private readonly entries = new Map<DirectiveSpec, Entry<unknown>[]>();

  constructor(readonly context: Context) {}

  add<V>(spec: DirectiveSpec<V>, entry: Entry<V>): void {
    const list = this.entries.get(spec) ?? [];
    list.push(entry);
    this.entries.set(spec, list);
  }

  has(spec: DirectiveSpec): boolean {
    return this.entries.has(spec);
  }

  specs(): Iterable<DirectiveSpec> {
    return this.entries.keys();
  }

  /** Occurrences in config order. */
  all<V>(spec: DirectiveSpec<V>): Entry<V>[] {
    return (this.entries.get(spec) ?? []) as Entry<V>[];
  }

  /** The values written here, or the table default as a one-item list, or none. */
  list<V>(spec: DirectiveSpec<V>): V[] {
    const written = this.all(spec).map((entry) => entry.value);
    return written.length > 0 ? written : withDefault(undefined, spec);
  }

  /** The value written here, else the table default. */
  value<V>(spec: DirectiveSpec<V>): V {
    return required(this.list(spec), spec);
  }
}

/** The block's own inner scope of a block directive's entry. */
export function blockOf(entry: Entry<unknown>): Scope {
  if (!entry.scope) throw new Error(`"${entry.directive.name}" has no block scope`);
  return entry.scope;
}

/** Values of inheritable directives visible in one block, per directive. */
export type Inherited = ReadonlyMap<DirectiveSpec, readonly unknown[]>;

export const NOTHING_INHERITED: Inherited = new Map();

/** nginx's merge: what `scope` sets replaces what it inherits, directive by directive. */
export function inherit(outer: Inherited, scope: Scope): Inherited {
  const merged = new Map(outer);
  for (const spec of scope.specs()) {
    if (spec.inherit) merged.set(spec, scope.all(spec).map((entry) => entry.value));
  }
  return merged;
}

/** All values of a repeatable inherited directive (may be empty). */
export function inheritedList<V>(values: Inherited, spec: DirectiveSpec<V>): V[] {
  return withDefault(values.get(spec) as V[] | undefined, spec);
}

/** The value of a single-valued inherited directive, else its default. */
export function inheritedValue<V>(values: Inherited, spec: DirectiveSpec<V>): V {
  return required(inheritedList(values, spec), spec);
}

function withDefault<V>(written: V[] | undefined, spec: DirectiveSpec<V>): V[] {
  if (written) return written;
  const fallback = defaultValue(spec);
  return fallback === undefined ? [] : [fallback];
}

function required<V>(values: V[], spec: DirectiveSpec<V>): V {
  // Asking for the single value of a directive that has no default is a bug in build.ts.
  if (values.length === 0) throw new Error(`"${spec.name}" has no value and no default`);
  return values[0] as V;
}
