/**
 * nginx's server names (https://nginx.org/en/docs/http/server_names.html): how a `server_name`
 * value is read, and how a Host is looked up among the names of the servers on one address.
 *
 * Forms, compared with the Host lower-cased (ASCII only), without port and trailing dot:
 * - exact: `example.com`; `""` matches a request without Host;
 * - leading wildcard: `*.example.com` matches `www.example.com` and `a.b.example.com`, not
 *   `example.com`; the special form `.example.com` matches `example.com` as well;
 * - trailing wildcard: `www.example.*` matches `www.example.com` and `www.example.co.uk`;
 * - regex: `~^api\d+\.` (a JavaScript RegExp; like nginx, compiled case-insensitively when the
 *   pattern contains an upper-case ASCII letter, since the Host it is tested on is lower-cased).
 *
 * Precedence, as nginx: exact, then the longest leading wildcard, then the longest trailing
 * wildcard, then the first matching regex in config order. A name given twice on one address
 * belongs to the first server that has it (nginx warns "conflicting server name" and ignores
 * the later one). Names are byte strings (latin-1), like the Host header Node hands over.
 */
import { ServerNameError } from './config/errors.js';
import { compileRegex } from './config/regex.js';

export type ServerName =
  | { kind: 'exact'; name: string }
  /** `suffix` starts with a dot; `bare` (the `.example.com` form) also matches suffix minus the dot. */
  | { kind: 'leading'; suffix: string; bare: boolean }
  /** `prefix` ends with a dot; at least one more character must follow it. */
  | { kind: 'trailing'; prefix: string }
  | { kind: 'regex'; source: string; regex: RegExp };


/** Reads one `server_name` argument (already in byte-string form). */
export function parseServerName(text: string): ServerName {
  if (text.startsWith('~')) {
    const source = text.slice(1);
    if (source === '') throw new ServerNameError(`empty regex in server name "${text}"`);
    return { kind: 'regex', source, regex: compileRegex(source, /[A-Z]/.test(source)) };
  }
  const name = asciiLower(text);
  if (name === '.' || name.includes('..') || name.includes('\0')) throw invalid(text);
  if (name.startsWith('*.') && name.length > 2) return noStar({ kind: 'leading', suffix: name.slice(1), bare: false }, name.slice(2), text);
  if (name.startsWith('.') && name.length > 1) return noStar({ kind: 'leading', suffix: name, bare: true }, name.slice(1), text);
  if (name.endsWith('.*') && name.length > 2) return noStar({ kind: 'trailing', prefix: name.slice(0, -1) }, name.slice(0, -2), text);
  return noStar({ kind: 'exact', name }, name, text);
}

function noStar(parsed: ServerName, rest: string, text: string): ServerName {
  if (rest.includes('*')) throw invalid(text);
  return parsed;
}

function invalid(text: string): ServerNameError {
  return new ServerNameError(`server name "${text}" is invalid (a "*" may only be the first or last label, as "*.example.com" or "www.example.*")`);
}

/** The names of the servers on one address, and nginx's lookup among them. */
export class ServerNameTable<T> {
  private readonly exact = new Map<string, T>();
  private readonly leading = new Map<string, { value: T; bare: boolean }>();
  private readonly trailing = new Map<string, T>();
  private readonly regexes: Array<{ regex: RegExp; value: T }> = [];

  /** Adds a name unless an earlier one already claimed it. */
  add(name: ServerName, value: T): void {
    switch (name.kind) {
      case 'exact':
        if (!this.exact.has(name.name)) this.exact.set(name.name, value);
        break;
      case 'leading':
        if (!this.leading.has(name.suffix)) this.leading.set(name.suffix, { value, bare: name.bare });
        break;
      case 'trailing':
        if (!this.trailing.has(name.prefix)) this.trailing.set(name.prefix, value);
        break;
      case 'regex':
        this.regexes.push({ regex: name.regex, value });
        break;
    }
  }

  get size(): number {
    return this.exact.size + this.leading.size + this.trailing.size + this.regexes.length;
  }

  /** `host` as normalizeHost returns it. */
  match(host: string): T | undefined {
    if (this.exact.has(host)) return this.exact.get(host);
    if (host === '') return undefined;
    return this.matchLeading(host) ?? this.matchTrailing(host) ?? this.regexes.find(({ regex }) => regex.test(host))?.value;
  }

  /** Longest first: `.host` itself (the `.example.com` form), then shorter and shorter suffixes. */
  private matchLeading(host: string): T | undefined {
    if (this.leading.size === 0) return undefined;
    const whole = this.leading.get(`.${host}`);
    if (whole?.bare) return whole.value;
    for (let dot = host.indexOf('.', 1); dot > 0; dot = host.indexOf('.', dot + 1)) {
      const entry = this.leading.get(host.slice(dot));
      if (entry) return entry.value;
    }
    return undefined;
  }

  /** Longest first: the prefix up to the last dot that has something after it. */
  private matchTrailing(host: string): T | undefined {
    if (this.trailing.size === 0) return undefined;
    for (let dot = host.lastIndexOf('.', host.length - 2); dot > 0; dot = host.lastIndexOf('.', dot - 1)) {
      const value = this.trailing.get(host.slice(0, dot + 1));
      if (value !== undefined) return value;
    }
    return undefined;
  }
}

/**
 * A Host header → the name compared with server names, as nginx normalises it: lower case
 * (ASCII letters only, so the bytes of a UTF-8 name survive), no port, no trailing dot; an
 * IPv6 literal keeps its brackets. '' when there is no Host.
 */
export function normalizeHost(host: string | undefined): string {
  if (!host) return '';
  let name = asciiLower(host);
  if (name.startsWith('[')) {
    const end = name.indexOf(']');
    return end > 0 ? name.slice(0, end + 1) : name;
  }
  const colon = name.indexOf(':');
  if (colon >= 0) name = name.slice(0, colon);
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

/** Lower-cases A-Z only (String#toLowerCase would also change latin-1 bytes such as 0xC0). */
export function asciiLower(text: string): string {
  return /[A-Z]/.test(text) ? text.replace(/[A-Z]+/g, (upper) => upper.toLowerCase()) : text;
}
