import t from 'tap';
import { MASTER_V8_FLAGS, WORKER_V8_FLAGS, masterV8Flags, workerExecArgv } from '../../runner/supervision/master-flags.js';

t.test('the master turns the optimizing compilers off unless the operator chose', async (t) => {
  t.equal(masterV8Flags([], undefined), MASTER_V8_FLAGS, 'nothing set: the master sets its own');
  t.equal(masterV8Flags(['--max-old-space-size=128'], '--enable-source-maps'), MASTER_V8_FLAGS, 'other flags leave it be');
  t.equal(masterV8Flags(['--opt'], undefined), null, 'on the command line');
  t.equal(masterV8Flags([], '--max-semi-space-size=4 --no-turbofan'), null, 'in NODE_OPTIONS');
  t.equal(masterV8Flags(['--maglev'], undefined), null, 'maglev counts too');
  t.equal(masterV8Flags(['--no_opt'], undefined), null, "V8's underscore spelling");
  t.equal(masterV8Flags(['--optimize-for-size'], '--turbofan-foo'), MASTER_V8_FLAGS, 'a longer flag that begins the same is another flag');
});

t.test("workers get the young generation's cap after the master's own flags, unless the operator sized it", async (t) => {
  t.same(workerExecArgv([], undefined), WORKER_V8_FLAGS, 'nothing set');
  t.same(workerExecArgv(['--enable-source-maps'], '--max-old-space-size=256'), ['--enable-source-maps', ...WORKER_V8_FLAGS], 'other flags kept, first');
  t.same(workerExecArgv(['--max-semi-space-size=16'], undefined), ['--max-semi-space-size=16'], 'on the command line');
  t.same(workerExecArgv([], '--max_semi_space_size=8'), [], "in NODE_OPTIONS, V8's underscore spelling");
  t.same(workerExecArgv(['--max-semi-space-size-foo'], undefined), ['--max-semi-space-size-foo', ...WORKER_V8_FLAGS], 'a longer flag is another flag');
});
