import { readFileSync } from 'node:fs';
import t from 'tap';
import { DIRECTIVE_LIST } from '../../../proxy/config/directives.js';
import { renderReference, withReference } from '../../../proxy/config/reference.js';
import { source } from '../../helpers/root.js';

const directives = readFileSync(source('proxy/config/DIRECTIVES.md'), 'utf8');

t.test('proxy/config/DIRECTIVES.md is the reference generated from the directive table', async (t) => {
  t.equal(directives, withReference(directives), 'run `npm run docs` after changing proxy/config/directives.ts');
});

t.test('every directive is documented with syntax, context, default and example', async (t) => {
  const reference = renderReference();
  for (const spec of DIRECTIVE_LIST) {
    t.match(reference, `\`${spec.syntax}\``, spec.name);
    t.match(reference, `\`${spec.example}\``, `${spec.name} example`);
  }
});
