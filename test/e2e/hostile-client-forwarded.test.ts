// Issue #6: what a client may claim about itself. X-Forwarded-For, X-Real-IP and Forwarded
// move REMOTE_ADDR only when the peer is trusted (set_real_ip_from), as nginx's realip; header
// names with '_' or odd characters are dropped by default; the path the app gets is the
// normalised one the location was chosen for.
import { join } from 'node:path';
import t from 'tap';
import { exchangeRaw } from '../helpers/raw.js';
import { FIXTURES, simpleConfig, startProxy, startRunner, tempDir } from '../helpers/processes.js';

const dir = tempDir(t);
const socket = join(dir, 'app.sock');
await startRunner(t, { app: join(FIXTURES, 'recording-app.js'), socket });
const peerParam = 'tsgi_param PEER $realip_remote_addr;';
const plain = await startProxy(t, dir, simpleConfig(socket, { location: peerParam }));
const trusting = await startProxy(
  t,
  dir,
  simpleConfig(socket, {
    server: 'set_real_ip_from 127.0.0.0/8; set_real_ip_from ::1; real_ip_header X-Forwarded-For; real_ip_recursive on; underscores_in_headers on;',
    location: peerParam,
  }),
);

interface Seen {
  path: string;
  remoteAddr: string;
  peer: string | null;
  headers: string[];
}

async function get(port: number, target: string, headers: string): Promise<Seen> {
  const reply = await exchangeRaw(port, Buffer.from(`GET ${target} HTTP/1.1\r\nHost: tsgi.test\r\n${headers}Connection: close\r\n\r\n`, 'latin1'));
  const [head] = reply.text.split('\r\n\r\n');
  if (!/^HTTP\/1\.1 200 /.test(head!)) throw new Error(`unexpected answer: ${head}`);
  // The body comes chunked: the JSON is the one chunk between the framing lines.
  return JSON.parse(reply.text.slice(reply.text.indexOf('{'), reply.text.lastIndexOf('}') + 1)) as Seen;
}

const CLAIMS = 'X-Forwarded-For: 6.6.6.6, 198.51.100.7\r\nX-Real-IP: 198.51.100.8\r\nForwarded: for=198.51.100.9\r\n';

t.test('an untrusted peer cannot choose its REMOTE_ADDR', async (t) => {
  const seen = await get(plain.port, '/who', CLAIMS);
  t.equal(seen.remoteAddr, '127.0.0.1');
  t.equal(seen.peer, '127.0.0.1');
});

t.test('a trusted peer names the client; $realip_remote_addr keeps the peer', async (t) => {
  const seen = await get(trusting.port, '/who', CLAIMS);
  t.equal(seen.remoteAddr, '198.51.100.7', 'the last untrusted address of X-Forwarded-For');
  t.equal(seen.peer, '127.0.0.1');
  const chain = await get(trusting.port, '/who', 'X-Forwarded-For: 198.51.100.1, 127.0.0.5\r\n');
  t.equal(chain.remoteAddr, '198.51.100.1', 'recursive: trusted hops are skipped');
  const junk = await get(trusting.port, '/who', 'X-Forwarded-For: not-an-address\r\n');
  t.equal(junk.remoteAddr, '127.0.0.1', 'an invalid address changes nothing');
});

t.test('header names: underscores and invalid characters', async (t) => {
  const names = 'X_Under: 1\r\nX.Dot: 2\r\nX-Fine: 3\r\n';
  const dropped = await get(plain.port, '/names', names);
  t.same(dropped.headers, ['HTTP_HOST', 'HTTP_X_FINE'], 'by default only X-Fine passes');
  const kept = await get(trusting.port, '/names', names);
  t.same(kept.headers, ['HTTP_HOST', 'HTTP_X_FINE', 'HTTP_X_UNDER'], 'underscores_in_headers on: X_Under passes, X.Dot still not');
});

t.test('the app gets the normalised path', async (t) => {
  t.equal((await get(plain.port, '//a/./b/../c%2F..%2Fd', '')).path, '/a/d');
  t.equal((await get(plain.port, '/a/%2e%2E/b', '')).path, '/b');
  const above = await exchangeRaw(plain.port, Buffer.from('GET /a/../../b HTTP/1.1\r\nHost: tsgi.test\r\n\r\n'));
  t.match(above.text, /^HTTP\/1\.1 400 /, "'..' above the root");
  const kept = await startProxy(t, dir, simpleConfig(socket, { server: 'merge_slashes off;' }));
  t.equal((await get(kept.port, '//a//b', '')).path, '//a//b', 'merge_slashes off');
});
