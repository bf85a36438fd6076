/**
 * proxy/log.ts: the log waiting for stdout is bounded. A child process logs a flood while
 * nobody reads its stdout; once it is read again, every line is either there or counted in
 * the one warning that says how many were dropped.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const LOG = fileURLToPath(new URL('../../proxy/log.js', import.meta.url));
const LINES = 20_000;
const BOUND = 256 * 1024;

// The child floods its log (~250 bytes a line, ~5 MB in all: 20× the bound), says so on
// stderr, and exits when its stdin closes.
const CHILD = `
import { boundedLogger } from ${JSON.stringify(LOG)};
const log = boundedLogger('info', { name: 'flood' }, ${BOUND});
for (let i = 0; i < ${LINES}; i++) log.info({ n: i, pad: 'x'.repeat(180) }, 'line');
process.stderr.write('flooded\\n');
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

t.test('a flood nobody reads: lines past the bound are dropped and counted, none lost silently', async (t) => {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  child.stdout.pause();
  let stderr = '';
  child.stderr.setEncoding('utf8');
  const flooded = new Promise<void>((resolve) =>
    child.stderr.on('data', (text: string) => {
      stderr += text;
      if (stderr.includes('flooded')) resolve();
    }),
  );
  await flooded;
  // Now read: what waited comes out, then the count of what did not fit.
  let text = '';
  const warned = new Promise<void>((resolve) =>
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('"dropped"')) resolve();
    }),
  );
  child.stdout.resume();
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no drop warning; stderr: ${stderr}`)), 30_000).unref());
  await Promise.race([warned, timeout]);
  child.stdin.end();
  await once(child, 'exit');
  const lines = text.trim().split('\n').map((line) => JSON.parse(line) as { msg: string; dropped?: number; n?: number });
  const written = lines.filter((line) => line.msg === 'line').length;
  const warning = lines.find((line) => line.dropped !== undefined);
  t.ok(warning, 'one line says how many were dropped');
  t.ok(written < LINES / 4, `only what fit waited (${written} of ${LINES} lines)`);
  t.equal(written + warning!.dropped!, LINES, 'every line written or counted');
  t.match(warning!.msg, /log lines dropped: stdout was not read/);
});
