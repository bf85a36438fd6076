import t from 'tap';
import { DIRECTIVE_LIST, DIRECTIVES, defaultValue, type DirectiveSpec } from '../../../proxy/config/directives.js';
import { parseConfig } from '../../../proxy/config/load.js';

/** A config where `example` sits in `spec`'s first context, with whatever else that needs. */
function wrap(spec: DirectiveSpec): string {
  const upstream = 'upstream app { server unix:/run/app.sock; }\n';
  const pass = spec === DIRECTIVES.tsgiPass ? '' : 'tsgi_pass app; ';
  switch (spec.contexts[0]) {
    case 'main':
      return spec === DIRECTIVES.upstream ? spec.example : upstream + spec.example;
    case 'upstream':
      return `${upstream}upstream other { server unix:/o.sock; ${spec.example} }`;
    case 'server':
      return `${upstream}server { ${spec.example} }`;
    case 'location':
      return `${upstream}server { location / { ${pass}${spec.example} } }`;
    default:
      throw new Error(`no wrapper for ${String(spec.contexts[0])}`);
  }
}

t.test('every entry is documented', async (t) => {
  for (const spec of DIRECTIVE_LIST) {
    t.match(spec.name, /^[a-z_]+$/, 'name');
    t.match(spec.syntax, new RegExp(`^${spec.name}[ ;]`), `${spec.name}: syntax starts with the name`);
    t.ok(spec.syntax.endsWith(spec.block ? '}' : ';'), `${spec.name}: syntax ends like the directive`);
    t.ok(spec.contexts.length > 0, `${spec.name}: contexts`);
    t.ok(spec.description.length > 10, `${spec.name}: description`);
    t.match(spec.example, new RegExp(`^${spec.name}[ ;]`), `${spec.name}: example`);
    t.ok(spec.args[0] <= spec.args[1], `${spec.name}: args`);
  }
});

t.test('a name is defined once per context', async (t) => {
  const seen = DIRECTIVE_LIST.flatMap((spec) => spec.contexts.map((context) => `${context}/${spec.name}`));
  t.same(seen.filter((key, i) => seen.indexOf(key) !== i), []);
});

t.test('every default converts like written config', async (t) => {
  for (const spec of DIRECTIVE_LIST) {
    if (spec.default === undefined) t.equal(defaultValue(spec), undefined, `${spec.name}: no default`);
    else t.not(defaultValue(spec), undefined, `${spec.name}: default ${spec.default}`);
  }
  t.equal(defaultValue(DIRECTIVES.tsgiReadTimeout), 60_000);
  t.equal(defaultValue(DIRECTIVES.clientMaxBodySize), 1024 * 1024);
  t.same(defaultValue(DIRECTIVES.serverName), ['']);
});

t.test('every example is valid config in its context', async (t) => {
  for (const spec of DIRECTIVE_LIST) {
    t.doesNotThrow(() => parseConfig(wrap(spec), `example-of-${spec.name}.conf`), spec.name);
  }
});

t.test('inheritable directives are allowed at every level they inherit through', async (t) => {
  // Those about the connection or the request head stop at server, as in nginx.
  for (const spec of DIRECTIVE_LIST.filter((s) => s.inherit)) {
    t.same(spec.contexts.slice(0, 2), ['main', 'server'], spec.name);
    t.ok(spec.contexts.every((c) => c !== 'upstream'), `${spec.name} is not an upstream directive`);
  }
});
