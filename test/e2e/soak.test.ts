// Soak: a load generator (node:http clients with keep-alive) against a real tsgi-proxy and a
// real tsgi-runner --workers 2, while a chaos loop SIGKILLs workers, restarts the runner,
// reloads the proxy and the runner (SIGHUP) and stalls a worker (SIGSTOP, then SIGCONT).
//
// Every response must be either complete and byte-for-byte what the deterministic fixture
// routes must return (test/fixtures/app.js: /hello, /big?bytes=N, /echo, /upload-hash), or a
// clean failure: a complete 502/503/504, or a cut the client can tell (a connection reset, a
// body shorter than its Content-Length, a chunked body without its last chunk). A wrong body
// presented as complete, another status, or a hang fails the test. Afterwards the proxy's RSS
// must be back near where it started.
//
// Short form in `npm test` (20 s); TSGI_SOAK_SECONDS=600 for a long one.
import { createHash } from 'node:crypto';
import { Agent, request, type IncomingMessage } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { pattern, patternHash } from '../helpers/http.js';
import { mulberry32, randomBytes as randomBytesOf, seed } from '../protocol/random.js';
import { FIXTURES, pace, rss, spawnCli, startProxy, startRunner, tempDir, until, type RunnerHandle } from '../helpers/processes.js';

const SECONDS = Number(process.env.TSGI_SOAK_SECONDS ?? 20);
// The run, plus room for a runner restart on a busy machine and the checks after it.
t.setTimeout(Math.max(120_000, (SECONDS + 180) * 1000));
const CLIENTS = 24;
/** A request still unanswered after this long is a hang: every stall below is far shorter. */
const HANG_MS = 30_000;
const MiB = 1024 * 1024;
// The request mix and the choice of faults are seeded; what they meet depends on timing, so
// a seed replays the same choices, not the same interleaving.
const SEED = seed();
const random = mulberry32(SEED);
t.comment(`seed ${SEED} (TSGI_SEED=${SEED} replays the same choices)`);
const SIZES = [0, 1, 1000, 65536, 65537, 300_000, 2 * MiB];

const dir = tempDir(t);
const socket = join(dir, 'app.sock');
const stats = join(dir, 'stats.sock');
const RUNNER_ARGS = ['--workers', '2', '--stats', `unix:${stats}`, '--graceful-timeout', '3'];
let runner: RunnerHandle = await startRunner(t, { app: join(FIXTURES, 'app.js'), socket, args: RUNNER_ARGS });
const proxy = await startProxy(
  t,
  dir,
  `upstream app { server unix:${socket} max_fails=0; }
   server {
     listen 127.0.0.1:0;
     location / {
       tsgi_pass app;
       tsgi_read_timeout 5s;
       tsgi_send_timeout 5s;
       client_max_body_size 16m;
     }
   }`,
);
// Pin the port the proxy got, so a reload (SIGHUP) keeps its listening socket.
writeFileSync(proxy.configFile, readFileSync(proxy.configFile, 'utf8').replace('127.0.0.1:0', `127.0.0.1:${proxy.port}`));

// ---- the load ----

type Verdict = 'ok' | 'clean 5xx' | 'cut' | 'WRONG';
interface Result {
  verdict: Verdict;
  detail: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
t.teardown(() => agent.destroy());
const hashes = new Map(SIZES.map((size) => [size, patternHash(size)]));
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

interface Exchange {
  method: string;
  path: string;
  body?: Buffer;
  /** What a complete 200 must carry. */
  check(body: Buffer, res: IncomingMessage): string | null;
}

function pick<T>(list: readonly T[]): T {
  return list[Math.floor(random() * list.length)]!;
}

function nextExchange(): Exchange {
  const size = pick(SIZES);
  switch (Math.floor(random() * 4)) {
    case 0:
      return { method: 'GET', path: '/hello', check: (body) => (body.toString() === 'Hello World!' ? null : `hello body ${JSON.stringify(body.toString().slice(0, 40))}`) };
    case 1:
      return {
        method: 'GET',
        path: `/big?bytes=${size}`,
        check: (body) => (body.length === size && sha256(body) === hashes.get(size) ? null : `big ${size}: got ${body.length} bytes, wrong content`),
      };
    case 2: {
      const upload = Buffer.concat([...pattern(size)]);
      return {
        method: 'POST',
        path: '/upload-hash',
        body: upload,
        check: (body) => (body.toString() === JSON.stringify({ bytes: size, sha256: hashes.get(size) }) ? null : `upload-hash ${size}: ${body.toString().slice(0, 80)}`),
      };
    }
    default: {
      const upload = randomBytesOf(random, Math.min(size, 300_000));
      return { method: 'PUT', path: '/echo', body: upload, check: (body) => (body.equals(upload) ? null : `echo ${upload.length}: got ${body.length} bytes, wrong content`) };
    }
  }
}

/** One request, judged: complete and right, a complete clean 5xx, a cut the client sees, or wrong. */
function exchange(x: Exchange): Promise<Result> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (verdict: Verdict, detail: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ verdict, detail });
    };
    const timer = setTimeout(() => {
      finish('WRONG', `${x.method} ${x.path}: no answer in ${HANG_MS} ms`);
      req.destroy();
    }, HANG_MS);
    const headers = x.body ? { 'Content-Length': x.body.length } : {};
    const req = request(`${proxy.url}${x.path}`, { method: x.method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', () => finish('cut', 'response error'));
      res.on('aborted', () => finish('cut', 'response aborted'));
      res.on('end', () => {
        if (!res.complete) return finish('cut', 'incomplete body');
        const body = Buffer.concat(chunks);
        const status = res.statusCode!;
        if (status === 200) {
          const wrong = x.check(body, res);
          return wrong ? finish('WRONG', `${x.method} ${x.path}: ${wrong}`) : finish('ok', '');
        }
        if ([502, 503, 504].includes(status)) return finish('clean 5xx', String(status));
        finish('WRONG', `${x.method} ${x.path}: status ${status}`);
      });
    });
    req.on('error', (err) => finish('cut', err.message));
    req.end(x.body);
  });
}

// ---- the chaos ----

/** The runner's workers, from its statistics socket. */
function workerPids(): Promise<number[]> {
  return new Promise((resolve) => {
    let text = '';
    const conn = connect({ path: stats });
    conn.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    conn.on('error', () => resolve([]));
    conn.on('end', () => {
      try {
        resolve((JSON.parse(text) as { workers: Array<{ pid: number }> }).workers.map((w) => w.pid).filter((pid) => pid > 0));
      } catch {
        resolve([]);
      }
    });
  });
}

const stopped = new Set<number>();
function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false; // already gone: the chaos raced a respawn
  }
}
// A stalled worker must never outlive the test stopped.
t.teardown(() => {
  for (const pid of stopped) signal(pid, 'SIGCONT');
});

const actions: Record<string, () => Promise<void>> = {
  'kill -9 a worker': async () => {
    const pid = pick(await workerPids());
    if (pid) signal(pid, 'SIGKILL');
  },
  'stall a worker (SIGSTOP, then SIGCONT)': async () => {
    const pid = pick(await workerPids());
    if (!pid || !signal(pid, 'SIGSTOP')) return;
    stopped.add(pid);
    await pace(300 + random() * 2500); // how long the worker stays stopped
    signal(pid, 'SIGCONT');
    stopped.delete(pid);
  },
  'reload the runner (SIGHUP)': async () => {
    const reloads = runner.proc.logs.filter((l) => l.msg === 'reloaded').length;
    signal(runner.proc.pid, 'SIGHUP');
    await until('the runner reload to complete', () => runner.proc.logs.filter((l) => l.msg === 'reloaded').length > reloads, 60_000);
  },
  'reload the proxy (SIGHUP)': async () => {
    signal(proxy.proc.pid, 'SIGHUP');
  },
  'restart the runner': async () => {
    await runner.proc.stop('SIGTERM');
    // Under this load the machine is busy: allow the new runner more than the helper's 10 s.
    const proc = spawnCli(t, 'runner', ['--socket', `unix:${socket}`, ...RUNNER_ARGS, join(FIXTURES, 'app.js')]);
    runner = { proc, socket };
    await proc.waitForLog((l) => l.msg === 'runner ready', 60_000);
  },
};

// ---- the run ----

t.test(`soak: ${SECONDS} s of load with crashes, stalls, restarts and reloads`, async (t) => {
  const tally: Record<Verdict, number> = { ok: 0, 'clean 5xx': 0, cut: 0, WRONG: 0 };
  const statuses: Record<string, number> = {};
  const wrong: string[] = [];
  const done: Record<string, number> = {};
  /** The longest each action took (a runner restart is down for this long). */
  const took: Record<string, number> = {};
  let loading = true;
  const client = async () => {
    while (loading) {
      const result = await exchange(nextExchange());
      tally[result.verdict]++;
      if (result.verdict === 'clean 5xx' || result.verdict === 'cut') statuses[result.detail] = (statuses[result.detail] ?? 0) + 1;
      if (result.verdict === 'WRONG') wrong.push(result.detail);
      // As a real client would, pause after a failure rather than spin while a runner is down.
      if (result.verdict !== 'ok') await pace(50);
    }
  };

  const clients = Array.from({ length: CLIENTS }, client);
  // Warm: connections open, the heap at its working size.
  await until('a warm-up of 300 requests', () => tally.ok >= 300, 60_000);
  const base = rss(proxy.proc.pid);
  let peak = base;
  const sampler = setInterval(() => {
    if (proxy.proc.running) peak = Math.max(peak, rss(proxy.proc.pid));
  }, 200);
  t.teardown(() => clearInterval(sampler));

  const end = Date.now() + SECONDS * 1000;
  const names = Object.keys(actions);
  for (let i = 0; i < names.length || Date.now() < end; i++) {
    // Every action once early on, however long they take on a busy machine, then at random.
    const name = i < names.length ? names[i]! : pick(names);
    const started = Date.now();
    await actions[name]!();
    done[name] = (done[name] ?? 0) + 1;
    took[name] = Math.max(took[name] ?? 0, Date.now() - started);
    await pace(300 + random() * 900); // the rhythm of the chaos: random gaps
  }
  loading = false;
  await Promise.all(clients);
  clearInterval(sampler);
  // The proxy settles as idle connections close and buffers go: wait (bounded) for that.
  const settled = () => rss(proxy.proc.pid) < base + Math.max(64 * MiB, base / 2);
  await until('the proxy RSS to come back near its start', settled, 20_000).catch(() => undefined);
  const after = rss(proxy.proc.pid);

  const total = Object.values(tally).reduce((a, b) => a + b, 0);
  t.comment(`chaos: ${JSON.stringify(done)}; longest ms: ${JSON.stringify(took)}`);
  t.comment(`${total} requests: ${JSON.stringify(tally)}; failures: ${JSON.stringify(statuses)}`);
  const reasons: Record<string, number> = {};
  let refused = 0;
  for (const l of proxy.proc.logs) {
    if (l.msg !== 'request failed' && l.msg !== 'response aborted') continue;
    const key = `${String(l.code)}: ${String(l.reason).replace(/\d+/g, 'N').slice(0, 60)}`;
    reasons[key] = (reasons[key] ?? 0) + 1;
    if (l.code === 'TSGI_UPSTREAM_REFUSED') refused++;
  }
  t.comment(`the proxy's reasons: ${JSON.stringify(reasons)}`);
  t.comment(`proxy RSS: ${(base / MiB).toFixed(1)} MiB after warm-up, peak ${(peak / MiB).toFixed(1)}, ${(after / MiB).toFixed(1)} after`);
  t.same(wrong.slice(0, 10), [], `no wrong answer passed off as complete (${wrong.length})`);
  t.ok(tally.ok >= 100, 'a real load went through');
  // 502s while the runner is down or a worker dies are expected; a drain refuses nothing the
  // proxy sent before it knew (the runner's two-step GOAWAY), so no request fails as REFUSED.
  t.equal(refused, 0, 'no request failed because the worker it reached was draining');
  t.ok(after < base + Math.max(64 * MiB, base / 2), `proxy RSS back near its start (${((after - base) / MiB).toFixed(1)} MiB above)`);
  t.ok(proxy.proc.running, 'the proxy is alive');
  t.ok(runner.proc.running, 'the runner is alive');

  // Once the chaos is over, everything works again: no failure at all.
  await until('a request to succeed after the chaos', async () => (await exchange({ method: 'GET', path: '/hello', check: () => null })).verdict === 'ok');
  const calm = await Promise.all(Array.from({ length: 100 }, () => exchange(nextExchange())));
  t.same(calm.filter((r) => r.verdict !== 'ok'), [], '100 requests after the chaos all succeed');
});
