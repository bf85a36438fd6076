/**
 * proxy/access-log.ts: an access line is the line pino itself writes for the same fields, byte
 * for byte but the time, whatever the client put in the URI; nothing is written below `info`.
 */
import pino from 'pino';
import t from 'tap';
import { logAccess, microsAsMillis, type Access } from '../../proxy/access-log.js';

function capture(level = 'info') {
  const lines: string[] = [];
  const log = pino({ level, base: { pid: 4242, name: 'tsgi-proxy', worker: 2 } }, { write: (line: string) => void lines.push(line) });
  return { log, lines };
}

const withoutTime = (line: string) => line.replace(/"time":\d+/, '"time":0');

const ACCESS: Access = { reqId: '0123456789abcdef0123456789abcdef', method: 'GET', uri: '/', status: 200, bytes: 12, ms: '0.25', upstream: 'unix:/run/tsgi/app.sock' };

const URIS = ['/', '/a"b', '/back\\slash', '/tab\there', '/nul\u0000', '/bell\u0007x', '/é€', '/😀', '/?q=' + 'x'.repeat(5000), '/\u007f\u0080\u00ff'];

t.test('the line is the one pino writes for the same fields', async (t) => {
  for (const uri of URIS) {
    for (const extra of [{}, { aborted: true }, { code: 'UPSTREAM_TIMEOUT' }, { aborted: true, code: 'CLIENT_CLOSED' }]) {
      const ours = capture();
      const theirs = capture();
      const access = { ...ACCESS, uri, ...extra };
      logAccess(ours.log, access);
      theirs.log.info({ ...access, ms: Number(access.ms) }, 'access');
      t.equal(ours.lines.length, 1);
      t.equal(withoutTime(ours.lines[0]!), withoutTime(theirs.lines[0]!), `uri ${JSON.stringify(uri.slice(0, 20))} ${JSON.stringify(extra)}`);
      const parsed = JSON.parse(ours.lines[0]!);
      t.equal(parsed.uri, uri, 'the URI reads back as the client sent it');
      t.ok(Math.abs(parsed.time - Date.now()) < 60_000, 'time is now, in ms');
    }
  }
});

t.test('a child logger\'s bindings are on the line', async (t) => {
  const { log, lines } = capture();
  logAccess(log.child({ server: 'api' }), ACCESS);
  t.match(JSON.parse(lines[0]!), { pid: 4242, name: 'tsgi-proxy', worker: 2, server: 'api', msg: 'access', level: 30 });
});

t.test('below info nothing is written', async (t) => {
  const { log, lines } = capture('warn');
  logAccess(log, ACCESS);
  t.same(lines, []);
  log.level = 'info';
  logAccess(log, ACCESS);
  t.equal(lines.length, 1, 'a level lowered at run time applies');
});

t.test('milliseconds print as JavaScript prints us / 1000', async (t) => {
  let wrong = 0;
  for (let us = 0; us < 200_000; us++) if (microsAsMillis(us) !== String(us / 1000)) wrong++;
  for (let us = 200_000; us < 5e9; us += 7919) if (microsAsMillis(us) !== String(us / 1000)) wrong++;
  t.equal(wrong, 0);
  t.equal(microsAsMillis(1500), '1.5');
  t.equal(microsAsMillis(2000), '2');
  t.equal(microsAsMillis(7), '0.007');
});
