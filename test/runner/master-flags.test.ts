import t from 'tap';
import { MASTER_V8_FLAGS, masterV8Flags } from '../../runner/supervision/master-flags.js';

t.test('the master turns the optimizing compilers off unless the operator chose', async (t) => {
  t.equal(masterV8Flags([], undefined), MASTER_V8_FLAGS, 'nothing set: the master sets its own');
  t.equal(masterV8Flags(['--max-old-space-size=128'], '--enable-source-maps'), MASTER_V8_FLAGS, 'other flags leave it be');
  t.equal(masterV8Flags(['--opt'], undefined), null, 'on the command line');
  t.equal(masterV8Flags([], '--max-semi-space-size=4 --no-turbofan'), null, 'in NODE_OPTIONS');
  t.equal(masterV8Flags(['--maglev'], undefined), null, 'maglev counts too');
  t.equal(masterV8Flags(['--no_opt'], undefined), null, "V8's underscore spelling");
  t.equal(masterV8Flags(['--optimize-for-size'], '--turbofan-foo'), MASTER_V8_FLAGS, 'a longer flag that begins the same is another flag');
});
