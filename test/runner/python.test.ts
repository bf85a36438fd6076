// The Python worker's own tests (test/python/test_*.py, unittest) run under tap: the shared
// protocol vectors, split and fuzzed decoding, wsgi.input, and the worker as a process, once
// with each MessagePack codec.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ROOT, track } from '../helpers/processes.js';
import { PYTHON } from '../helpers/python.js';

const probe = spawnSync(PYTHON, ['-c', 'import msgpack'], { encoding: 'utf8' });
const unrunnable = probe.error ? `${PYTHON} cannot be run (${probe.error.message})` : null;
const noMsgpack = probe.status !== 0 ? `${PYTHON} cannot import msgpack (apt-get install python3-msgpack)` : null;

const TESTS = join(ROOT, 'test/python');
const MODULES = readdirSync(TESTS)
  .filter((name) => /^test_\w+[.]py$/.test(name))
  .map((name) => name.slice(0, -'.py'.length))
  .sort();
// Most of a run is these two modules waiting on worker processes (~10 and ~7 s of ~20, for
// ~2 s of CPU), so each runs in its own interpreter beside the rest: the file takes ~13 s
// instead of ~20, and it is one of the last the suite starts.
const APART = ['test_worker', 'test_inline'];
const SHARDS = [...APART.map((name) => [name]), MODULES.filter((name) => !APART.includes(name))].filter((shard) => shard.length > 0);

interface Run {
  code: number | null;
  output: string;
}

/** `python -m unittest` over some of test/python's modules, started at once. */
function unittest(pure: '0' | '1', modules: string[]): { done: Promise<Run>; kill(): void } {
  const child = track(
    spawn(PYTHON, ['-m', 'unittest', '-v', ...modules], {
      cwd: TESTS,
      // PYTHONPATH too: with PYTHONSAFEPATH set, `-m` would not put the cwd on the path.
      env: { ...process.env, PYTHONPATH: TESTS, PYTHONDONTWRITEBYTECODE: '1', TSGI_PURE_MSGPACK: pure },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
  // 'close', not 'exit': unittest writes its summary last, and 'exit' can come before it is read.
  const done = new Promise<Run>((resolve) => child.once('close', (code) => resolve({ code, output })));
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  return { done, kill };
}

// Twice: on the C `msgpack`, then on the worker's pure-Python fallback (TSGI_PURE_MSGPACK=1,
// runner/python/tsgi_worker/codec.py), so every vector and fuzz case holds for both codecs.
// Both codecs' shards run side by side.
for (const [codec, pure] of [['msgpack', '0'], ['pure-python', '1']] as const) {
  const skip = (pure === '1' ? unrunnable : (unrunnable ?? noMsgpack)) ?? false;
  const runs = skip ? [] : SHARDS.map((modules) => unittest(pure, modules));
  t.test(`python -m unittest test/python (${codec} codec)`, { skip, timeout: 300_000 }, async (t) => {
    t.teardown(() => runs.forEach((run) => run.kill()));
    const results = await Promise.all(runs.map((run) => run.done));
    results.forEach(({ code, output }, i) => {
      t.equal(code, 0, `every Python test passed in ${SHARDS[i]!.join(', ')}`);
      if (code !== 0) t.comment(output);
    });
    const ran = results.map(({ output }) => Number(/^Ran (\d+) tests?/m.exec(output)?.[1] ?? 0));
    t.ok(ran.every((count) => count > 0), `unittest ran tests in every shard (${ran.join(' + ')})`);
  });
}
