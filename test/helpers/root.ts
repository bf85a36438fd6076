/**
 * The repository's root, found from this module's place: the tests run built, from
 * dist/test/, while their data (fixtures, corpora, vectors, the documents they check) stays
 * in the source tree.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
export const FIXTURES = join(ROOT, 'test/fixtures');

/** A path in the source tree, from the root: `source('test/fixtures')`. */
export function source(...parts: string[]): string {
  return join(ROOT, ...parts);
}
