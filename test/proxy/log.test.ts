/**
 * proxy/log.ts: the log waiting for stdout is bounded. A child process logs a flood while
 * nobody reads its stdout; once it is read again, every line is either there or counted in
 * the one warning that says how many were dropped.
 */
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams, type StdioOptions } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';

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

// The lines a process writes just before process.exit (the CLIs exit right after their last
// line) are all there, whole, characters outside ASCII included: the destination is handed
// bytes, so a count in characters instead of bytes would cut or garble them. The burst is
// logged while the first line's write completes (sonic-boom says 'write' before it starts the
// next), so no write is on its way at exit: one would be written by the thread pool, whenever,
// and may land after the flush at exit or not at all.
const PINO = fileURLToPath(new URL('../../../node_modules/pino/pino.js', import.meta.url));
const EXITING = `
import pino from ${JSON.stringify(PINO)};
import { boundedLogger } from ${JSON.stringify(LOG)};
const log = boundedLogger('info', { name: 'exiting' });
log[pino.symbols.streamSym].once('write', () => {
  for (let i = 0; i < 5000; i++) log.info({ n: i, text: 'é日本😀'.repeat(20) }, 'ünïcode');
  log.info('last line');
  process.exit(0);
});
log.info('first line');
`;

t.test('every line logged before process.exit is written, multibyte characters whole', async (t) => {
  const child = spawn(process.execPath, ['--input-type=module', '-e', EXITING], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  const [code] = (await once(child, 'close')) as [number];
  t.equal(code, 0);
  const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n').map((line) => JSON.parse(line) as { msg: string; n?: number; text?: string });
  t.equal(lines.length, 5002, 'every line, none lost at exit');
  t.equal(lines[0]!.msg, 'first line');
  t.ok(lines.slice(1, 5001).every((line, i) => line.n === i && line.text === 'é日本😀'.repeat(20) && line.msg === 'ünïcode'), 'each line whole and in order');
  t.equal(lines[5001]!.msg, 'last line');
});

// A reader that goes away stops the log, not the process. The child's stdout is a Unix socket
// (as a log collector's stream is). Closed with lines unread, the write waiting on it fails
// with ECONNRESET: pino stops the log only on EPIPE, so that ended the process, and its flush
// at exit then retried the failed write for ever. Closed with nothing unread, the next write
// fails with EPIPE. A process that exits at once, before a failed write's callback has run,
// meets the departure in the flush at exit, which retried it for ever too. In every case the
// child logs on, says so on stderr, and exits 0.
const ORPHANED = (lines: number, exitAtOnce: boolean) => `
import pino from ${JSON.stringify(PINO)};
import { boundedLogger } from ${JSON.stringify(LOG)};
const log = boundedLogger('info', { name: 'orphaned' });
const stream = log[pino.symbols.streamSym];
let writes = 0;
stream.on('write', () => writes++);
for (let i = 0; i < ${lines}; i++) log.info({ n: i, pad: 'x'.repeat(200) }, 'before');
// Said once the log has stopped moving for 200 ms (all of it written, or a write waiting on a
// full socket): the lines its reader has not read are then in the socket, not on their way.
let seen = -1;
const watch = setInterval(() => {
  if (writes !== seen) return void (seen = writes);
  clearInterval(watch);
  process.stderr.write('logged\\n');
}, 200);
process.stdin.setEncoding('utf8').on('data', () => {
  for (let i = 0; i < 2000; i++) log.info({ n: i, pad: 'x'.repeat(200) }, 'after');
  const leave = () => {
    process.stderr.write('still here\\n');
    process.exit(0);
  };
  if (${exitAtOnce}) leave();
  else setTimeout(leave, 200);
});
`;

/**
 * The child without tap's process-info loader, which tap adds to every child's NODE_OPTIONS:
 * under it an error thrown from a write's callback neither ended the child nor hung its exit,
 * so the first test below passed without the fix. The child must end as in production.
 */
function spawnPlain(script: string, stdio: StdioOptions): ChildProcess {
  return spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, '--input-type=module', '-e', script], { stdio });
}

async function orphan(t: Test, lines: number, readFirst: boolean, exitAtOnce = false): Promise<void> {
  const child = spawnPlain(ORPHANED(lines, exitAtOnce), ['pipe', 'pipe', 'pipe']) as ChildProcessWithoutNullStreams;
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  // A child stuck at exit is killed after a while, and fails the test below.
  const stuck = setTimeout(() => child.kill('SIGKILL'), 20_000).unref();
  t.teardown(() => {
    clearTimeout(stuck);
    child.kill('SIGKILL');
  });
  let stderr = '';
  const logged = new Promise<void>((resolve) =>
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      if (stderr.includes('logged')) resolve();
    }),
  );
  // Read everything, or nothing: 20,000 lines unread fill the socket and a write waits on it.
  if (readFirst) child.stdout.resume();
  else child.stdout.pause();
  await Promise.race([logged, closed]);
  t.match(stderr, /logged/, 'the child logged and waits');
  child.stdout.destroy();
  child.stdin.write('go\n');
  const [code, signal] = await closed;
  t.same({ code, signal }, { code: 0, signal: null }, `exits as it would have (stderr: ${stderr.slice(0, 400)})`);
  t.match(stderr, /still here/);
  t.notMatch(stderr, /EPIPE|ECONNRESET|Error/);
}

t.test('a log reader that goes away with lines unread stops the log, not the process', (t) => orphan(t, LINES, false));
t.test('a log reader that goes away having read everything stops the log, not the process', (t) => orphan(t, 1, true));
t.test('a process that exits just after its log reader went away exits', (t) => orphan(t, LINES, false, true));

// A log that cannot be written for another reason (stdout sent to a file on a full disk:
// /dev/full fails every write with ENOSPC) pauses, says why on stderr once, and the process
// goes on; the error ended it before.
const FULL = `
import { boundedLogger } from ${JSON.stringify(LOG)};
const log = boundedLogger('info', { name: 'full' });
let i = 0;
const timer = setInterval(() => {
  for (let k = 0; k < 100; k++) log.info({ n: i++ }, 'line');
  if (i < 2000) return;
  clearInterval(timer);
  process.stderr.write('still here\\n');
  process.exit(0);
}, 5);
`;

t.test('a log that cannot be written pauses and says so on stderr once, and the process goes on', async (t) => {
  const full = openSync('/dev/full', 'w');
  const child = spawnPlain(FULL, ['ignore', full, 'pipe']);
  closeSync(full);
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  t.teardown(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const [code, signal] = await closed;
  t.same({ code, signal }, { code: 0, signal: null }, `exits as it would have (stderr: ${stderr.slice(0, 400)})`);
  t.equal(stderr.match(/log paused/g)?.length, 1, 'one line says the log paused');
  t.match(stderr, /^full \(pid \d+\): log paused, stdout cannot be written: ENOSPC/);
  t.match(stderr, /still here/);
  const lost = /full \(pid \d+\): (\d+) log lines dropped: stdout could not be written \(ENOSPC/.exec(stderr);
  t.ok(lost && Number(lost[1]) > 0, `at exit, stderr counts the lines the paused log dropped (${stderr.slice(-300)})`);
});

// A disk that fills and is freed again: a size limit on the file (ulimit -f: EFBIG past it)
// stands in for the full disk, and truncating the file for the space freed. Node ignores the
// SIGXFSZ that comes with EFBIG. The log pauses, retries each second, and once a write goes
// through it carries on, with one line counting what was dropped meanwhile.
const STEADY = `
import { boundedLogger } from ${JSON.stringify(LOG)};
const log = boundedLogger('info', { name: 'steady' });
let n = 0;
setInterval(() => log.info({ n: n++ }, 'line'), 2);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

t.test('a log paused by a full disk resumes once there is room, and counts what it dropped', async (t) => {
  const { file, child, stderr } = await pausedLog(t, STEADY);
  t.match(stderr(), /^steady \(pid \d+\): log paused, stdout cannot be written: EFBIG/);
  t.equal(statSync(file).size, 16 * 1024, 'the file is at its limit');
  truncateSync(file, 0);
  const resumed = () => readFileSync(file, 'utf8').split('\n').slice(1, -1);
  await until(() => resumed().filter((line) => line.includes('"msg":"line"')).length >= 20, () => `no lines after the truncation; stderr: ${stderr()}`);
  child.stdin!.end();
  const [code] = (await once(child, 'close')) as [number | null];
  t.equal(code, 0, 'the process served on and exits as it would have');
  // The first line may be the rest of the one the limit cut: the lines after it are whole.
  const lines = resumed().map((line) => JSON.parse(line) as { msg: string; dropped?: number; n?: number });
  const count = lines.find((line) => line.dropped !== undefined);
  t.ok(count && count.dropped! > 0, `one line counts the lines dropped (${JSON.stringify(count)})`);
  t.match(count!.msg, /^\d+ log lines dropped: stdout could not be written \(EFBIG/);
  const numbers = lines.flatMap((line) => (line.msg === 'line' ? [line.n!] : []));
  t.same(numbers, [...numbers].sort((a, b) => a - b), 'the lines after it in order');
  t.equal(stderr().match(/log paused/g)?.length, 1, 'stderr heard of it once');
});

// A process that goes quiet after the failure: what waited is written once there is room,
// without a next line to carry it.
const QUIET = `
import { boundedLogger } from ${JSON.stringify(LOG)};
const log = boundedLogger('info', { name: 'quiet' });
for (let n = 0; n < 200; n++) log.info({ n, pad: 'x'.repeat(60) }, 'line');
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

t.test('a paused log writes what waited once there is room, with nothing more logged', async (t) => {
  const { file, child, stderr } = await pausedLog(t, QUIET);
  truncateSync(file, 0);
  await until(() => readFileSync(file, 'utf8').includes('"n":199,'), () => `the waiting lines never came; stderr: ${stderr()}`);
  child.stdin!.end();
  const [code] = (await once(child, 'close')) as [number | null];
  t.equal(code, 0);
  t.notMatch(readFileSync(file, 'utf8'), /dropped/, 'nothing was dropped: no line came while the log was paused');
});

/**
 * A child logging to a file limited to 16 KiB (ulimit -f; the file deleted after the test),
 * once its log has paused at the limit, and what it has said on stderr so far.
 */
async function pausedLog(t: Test, script: string): Promise<{ file: string; child: ChildProcess; stderr: () => string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-log-'));
  const file = join(dir, 'out.log');
  const out = openSync(file, 'a');
  const child = spawn('bash', ['-c', 'ulimit -f 16 && exec "$@"', 'bash', 'env', '-u', 'NODE_OPTIONS', process.execPath, '--input-type=module', '-e', script], {
    stdio: ['pipe', out, 'pipe'],
  });
  closeSync(out);
  t.teardown(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  let said = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (said += text));
  await until(() => said.includes('log paused'), () => `no pause; stderr: ${said}`);
  return { file, child, stderr: () => said };
}

/** Polls `ok` every 20 ms for up to 20 s. */
async function until(ok: () => boolean, why: () => string): Promise<void> {
  for (const deadline = Date.now() + 20_000; !ok(); await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (Date.now() > deadline) throw new Error(why());
  }
}
