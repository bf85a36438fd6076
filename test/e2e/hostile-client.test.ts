// Issue #6: the hostile-request corpus (test/proxy/hostile/cases) against a real proxy and
// runner. Each case is sent as raw bytes on its own connection; the proxy must answer the
// expected status, close the connection, log the expected line exactly once, and the app
// must never see the request (nor anything smuggled inside it).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { FIXTURES, ROOT, simpleConfig, startProxy, startRunner, tempDir, type LogLine } from '../helpers/processes.js';
import { exchangeRaw } from '../helpers/raw.js';

interface Expected {
  description: string;
  status: number;
  log: { msg: string; code: string; reason: string; parser?: string };
}

const CASES = join(ROOT, 'test/proxy/hostile/cases');
const names = readdirSync(CASES).filter((f) => f.endsWith('.http')).map((f) => f.slice(0, -'.http'.length)).sort();

const dir = tempDir(t);
const socket = join(dir, 'app.sock');
const runner = await startRunner(t, { app: join(FIXTURES, 'recording-app.js'), socket });
const proxy = await startProxy(t, dir, simpleConfig(socket));

/** The lines that say why a request was refused (not the access lines). */
const refusals = (l: LogLine) => l.msg === 'client error' || l.msg === 'request failed';

t.test('corpus layout', async (t) => {
  t.ok(names.length >= 50, `${names.length} cases`);
  for (const name of names) {
    t.match(name, /^\d{3}-[a-z0-9-]+$/, `${name} is named NNN-short-name`);
    t.doesNotThrow(() => JSON.parse(readFileSync(join(CASES, `${name}.json`), 'utf8')), `${name}.json exists and parses`);
  }
});

for (const name of names) {
  const raw = readFileSync(join(CASES, `${name}.http`));
  const expected = JSON.parse(readFileSync(join(CASES, `${name}.json`), 'utf8')) as Expected;
  t.test(`${name}: ${expected.description}`, async (t) => {
    const before = proxy.proc.logs.length;
    const reply = await exchangeRaw(proxy.port, raw);
    t.match(reply.text, new RegExp(`^HTTP/1\\.1 ${expected.status} `), `answered ${expected.status}`);
    t.ok(reply.closed, 'the proxy closed the connection');
    t.match(reply.text, /\r\nConnection: close\r\n/i, 'and said so');
    const line = await proxy.proc.waitForLog((l) => refusals(l) && proxy.proc.logs.indexOf(l) >= before);
    t.match(line, { msg: expected.log.msg, code: expected.log.code, status: expected.status }, 'the log line');
    t.match(String(line.reason), new RegExp(expected.log.reason), 'with the reason');
    if (expected.log.parser) t.equal(line.parser, expected.log.parser, "with llhttp's code");
    const ours = proxy.proc.logs.slice(before).filter(refusals);
    t.equal(ours.length, 1, 'logged once');
  });
}

t.test('none of them reached the app', async (t) => {
  // A normal request after the corpus: once the app logged it, anything sent before it has
  // been logged too (one runner connection, streams in order).
  const reply = await exchangeRaw(proxy.port, Buffer.from('GET /after-the-corpus HTTP/1.1\r\nHost: tsgi.test\r\nConnection: close\r\n\r\n'));
  t.match(reply.text, /^HTTP\/1\.1 200 /);
  await runner.proc.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('complete GET /after-the-corpus'));
  const seen = runner.proc.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('/hostile'));
  t.same(seen.map((l) => l.msg), [], 'the runner saw no hostile request and nothing smuggled');
});
