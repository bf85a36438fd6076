/**
 * The lower-cased header map node:http gives as `req.headers`, built by its rules from the raw
 * lines (joinDuplicateHeaders off), so `$http_NAME` and the Host and length checks read the
 * same values whichever edge took the request: a repeated field of the kinds that must appear
 * once keeps its first value, Set-Cookie is a list, Cookie is joined with '; ', any other
 * repeated field with ', '.
 *
 * A plain object, as node:http's: made with Object.create(null) it cost the proxy ~30 bytes of
 * old space per request until the next full collection (+7 MiB of peak at 256 connections,
 * PROFILE.md item 34).
 */
const FIRST_WINS: ReadonlySet<string> = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

export type HeaderMap = Record<string, string | string[] | undefined>;

export function headerMap(raw: readonly string[]): HeaderMap {
  const map: HeaderMap = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name === 'set-cookie') {
      const list = map['set-cookie'];
      if (list !== undefined) (list as string[]).push(value);
      else map['set-cookie'] = [value];
    } else if (FIRST_WINS.has(name)) {
      if (map[name] === undefined) map[name] = value;
    } else {
      // A name an object inherits (constructor, toString…) becomes the field's own value, as in node:http.
      const seen = map[name];
      map[name] = typeof seen === 'string' ? `${seen}${name === 'cookie' ? '; ' : ', '}${value}` : value;
    }
  }
  return map;
}
