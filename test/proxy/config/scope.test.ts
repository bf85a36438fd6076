import t from 'tap';
import { DIRECTIVES } from '../../../proxy/config/directives.js';
import { parseText } from '../../../proxy/config/parser.js';
import { blockOf, inherit, inheritedList, inheritedValue, NOTHING_INHERITED, Scope } from '../../../proxy/config/scope.js';

const [directive] = parseText('tsgi_param A 1;', 's.conf');

t.test('values written in a scope win over defaults', async (t) => {
  const scope = new Scope('main');
  t.equal(scope.value(DIRECTIVES.workers), 1);
  scope.add(DIRECTIVES.workers, { value: 'auto', directive: directive! });
  t.equal(scope.value(DIRECTIVES.workers), 'auto');
  t.same(scope.list(DIRECTIVES.tsgiParam), []);
});

t.test('inheritance replaces a repeatable directive as a whole', async (t) => {
  const outer = new Scope('main');
  outer.add(DIRECTIVES.tsgiParam, { value: { name: 'A', value: '1', ifNotEmpty: false }, directive: directive! });
  outer.add(DIRECTIVES.tsgiParam, { value: { name: 'B', value: '2', ifNotEmpty: false }, directive: directive! });
  const inner = new Scope('server');
  inner.add(DIRECTIVES.tsgiParam, { value: { name: 'C', value: '3', ifNotEmpty: false }, directive: directive! });
  const fromOuter = inherit(NOTHING_INHERITED, outer);
  t.same(inheritedList(fromOuter, DIRECTIVES.tsgiParam).map((p) => p.name), ['A', 'B']);
  t.same(inheritedList(inherit(fromOuter, inner), DIRECTIVES.tsgiParam).map((p) => p.name), ['C']);
  t.same(inheritedList(inherit(fromOuter, new Scope('server')), DIRECTIVES.tsgiParam).map((p) => p.name), ['A', 'B']);
  t.equal(inheritedValue(fromOuter, DIRECTIVES.tsgiSendTimeout), 60_000);
});

t.test('internal misuse fails loudly', async (t) => {
  t.throws(() => blockOf({ value: undefined, directive: directive! }), /has no block scope/);
  t.throws(() => new Scope('main').value(DIRECTIVES.upstream), /has no value and no default/);
});
