// Issue #6: a slowloris of 1,000 connections, each trickling header bytes and never ending its
// head, must not starve normal clients, and client_header_timeout must close every one of them
// (408) even though bytes keep arriving.
import type { Socket } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { exchangeRaw, openRaw } from '../helpers/raw.js';
import { FIXTURES, pace, simpleConfig, startProxy, startRunner, tempDir, until } from '../helpers/processes.js';

const CONNECTIONS = 1000;
// Long enough that the whole herd is open before the first one times out, even on a busy machine.
const HEADER_TIMEOUT_MS = 5000;
const DRIP_MS = 400;

const dir = tempDir(t);
const socket = join(dir, 'app.sock');
await startRunner(t, { app: join(FIXTURES, 'recording-app.js'), socket });
const proxy = await startProxy(t, dir, simpleConfig(socket, { server: `client_header_timeout ${HEADER_TIMEOUT_MS}ms;` }));

interface Loris {
  socket: Socket;
  opened: number;
  closedAfter: number | null;
  text: string;
}

async function openLoris(): Promise<Loris> {
  const loris: Loris = { socket: await openRaw(proxy.port), opened: performance.now(), closedAfter: null, text: '' };
  loris.socket.setEncoding('latin1');
  loris.socket.on('data', (d: string) => (loris.text += d));
  loris.socket.on('error', () => undefined);
  loris.socket.on('close', () => (loris.closedAfter = performance.now() - loris.opened));
  loris.socket.write('GET /slowloris HTTP/1.1\r\nHost: tsgi.test\r\n');
  return loris;
}

t.test('1,000 trickling connections: normal clients still served, all of them cut by client_header_timeout', async (t) => {
  const herd: Loris[] = [];
  t.teardown(() => herd.forEach((l) => l.socket.destroy()));
  // In batches, so the listen backlog never overflows (that would test the kernel, not us).
  for (let i = 0; i < CONNECTIONS; i += 100) herd.push(...(await Promise.all(Array.from({ length: 100 }, openLoris))));
  const drip = setInterval(() => {
    for (const loris of herd) if (loris.closedAfter === null) loris.socket.write('X-Drip: a\r\n');
  }, DRIP_MS);
  t.teardown(() => clearInterval(drip));

  // While the herd drips, normal requests on fresh connections are answered promptly.
  t.equal(herd.filter((l) => l.closedAfter !== null).length, 0, 'the whole herd is connected when normal clients come');
  const latencies: number[] = [];
  for (let i = 0; i < 10; i++) {
    const reply = await exchangeRaw(proxy.port, Buffer.from('GET /normal HTTP/1.1\r\nHost: tsgi.test\r\nConnection: close\r\n\r\n'));
    t.match(reply.text, /^HTTP\/1\.1 200 /, `normal request ${i} answered`);
    latencies.push(reply.ms);
    await pace(100); // normal clients spread over the herd's lifetime
  }
  t.ok(Math.max(...latencies) < 4000, `normal requests took at most ${Math.round(Math.max(...latencies))} ms`);

  // Then the deadline: every loris is closed, with a 408, though it never stopped sending.
  await until('every slowloris connection to close', () => herd.every((l) => l.closedAfter !== null), HEADER_TIMEOUT_MS + 20_000).catch(() => undefined);
  const open = herd.filter((l) => l.closedAfter === null).length;
  t.equal(open, 0, 'every slowloris connection closed');
  // `opened` is taken when the test sees the connect, up to a batch of 100 connects after the
  // proxy started its timer: a second of slack.
  const early = herd.filter((l) => l.closedAfter !== null && l.closedAfter < HEADER_TIMEOUT_MS - 1000).length;
  t.equal(early, 0, 'none before client_header_timeout');
  t.equal(herd.filter((l) => /^HTTP\/1\.1 408 /.test(l.text)).length, CONNECTIONS, 'each answered 408');
  const slowest = Math.max(...herd.map((l) => l.closedAfter ?? Infinity));
  t.ok(slowest < HEADER_TIMEOUT_MS * 4, `the last one closed after ${Math.round(slowest)} ms`);
});
