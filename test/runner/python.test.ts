// The Python worker's own tests (test/python/test_*.py, unittest) run under tap: the shared
// protocol vectors, split and fuzzed decoding, wsgi.input, and the worker as a process, once
// with each MessagePack codec.
import { spawn, spawnSync } from 'node:child_process';
import t from 'tap';
import { ROOT, track } from '../helpers/processes.js';
import { PYTHON } from '../helpers/python.js';

const probe = spawnSync(PYTHON, ['-c', 'import msgpack'], { encoding: 'utf8' });
const unrunnable = probe.error ? `${PYTHON} cannot be run (${probe.error.message})` : null;
const noMsgpack = probe.status !== 0 ? `${PYTHON} cannot import msgpack (apt-get install python3-msgpack)` : null;

/** `python -m unittest` over test/python, started at once; resolves with its exit code and output. */
function unittest(pure: '0' | '1'): { done: Promise<{ code: number | null; output: string }>; kill(): void } {
  const child = track(
    spawn(PYTHON, ['-m', 'unittest', 'discover', '-s', 'test/python', '-v'], {
      cwd: ROOT,
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', TSGI_PURE_MSGPACK: pure },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
  const done = new Promise<{ code: number | null; output: string }>((resolve) => child.once('exit', (code) => resolve({ code, output })));
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  return { done, kill };
}

// Twice: on the C `msgpack`, then on the worker's pure-Python fallback (TSGI_PURE_MSGPACK=1,
// runner/python/tsgi_worker/codec.py), so every vector and fuzz case holds for both codecs.
// The two runs go side by side: most of a run's ~18 s is its tests waiting on worker processes.
for (const [codec, pure] of [['msgpack', '0'], ['pure-python', '1']] as const) {
  const skip = (pure === '1' ? unrunnable : (unrunnable ?? noMsgpack)) ?? false;
  const run = skip ? null : unittest(pure);
  t.test(`python -m unittest test/python (${codec} codec)`, { skip, timeout: 300_000 }, async (t) => {
    t.teardown(() => run!.kill());
    const { code, output } = await run!.done;
    const summary = /^Ran (\d+) tests?/m.exec(output);
    t.ok(summary && Number(summary[1]) > 0, `unittest ran tests (${summary?.[1] ?? 0})`);
    t.equal(code, 0, 'every Python test passed');
    if (code !== 0) t.comment(output);
  });
}
