/**
 * nginx's choice of a location for a request path (ngx_http_core_find_location), for the
 * locations of one block and, recursively, the locations nested in them:
 *
 * 1. an `=` location equal to the path wins at once;
 * 2. nginx's trailing-slash redirect: when no location is named exactly the path but a prefix
 *    (or `=`) location with tsgi_pass is named path + "/", the answer is its 301 (slashRedirect);
 * 3. else the longest matching prefix (plain or `^~`) is remembered, and the locations nested in
 *    it are searched the same way: an `=` match, a redirect or a regex match in there wins; a
 *    nested prefix match replaces the remembered one;
 * 4. unless the remembered prefix of this block is `^~`, this block's regex locations (`~`, `~*`)
 *    are tried in config order; the first match wins, after a search of its own nested locations
 *    (where a trailing-slash redirect does not apply, as in nginx);
 * 5. else the remembered prefix location, if any.
 *
 * Paths and location URIs are byte strings (the percent-decoded path, latin-1), compared
 * case-sensitively, as nginx does on Linux.
 */
import type { LocationConfig } from './config/types.js';

interface Node {
  location: LocationConfig;
  nested: Level;
}

interface Level {
  exact: Map<string, Node>;
  /** Plain and `^~` prefixes, longest first. */
  prefixes: Node[];
  /** `~` and `~*`, in config order. */
  regexes: Node[];
  /** Path → the location answering it with its slashRedirect, as `return`. */
  redirects: Map<string, { location: LocationConfig; redirect: LocationConfig }>;
}

type Found =
  | { rc: 'final' | 'prefix'; location: LocationConfig }
  | { rc: 'redirect'; location: LocationConfig; redirect: LocationConfig };

/** The locations of one server, compiled once for matching. */
export class LocationTree {
  private readonly root: Level;

  constructor(locations: readonly LocationConfig[]) {
    this.root = compile(locations);
  }

  /**
   * The location for `path`, or null when none matches. For the trailing-slash redirect it is
   * a copy of the location whose `return` is its slashRedirect.
   */
  match(path: string): LocationConfig | null {
    const found = find(this.root, path);
    if (!found) return null;
    return found.rc === 'redirect' ? found.redirect : found.location;
  }
}

function compile(locations: readonly LocationConfig[]): Level {
  const level: Level = { exact: new Map(), prefixes: [], regexes: [], redirects: new Map() };
  const names = new Set<string>();
  for (const location of locations) {
    const node = { location, nested: compile(location.locations) };
    if (location.modifier === '=') level.exact.set(location.uri, node);
    else if (location.regex) level.regexes.push(node);
    else level.prefixes.push(node);
    if (!location.regex) names.add(location.uri);
  }
  level.prefixes.sort((a, b) => b.location.uri.length - a.location.uri.length);
  // An `=` location's redirect first, as nginx prefers the exact one of a shared name.
  const redirecting = [...level.exact.values(), ...level.prefixes].filter((node) => node.location.slashRedirect);
  for (const { location } of redirecting) {
    const path = location.uri.slice(0, -1);
    if (names.has(path) || level.redirects.has(path)) continue;
    level.redirects.set(path, { location, redirect: { ...location, return: location.slashRedirect! } });
  }
  return level;
}

function find(level: Level, path: string): Found | undefined {
  const exact = level.exact.get(path);
  if (exact) return { rc: 'final', location: exact.location };
  const redirect = level.redirects.get(path);
  if (redirect) return { rc: 'redirect', ...redirect };
  const prefix = level.prefixes.find((node) => path.startsWith(node.location.uri));
  let remembered: LocationConfig | undefined;
  if (prefix) {
    const inner = find(prefix.nested, path);
    if (inner && inner.rc !== 'prefix') return inner;
    remembered = inner?.location ?? prefix.location;
    if (prefix.location.modifier === '^~') return { rc: 'prefix', location: remembered };
  }
  for (const node of level.regexes) {
    if (!node.location.regex!.test(path)) continue;
    return { rc: 'final', location: find(node.nested, path)?.location ?? node.location };
  }
  return remembered && { rc: 'prefix', location: remembered };
}
