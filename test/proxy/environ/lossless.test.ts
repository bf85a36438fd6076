// PATH_INFO carries every byte of the path: percent-encoded or raw, each byte
// 0x01–0xFF comes out as the one latin-1 char with that code.
import t from 'tap';
import { buildEnviron, type EnvironInput } from '../../../proxy/environ.js';

function input(target: string): EnvironInput {
  return {
    method: 'GET', target, httpVersion: '1.1', rawHeaders: [], remoteAddress: '127.0.0.1', remotePort: 1,
    serverName: 'localhost', serverPort: 80, scheme: 'http', scriptName: '', params: [], requestId: 'r',
  };
}

function environOf(target: string) {
  const i = input(target);
  return buildEnviron(i, i);
}

const hex = (b: number) => '%' + b.toString(16).padStart(2, '0');

t.test('every byte, encoded, upper and lower hex', async (t) => {
  for (let b = 1; b <= 0xff; b++) {
    const want = '/x' + String.fromCharCode(b) + 'y';
    t.equal(environOf('/x' + hex(b).toUpperCase() + 'y').PATH_INFO, want, `${hex(b)} upper`);
    t.equal(environOf('/x' + hex(b) + 'y').PATH_INFO, want, `${hex(b)} lower`);
  }
});

t.test('seeded random byte paths round-trip', async (t) => {
  let seed = 0x2545f491;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8;
  for (let round = 0; round < 200; round++) {
    const bytes = Buffer.alloc(1 + (next() % 64));
    for (let i = 0; i < bytes.length; i++) bytes[i] = 1 + (next() % 255);
    // Encode some bytes, leave printable ones (other than % ? #) raw at random.
    let target = '/';
    for (const b of bytes) {
      const raw = b > 0x20 && b !== 0x25 && b !== 0x3f && b !== 0x23 && next() % 2 === 0;
      target += raw ? String.fromCharCode(b) : hex(b);
    }
    const want = '/' + bytes.toString('latin1');
    t.equal(environOf(target).PATH_INFO, want, `round ${round}`);
  }
});
