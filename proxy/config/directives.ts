/**
 * The directive table: every directive tsgi understands, declared once. It drives validation
 * (where a directive may appear, how many arguments, block or `;`, repeatable or not), the
 * conversion of arguments to typed values, inheritance, defaults and the error messages, and a
 * directive reference can be generated from it. To add a directive, add an entry here and read
 * its value where the typed config is built (build.ts).
 */
import { looksLikeAddress, parseAddress, type AddressRules } from './address.js';
import { ConfigError, type ValueSite } from './errors.js';
import { parseText, type Arg, type Directive } from './parser.js';
import type { ListenConfig, TsgiParam, UpstreamServerConfig } from './types.js';
import { parseSize, parseTime } from './units.js';
import { VariableError, compileTemplate } from '../variables.js';

/** The block a directive is written in; 'main' is the top level of the file. */
export type Context = 'main' | 'upstream' | 'server' | 'location';

export interface DirectiveSpec<V = unknown> {
  readonly name: string;
  /** The nginx-docs "Syntax:" line. */
  readonly syntax: string;
  readonly contexts: readonly Context[];
  /** Argument count, inclusive; max may be Infinity when the converter checks the extras. */
  readonly args: readonly [min: number, max: number];
  /** The context of the `{ }` block this directive opens; absent: it ends with `;`. */
  readonly block?: Context;
  /** May appear more than once in one block (each occurrence is one value). */
  readonly repeatable: boolean;
  /**
   * Inherited into inner blocks (main → server → location) like nginx's merge: an inner block
   * sees the outer values unless it sets the directive itself; for a repeatable directive,
   * all of the outer occurrences unless it has at least one of its own.
   */
  readonly inherit: boolean;
  /** The default as config text (`'60s'`), converted like a written value; absent: none. */
  readonly default?: string;
  /** Checks the arguments and returns the typed value; throws ConfigError at the bad argument. */
  readonly convert: (directive: Directive) => V;
  readonly description: string;
  readonly example: string;
}

/** `location [=] URI`. */
export interface LocationMatch {
  modifier: '' | '=';
  uri: string;
}

/** `tsgi_pass NAME` or `tsgi_pass ADDRESS` (an implicit single-server upstream). */
export type PassTarget = { kind: 'upstream'; name: string } | { kind: 'address'; server: UpstreamServerConfig };

const LISTEN_RULES: AddressRules = { barePort: true, zeroPort: true };
const UPSTREAM_RULES: AddressRules = { barePort: false, zeroPort: false };

export const DIRECTIVES = {
  workers: define<number | 'auto'>({
    name: 'workers',
    syntax: 'workers NUMBER | auto;',
    contexts: ['main'],
    args: [1, 1],
    default: '1',
    convert: (d) => (first(d).value === 'auto' ? 'auto' : positiveInteger(d, first(d))),
    description: 'Number of proxy worker processes; `auto` means one per CPU core.',
    example: 'workers auto;',
  }),
  upstream: define<string>({
    name: 'upstream',
    syntax: 'upstream NAME { ... }',
    contexts: ['main'],
    args: [1, 1],
    block: 'upstream',
    repeatable: true,
    convert: (d) => first(d).value,
    description: 'A named group of runner addresses that `tsgi_pass NAME` sends requests to.',
    example: 'upstream app { server unix:/run/tsgi/app.sock; }',
  }),
  upstreamServer: define<UpstreamServerConfig>({
    name: 'server',
    syntax: 'server ADDRESS;',
    contexts: ['upstream'],
    args: [1, Infinity],
    repeatable: true,
    convert: (d) => {
      flags(d, 1, []);
      return { address: parseAddress(first(d).value, UPSTREAM_RULES, site(d, first(d))), text: first(d).value };
    },
    description: 'A runner in the upstream: `unix:/path`, `host:port` or `[ipv6]:port`.',
    example: 'server unix:/run/tsgi/app.sock;',
  }),
  keepalive: define<number>({
    name: 'keepalive',
    syntax: 'keepalive CONNECTIONS;',
    contexts: ['upstream'],
    args: [1, 1],
    default: '2',
    convert: (d) => positiveInteger(d, first(d)),
    description: 'Idle connections to keep open to each server of the upstream.',
    example: 'keepalive 4;',
  }),
  server: define<void>({
    name: 'server',
    syntax: 'server { ... }',
    contexts: ['main'],
    args: [0, 0],
    block: 'server',
    repeatable: true,
    convert: () => undefined,
    description: 'A virtual server: the addresses it listens on, its names and its locations.',
    example: 'server { listen 8080; location / { tsgi_pass unix:/run/tsgi/app.sock; } }',
  }),
  listen: define<ListenConfig>({
    name: 'listen',
    syntax: 'listen ADDRESS [default_server];',
    contexts: ['server'],
    args: [1, Infinity],
    repeatable: true,
    // nginx listens on *:80 when run as root, *:8000 otherwise; tsgi always uses port 80.
    default: '0.0.0.0:80',
    convert: (d) => ({
      address: parseAddress(first(d).value, LISTEN_RULES, site(d, first(d))),
      text: first(d).value,
      defaultServer: flags(d, 1, ['default_server']).has('default_server'),
    }),
    description:
      'Where the server accepts connections: `port`, `host:port`, `[ipv6]:port`, `*:port` or `unix:/path`. ' +
      '`default_server` makes it the server for requests whose Host matches no server_name.',
    example: 'listen 127.0.0.1:8080 default_server;',
  }),
  serverName: define<string[]>({
    name: 'server_name',
    syntax: 'server_name NAME ...;',
    contexts: ['server'],
    args: [1, Infinity],
    repeatable: true,
    default: '""',
    convert: serverNames,
    description: 'Host names of the server (compared case-insensitively); `""` matches requests without a Host.',
    example: 'server_name example.com www.example.com;',
  }),
  location: define<LocationMatch>({
    name: 'location',
    syntax: 'location [=] URI { ... }',
    contexts: ['server'],
    args: [1, 2],
    block: 'location',
    repeatable: true,
    convert: locationMatch,
    description: 'Settings for request URIs starting with URI, or equal to it with `=`.',
    example: 'location /api/ { tsgi_pass app; }',
  }),
  tsgiPass: define<PassTarget>({
    name: 'tsgi_pass',
    syntax: 'tsgi_pass UPSTREAM | ADDRESS;',
    contexts: ['location'],
    args: [1, 1],
    convert: passTarget,
    description: 'The upstream that serves the location, by name or as a single runner address.',
    example: 'tsgi_pass unix:/run/tsgi/app.sock;',
  }),
  tsgiReadTimeout: timeout('tsgi_read_timeout', 'Longest wait between two reads of the response from the runner.'),
  tsgiConnectTimeout: timeout('tsgi_connect_timeout', 'Longest wait to establish a connection with a runner.'),
  tsgiSendTimeout: timeout('tsgi_send_timeout', 'Longest wait between two writes of the request to the runner.'),
  tsgiParam: define<TsgiParam>({
    name: 'tsgi_param',
    syntax: 'tsgi_param NAME VALUE [if_not_empty];',
    contexts: ['main', 'server', 'location'],
    args: [2, 3],
    repeatable: true,
    inherit: true,
    convert: (d) => ({
      name: first(d).value,
      value: checkVariables(d, d.args[1] as Arg),
      ifNotEmpty: flags(d, 2, ['if_not_empty']).has('if_not_empty'),
    }),
    description:
      'An extra environ key sent to the app; VALUE may contain $variables. Inherited only by ' +
      'blocks that define no tsgi_param of their own.',
    example: 'tsgi_param APP_ENV production;',
  }),
  clientMaxBodySize: define<number>({
    name: 'client_max_body_size',
    syntax: 'client_max_body_size SIZE;',
    contexts: ['main', 'server', 'location'],
    args: [1, 1],
    inherit: true,
    default: '1m',
    convert: (d) => parseSize(first(d).value, site(d, first(d))),
    description: 'Largest request body accepted, else 413; 0 means unlimited.',
    example: 'client_max_body_size 10m;',
  }),
} as const;

/** Every directive, in table order: for lookups and for generating the reference. */
export const DIRECTIVE_LIST: readonly DirectiveSpec[] = Object.values(DIRECTIVES);

const defaults = new Map<DirectiveSpec, unknown>();

/** The table default converted to a value, as if written in the config; undefined if none. */
export function defaultValue<V>(spec: DirectiveSpec<V>): V | undefined {
  if (spec.default === undefined) return undefined;
  if (!defaults.has(spec)) {
    const [directive] = parseText(`${spec.name} ${spec.default};`, `(default of "${spec.name}")`);
    defaults.set(spec, spec.convert(directive as Directive));
  }
  return defaults.get(spec) as V;
}

type SpecInput<V> = Omit<DirectiveSpec<V>, 'repeatable' | 'inherit'> & Partial<DirectiveSpec<V>>;

function define<V>(spec: SpecInput<V>): DirectiveSpec<V> {
  return { repeatable: false, inherit: false, ...spec };
}

function timeout(name: string, description: string): DirectiveSpec<number> {
  return define<number>({
    name,
    syntax: `${name} TIME;`,
    contexts: ['main', 'server', 'location'],
    args: [1, 1],
    inherit: true,
    default: '60s',
    convert: (d) => parseTime(first(d).value, site(d, first(d))),
    description,
    example: `${name} 30s;`,
  });
}

/** Every `$name` must be a variable tsgi knows, as nginx checks at load time. */
function checkVariables(d: Directive, arg: Arg): string {
  try {
    compileTemplate(arg.value);
  } catch (err) {
    if (err instanceof VariableError) throw new ConfigError('E_UNKNOWN_VARIABLE', `${err.message} in "${d.name}"`, site(d, arg));
    throw err;
  }
  return arg.value;
}

function first(d: Directive): Arg {
  return d.args[0] as Arg; // every converter's directive has at least one argument
}

function site(d: Directive, arg: Arg): ValueSite {
  return { file: d.file, line: arg.line, column: arg.column, directive: d.name };
}

function positiveInteger(d: Directive, arg: Arg): number {
  const n = /^\d+$/.test(arg.value) ? Number(arg.value) : NaN;
  if (Number.isSafeInteger(n) && n > 0) return n;
  throw new ConfigError('E_INVALID_NUMBER', `invalid number "${arg.value}" in "${d.name}"`, site(d, arg));
}

/** The arguments from index `from` on, each of which must be one of `allowed`. */
function flags(d: Directive, from: number, allowed: readonly string[]): Set<string> {
  for (const arg of d.args.slice(from)) {
    if (!allowed.includes(arg.value)) {
      throw new ConfigError('E_INVALID_PARAMETER', `invalid parameter "${arg.value}" in "${d.name}"`, site(d, arg));
    }
  }
  return new Set(d.args.slice(from).map((arg) => arg.value));
}

function serverNames(d: Directive): string[] {
  const regex = d.args.find((arg) => arg.value.startsWith('~'));
  if (regex) throw unsupported(d, regex, `regex server name "${regex.value}" is not supported yet`);
  return d.args.map((arg) => arg.value.toLowerCase());
}

const REGEX_MODIFIERS = ['^~', '~*', '~'];

function locationMatch(d: Directive): LocationMatch {
  const [modifierArg, uriArg] = splitLocation(d);
  if (!modifierArg) return { modifier: '', uri: uriArg.value };
  const modifier = modifierArg.value;
  if (modifier === '=') return { modifier, uri: uriArg.value };
  if (REGEX_MODIFIERS.includes(modifier)) {
    throw unsupported(d, modifierArg, `location modifier "${modifier}" is not supported yet`);
  }
  throw new ConfigError('E_INVALID_PARAMETER', `invalid location modifier "${modifier}"`, site(d, modifierArg));
}

/** `location = /x`, or nginx's glued `location =/x`: [modifier?, uri]. */
function splitLocation(d: Directive): [Arg | undefined, Arg] {
  const [a, b] = d.args as [Arg, Arg | undefined];
  if (b) return [a, b];
  if (a.value.startsWith('@')) throw unsupported(d, a, `named location "${a.value}" is not supported yet`);
  const glued = ['=', ...REGEX_MODIFIERS].find((m) => a.value.startsWith(m) && a.value.length > m.length);
  if (!glued) return [undefined, a];
  const uri = { ...a, value: a.value.slice(glued.length), column: a.column + glued.length };
  return [{ ...a, value: glued }, uri];
}

function passTarget(d: Directive): PassTarget {
  const text = first(d).value;
  if (!looksLikeAddress(text)) return { kind: 'upstream', name: text };
  return { kind: 'address', server: { address: parseAddress(text, UPSTREAM_RULES, site(d, first(d))), text } };
}

function unsupported(d: Directive, arg: Arg, message: string): ConfigError {
  return new ConfigError('E_UNSUPPORTED', message, site(d, arg));
}
