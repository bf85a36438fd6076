// nginx's realip module as pure functions: who may name the client, and which address of the
// list is the client's (expected values follow ngx_http_get_forwarded_addr_internal).
import t from 'tap';
import { isTrusted, parseTrustedSource, realAddress, type RealIpConfig, type TrustedSource } from '../../proxy/realip.js';

const sources = (...texts: string[]): TrustedSource[] => texts.map((text) => parseTrustedSource(text)!);
const config = (from: string[], header = 'X-Forwarded-For', recursive = false): RealIpConfig => ({ from: sources(...from), header, recursive });
const peer = (address: string, port = 5555) => ({ address, port });

t.test('set_real_ip_from: addresses, networks, unix:', async (t) => {
  for (const bad of ['', 'example.com', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/a', '::1/129', '10.0.0.256', 'unix:/x']) {
    t.equal(parseTrustedSource(bad), null, `refused: ${JSON.stringify(bad)}`);
  }
  const from = sources('10.0.0.0/8', '192.168.1.7', '2001:db8::/32', 'unix:');
  t.ok(isTrusted('10.200.3.4', from));
  t.notOk(isTrusted('11.0.0.1', from));
  t.ok(isTrusted('192.168.1.7', from));
  t.notOk(isTrusted('192.168.1.8', from), 'a bare address is a /32');
  t.ok(isTrusted('2001:db8:ffff::1', from));
  t.notOk(isTrusted('2001:db9::1', from));
  t.ok(isTrusted('::ffff:10.1.2.3', from), 'an IPv4-mapped peer is its IPv4 address');
  t.ok(isTrusted('unix:', from));
  t.notOk(isTrusted('unix:', sources('127.0.0.1')), 'unix: only when listed');
  t.ok(isTrusted('10.0.0.1', sources('10.9.9.9/8')), 'host bits of a network are ignored');
  t.ok(isTrusted('1.2.3.4', sources('0.0.0.0/0')));
  t.ok(isTrusted('::1', sources('::/0')));
  t.notOk(isTrusted('::1', sources('0.0.0.0/0')), 'families do not mix');
});

t.test('an untrusted peer keeps its address whatever it sends', async (t) => {
  const c = config(['10.0.0.0/8']);
  t.same(realAddress(peer('203.0.113.9'), ['1.1.1.1'], c), peer('203.0.113.9'));
  t.same(realAddress(peer('203.0.113.9'), ['1.1.1.1'], config([])), peer('203.0.113.9'), 'nothing trusted by default');
});

t.test('recursive off: the last address of the list', async (t) => {
  const c = config(['10.0.0.0/8']);
  t.same(realAddress(peer('10.0.0.1'), ['1.1.1.1, 10.0.0.2'], c), { address: '10.0.0.2', port: 0 }, 'even a trusted one');
  t.same(realAddress(peer('10.0.0.1'), ['6.6.6.6', '1.1.1.1'], c), { address: '1.1.1.1', port: 0 }, 'lines joined in order');
  t.same(realAddress(peer('10.0.0.1'), ['1.1.1.1 ,  '], c), { address: '1.1.1.1', port: 0 }, 'trailing commas and spaces');
  t.same(realAddress(peer('10.0.0.1'), ['1.1.1.1:8080'], c), { address: '1.1.1.1', port: 8080 }, 'with a port');
  t.same(realAddress(peer('10.0.0.1'), ['[2001:db8::5]:443'], c), { address: '2001:db8::5', port: 443 });
  t.same(realAddress(peer('10.0.0.1'), ['garbage'], c), peer('10.0.0.1'), 'an invalid address changes nothing');
  t.same(realAddress(peer('10.0.0.1'), [''], c), peer('10.0.0.1'));
});

t.test('recursive on: from the right, past trusted addresses', async (t) => {
  const c = config(['10.0.0.0/8', '192.168.0.0/16'], 'X-Forwarded-For', true);
  t.same(realAddress(peer('10.0.0.1'), ['6.6.6.6, 1.1.1.1, 192.168.0.3, 10.0.0.2'], c), { address: '1.1.1.1', port: 0 }, 'the first untrusted from the right');
  t.same(realAddress(peer('10.0.0.1'), ['10.0.0.4, 10.0.0.3'], c), { address: '10.0.0.4', port: 0 }, 'all trusted: the leftmost');
  t.same(realAddress(peer('10.0.0.1'), ['bad, 10.0.0.3'], c), { address: '10.0.0.3', port: 0 }, 'stops at an invalid one, keeping the last good');
  t.same(realAddress(peer('203.0.113.1'), ['1.1.1.1'], c), peer('203.0.113.1'), 'the peer must be trusted first');
});

t.test('X-Real-IP and other headers: the first line only', async (t) => {
  const c = config(['unix:'], 'X-Real-IP');
  t.same(realAddress(peer('unix:', 0), ['198.51.100.4', '6.6.6.6'], c), { address: '198.51.100.4', port: 0 });
  t.same(realAddress(peer('unix:', 0), [], c), peer('unix:', 0), 'no header, no change');
});
