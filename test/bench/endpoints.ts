/**
 * What every measured system serves, byte for byte, so the client can check what it got:
 *
 *   GET  /                 200 text/plain "Hello World!" (12 bytes)
 *   GET  /json             200 application/json, JSON_BYTES bytes (built by jsonBody())
 *   GET  /download/N       200 application/octet-stream, N bytes of PATTERN, streamed in chunks
 *   POST /upload           200 text/plain, the decimal count of the request body bytes read
 *
 * wsgi_app.py builds the same JSON by the same rule; the probe compares it with this one.
 * The framework scenarios' apps (flask_app.py, django_app.py) serve GET / and
 *
 *   GET  /catalogue/P      200 text/html, the page cataloguePage(P) builds (framework_page.py)
 */
export const HELLO = 'Hello World!';
export const JSON_BYTES = 100 * 1024;
/** Streamed bodies go out in chunks of this size. */
export const CHUNK_BYTES = 64 * 1024;
/** Largest /download/N any system accepts (a typo must not stream a terabyte). */
export const MAX_DOWNLOAD = 4 * 1024 ** 3;

/** One chunk of the download body: the letters a..z repeated. */
export function patternChunk(bytes = CHUNK_BYTES): Buffer {
  const chunk = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) chunk[i] = 97 + (i % 26);
  return chunk;
}

/**
 * Records {"id":i,"name":"item-i","tags":["alpha","beta"],"score":(i*37)%1000} while they fit,
 * then a "pad" string of x's that makes the document exactly JSON_BYTES long.
 */
export function jsonBody(): Buffer {
  const head = '{"items":[';
  const tail = '],"pad":"';
  const end = '"}';
  const items: string[] = [];
  let length = head.length + tail.length + end.length;
  for (let i = 0; ; i++) {
    const item = `{"id":${i},"name":"item-${i}","tags":["alpha","beta"],"score":${(i * 37) % 1000}}`;
    const added = item.length + (items.length > 0 ? 1 : 0);
    if (length + added > JSON_BYTES - 64) break;
    items.push(item);
    length += added;
  }
  return Buffer.from(`${head}${items.join(',')}${tail}${'x'.repeat(JSON_BYTES - length)}${end}`);
}

/** N from /download/N, or null when the path is not a valid download. */
export function downloadSize(path: string): number | null {
  const match = /^\/download\/(\d{1,10})$/.exec(path);
  if (!match) return null;
  const n = Number(match[1]);
  return n <= MAX_DOWNLOAD ? n : null;
}

/** The catalogue's size (framework_page.py: PAGES, PER_PAGE). */
export const CATALOGUE_PAGES = 100;
const PER_PAGE = 20;

/** The HTML escaping Jinja2 and Django agree on (the page holds no quotes). */
function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The page flask_app.py and django_app.py render from templates/catalogue.html for
 * /catalogue/P, byte for byte: 20 linked items, an escaped title, a link to the next page.
 */
export function cataloguePage(page: number): string {
  const title = escapeHtml(`Catalogue <page ${page}> & more`);
  const items: string[] = [];
  for (let i = 0; i < PER_PAGE; i++) {
    const id = (page - 1) * PER_PAGE + i + 1;
    const cents = (id * 37) % 10000;
    const price = `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
    items.push(`<li id="item-${id}"><a href="/item/${id}">${escapeHtml(`Mugs & cups <${id}>`)}</a> ${price}</li>\n`);
  }
  const next = page < CATALOGUE_PAGES ? `: <a href="/catalogue/${page + 1}">next</a>` : '';
  return [
    '<!DOCTYPE html>\n<html lang="en">\n',
    `<head><meta charset="utf-8"><title>${title}</title></head>\n<body>\n<h1>${title}</h1>\n<ul>\n`,
    ...items,
    `</ul>\n<p>Page ${page} of ${CATALOGUE_PAGES}${next}</p>\n</body>\n</html>\n`,
  ].join('');
}
