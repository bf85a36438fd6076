// Runs every case in ./cases through buildEnviron. Each case is a data file,
// {description, input, environ} or {description, input, error}, so another
// implementation (the Python worker's tests) can run the same corpus.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildEnviron, type EnvironInput } from '../../../proxy/environ.js';
import { EnvironError } from '../../../proxy/errors.js';
import { source } from '../../helpers/root.js';

interface Case {
  description: string;
  input: EnvironInput;
  environ?: Record<string, string>;
  error?: string;
}

const casesDir = source('test/proxy/environ/cases');
const files = readdirSync(casesDir).filter((f) => f.endsWith('.json')).sort();

t.test('corpus layout', async (t) => {
  t.ok(files.length >= 25, `${files.length} cases`);
  const numbers = new Set<string>();
  for (const file of files) {
    const m = /^(\d{3})-[a-z0-9.-]+\.json$/.exec(file);
    t.ok(m, `${file} is named NNN-short-name.json`);
    if (m) {
      t.notOk(numbers.has(m[1]!), `${file}: number ${m[1]} is unique`);
      numbers.add(m[1]!);
    }
  }
});

for (const file of files) {
  const c = JSON.parse(readFileSync(join(casesDir, file), 'utf8')) as Case;
  t.test(`${file}: ${c.description}`, async (t) => {
    t.equal(typeof c.description, 'string', 'has a description');
    t.not(c.environ === undefined, c.error === undefined, 'exactly one of environ / error');
    if (c.error !== undefined) {
      const err = thrown(() => buildEnviron(c.input, c.input));
      t.ok(err instanceof EnvironError, 'throws an EnvironError');
      t.match(err, { code: c.error, status: 400 });
      return;
    }
    const env = buildEnviron(c.input, c.input);
    t.strictSame(env, c.environ);
    for (const [key, value] of Object.entries(env)) {
      t.equal(typeof value, 'string', `${key} is a string`);
    }
  });
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
