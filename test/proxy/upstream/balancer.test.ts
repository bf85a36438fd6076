import t from 'tap';
import { Balancer, type BalanceMethod, type PickRequest } from '../../../proxy/upstream/balancer.js';
import type { Peer, PeerConfig } from '../../../proxy/upstream/peers.js';

function peer(name: string, options: Partial<PeerConfig> = {}): PeerConfig {
  return { name, weight: 1, maxFails: 1, failTimeoutMs: 10_000, maxConns: 0, backup: false, down: false, slowStartMs: 0, ...options };
}

function setup(primaries: PeerConfig[], backups: PeerConfig[] = [], method: BalanceMethod = { kind: 'round_robin' }) {
  let clock = 1_000_000;
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const balancer = new Balancer(primaries, backups, method, () => clock, random);
  const request = (extra: Partial<PickRequest> = {}): PickRequest => ({ remoteAddress: '10.0.0.1', hashKey: '', tried: new Set(), ...extra });
  const pick = (extra?: Partial<PickRequest>) => balancer.pick(request(extra))?.name ?? null;
  const sequence = (n: number) => Array.from({ length: n }, () => pick()).join(' ');
  const byName = (name: string): Peer => [...balancer.primary.peers, ...(balancer.backup?.peers ?? [])].find((p) => p.name === name)!;
  return { balancer, pick, sequence, byName, advance: (ms: number) => (clock += ms) };
}

t.test('smooth weighted round robin: the sequences nginx produces', async (t) => {
  t.equal(setup([peer('a', { weight: 5 }), peer('b'), peer('c')]).sequence(14), 'a a b a c a a a a b a c a a');
  t.equal(setup([peer('a', { weight: 3 }), peer('b', { weight: 2 }), peer('c')]).sequence(12), 'a b a c b a a b a c b a');
  t.equal(setup([peer('a'), peer('b'), peer('c')]).sequence(6), 'a b c a b c');
  t.equal(setup([peer('a', { weight: 2 }), peer('b', { weight: 2 })]).sequence(4), 'a b a b');
});

t.test('down servers are skipped; backups serve only when every primary is unavailable', async (t) => {
  const { sequence, balancer, byName } = setup([peer('a', { weight: 5 }), peer('b', { down: true }), peer('c')], [peer('x'), peer('y')]);
  t.equal(sequence(6), 'a a a c a a', 'b is down: 5/1 over a and c');
  balancer.failure(byName('a'));
  balancer.failure(byName('c'));
  t.equal(sequence(4), 'x y x y', 'both primaries failed: the backups, round robin');
});

t.test('max_fails within fail_timeout, then a trial request, then recovery', async (t) => {
  const { pick, balancer, byName, advance, sequence } = setup([peer('a', { maxFails: 2, failTimeoutMs: 10_000 }), peer('b', { maxFails: 2 })]);
  const a = byName('a');
  t.equal(balancer.failure(a), 'counted', 'one failure: still in');
  t.equal(balancer.failure(a), 'disabled', 'max_fails reached');
  t.equal(sequence(4), 'b b b b', 'a is out for fail_timeout');
  advance(10_001);
  const picks = Array.from({ length: 4 }, () => pick());
  t.ok(picks.includes('a'), 'after fail_timeout a gets a trial request');
  balancer.success(a);
  t.equal(a.fails, 0, 'a success after the window clears the failures');
  t.ok(a.effectiveWeight >= 1);
});

t.test('a failure lowers the effective weight; picks raise it back one by one', async (t) => {
  const { balancer, byName, pick } = setup([peer('a', { weight: 4, maxFails: 4 }), peer('b', { weight: 4, maxFails: 4 })]);
  const a = byName('a');
  balancer.failure(a);
  t.equal(a.effectiveWeight, 3, 'weight / max_fails taken off');
  pick();
  t.equal(a.effectiveWeight, 4, 'restored by one per round');
});

t.test('a single server is never marked unavailable', async (t) => {
  const { balancer, byName, sequence } = setup([peer('only', { maxFails: 1 })]);
  t.equal(balancer.failure(byName('only')), 'ignored');
  t.equal(sequence(3), 'only only only');
});

t.test('max_conns and the tried set', async (t) => {
  const { pick, byName } = setup([peer('a', { maxConns: 1 }), peer('b')]);
  byName('a').conns = 1;
  t.equal(pick(), 'b', 'a is at max_conns');
  byName('a').conns = 0;
  t.equal(pick({ tried: new Set([byName('a')]) }), 'b', 'a retry does not pick a server twice');
  t.equal(pick({ tried: new Set([byName('a'), byName('b')]) }), null, 'nothing left');
});

t.test('least_conn: fewest connections per weight, ties by weighted round robin', async (t) => {
  const { pick, byName } = setup([peer('a'), peer('b'), peer('c', { weight: 2 })], [], { kind: 'least_conn' });
  byName('a').conns = 3;
  byName('b').conns = 1;
  byName('c').conns = 4;
  t.equal(pick(), 'b', '1/1 beats 3/1 and 4/2');
  byName('b').conns = 2;
  const tie = [pick(), pick(), pick()].sort().join(' ');
  t.equal(tie, 'b c c', 'b (2/1) and c (4/2) tie: shared 1:2 by weight');
});

t.test('ip_hash: one /24 sticks to one server; addresses spread', async (t) => {
  const { pick } = setup([peer('a'), peer('b'), peer('c')], [], { kind: 'ip_hash' });
  const first = pick({ remoteAddress: '192.168.7.10' });
  for (const host of [1, 50, 200, 254]) t.equal(pick({ remoteAddress: `192.168.7.${host}` }), first);
  const spread = new Set(Array.from({ length: 60 }, (_, i) => pick({ remoteAddress: `10.${i}.1.1` })));
  t.equal(spread.size, 3, 'every server gets some networks');
  t.equal(pick({ remoteAddress: '::ffff:192.168.7.99' }), first, 'IPv4-mapped IPv6 hashes as IPv4');
});

t.test('ip_hash: a failed server rehashes to another, and the same one stays chosen', async (t) => {
  const { pick, balancer, byName } = setup([peer('a'), peer('b'), peer('c')], [], { kind: 'ip_hash' });
  const first = pick({ remoteAddress: '172.16.5.5' })!;
  balancer.failure(byName(first));
  const second = pick({ remoteAddress: '172.16.5.5' });
  t.not(second, first);
  t.equal(pick({ remoteAddress: '172.16.5.5' }), second);
});

t.test('hash KEY: the same key, the same server', async (t) => {
  const { pick } = setup([peer('a'), peer('b'), peer('c')], [], { kind: 'hash', key: '$request_uri', consistent: false });
  for (const key of ['/x', '/y', '/users/42']) {
    const first = pick({ hashKey: key });
    for (let i = 0; i < 5; i++) t.equal(pick({ hashKey: key }), first, key);
  }
  const spread = new Set(Array.from({ length: 100 }, (_, i) => pick({ hashKey: `/item/${i}` })));
  t.equal(spread.size, 3);
});

t.test('hash KEY consistent: adding a server moves only about its share of keys', async (t) => {
  const keys = Array.from({ length: 3000 }, (_, i) => `/object/${i}`);
  const method: BalanceMethod = { kind: 'hash', key: '$uri', consistent: true };
  const three = setup([peer('unix:/run/a.sock'), peer('unix:/run/b.sock'), peer('unix:/run/c.sock')], [], method);
  const four = setup([peer('unix:/run/a.sock'), peer('unix:/run/b.sock'), peer('unix:/run/c.sock'), peer('unix:/run/d.sock')], [], method);
  let moved = 0;
  for (const key of keys) {
    const before = three.pick({ hashKey: key });
    const after = four.pick({ hashKey: key });
    if (before !== after) {
      moved++;
      t.equal(after, 'unix:/run/d.sock', 'a key only ever moves to the new server');
    }
  }
  const share = moved / keys.length;
  t.ok(share > 0.15 && share < 0.35, `moved ${(share * 100).toFixed(1)}% of keys (ideal 25%)`);
  const plain = setup([peer('a'), peer('b'), peer('c')], [], { kind: 'hash', key: '$uri', consistent: false });
  const plainFour = setup([peer('a'), peer('b'), peer('c'), peer('d')], [], { kind: 'hash', key: '$uri', consistent: false });
  const plainMoved = keys.filter((k) => plain.pick({ hashKey: k }) !== plainFour.pick({ hashKey: k })).length / keys.length;
  t.ok(plainMoved > share, `plain hashing moves more (${(plainMoved * 100).toFixed(1)}%)`);
});

t.test('random and random two', async (t) => {
  const { pick } = setup([peer('a', { weight: 3 }), peer('b')], [], { kind: 'random', two: false });
  const counts = { a: 0, b: 0 } as Record<string, number>;
  for (let i = 0; i < 4000; i++) counts[pick()!]!++;
  t.ok(counts.a! / 4000 > 0.68 && counts.a! / 4000 < 0.82, `weighted: a got ${counts.a}`);
  const two = setup([peer('a'), peer('b')], [], { kind: 'random', two: true });
  two.byName('a').conns = 10;
  const picks = Array.from({ length: 200 }, () => two.pick());
  t.ok(picks.filter((p) => p === 'b').length > 140, 'two draws: the less loaded wins whenever both are drawn');
});

t.test('nginx details: an empty hash key, least_conn backups, two distinct draws', async (t) => {
  const hashed = setup([peer('a'), peer('b')], [], { kind: 'hash', key: '$arg_id', consistent: false });
  t.equal([hashed.pick({ hashKey: '' }), hashed.pick({ hashKey: '' }), hashed.pick({ hashKey: '' })].join(' '), 'a b a', 'no key: round robin');
  const lc = setup([peer('a')], [peer('x'), peer('y')], { kind: 'least_conn' });
  lc.byName('a').conns = 0;
  lc.balancer.failure(lc.byName('a'));
  lc.byName('x').conns = 5;
  t.equal(lc.pick(), 'y', 'the backups are balanced by least_conn too');
  const two = setup([peer('a'), peer('b')], [], { kind: 'random', two: true });
  two.byName('b').conns = 3;
  t.equal(
    Array.from({ length: 50 }, () => two.pick()).filter((p) => p === 'b').length,
    0,
    'with two servers, the two draws are a and b: the less loaded (a) always wins',
  );
});

t.test('a reloaded group keeps the health of the servers that stay', async (t) => {
  const { UpstreamGroup } = await import('../../../proxy/upstream/group.js');
  const fakeServer = (name: string) => ({ name, warm() {}, close() {}, destroy() {} }) as never;
  const log = { warn() {}, info() {} } as never;
  const members = (names: string[]) => names.map((name) => ({ server: fakeServer(name), peer: peer(name, { maxFails: 1, failTimeoutMs: 60_000 }) }));
  const before = new UpstreamGroup('g', members(['a', 'b']), { kind: 'round_robin' }, log);
  const tried = new Set<never>();
  const choice = before.pick({ remoteAddress: '', hashKey: '', tried });
  before.done(choice!, true); // 'a' fails: out for fail_timeout
  const after = new UpstreamGroup('g', members(['a', 'b', 'c']), { kind: 'round_robin' }, log);
  after.inheritHealth(before);
  const picks = Array.from({ length: 4 }, () => after.pick({ remoteAddress: '', hashKey: '', tried: new Set() })!.peer.name);
  t.notOk(picks.includes(choice!.peer.name), `the failed server stays out after the reload (${picks.join(' ')})`);
});

t.test('queue: requests wait for a server below max_conns, bounded in number and time', async (t) => {
  const { UpstreamGroup } = await import('../../../proxy/upstream/group.js');
  const fakeServer = { name: 'a', warm() {}, close() {}, destroy() {} } as never;
  const log = { warn() {}, info() {} } as never;
  const group = new UpstreamGroup('g', [{ server: fakeServer, peer: peer('a', { maxConns: 1 }) }], { kind: 'round_robin' }, log, { size: 1, timeoutMs: 300 });
  const request = () => ({ remoteAddress: '', hashKey: '', tried: new Set<never>() });
  const first = await group.pickOrWait(request());
  t.ok(first && first !== 'busy', 'the first request gets the server');
  const waiting = group.pickOrWait(request());
  t.equal(await group.pickOrWait(request()), 'busy', 'the queue (1) is full: 503 at once');
  group.done(first as never, false);
  const second = await waiting;
  t.ok(second && second !== 'busy', 'the waiter gets the freed server');
  const started = Date.now();
  t.equal(await group.pickOrWait(request()), 'busy', 'nobody frees it: the wait times out');
  // libuv's timers run on the loop's cached clock and may fire a ms early by Date.now().
  t.ok(Date.now() - started >= 240, 'after the queue timeout');
  const plain = new UpstreamGroup('p', [{ server: fakeServer, peer: peer('a', { maxConns: 1 }) }], { kind: 'round_robin' }, log);
  t.ok(await plain.pickOrWait(request()));
  t.equal(await plain.pickOrWait(request()), null, 'without a queue: no server at once');
});

t.test('health: an unhealthy server is skipped; slow_start ramps its weight back up', async (t) => {
  const { balancer, byName, sequence, advance } = setup([peer('a', { weight: 4, slowStartMs: 10_000 }), peer('b', { weight: 4 })]);
  byName('a').unhealthy = true;
  t.equal(sequence(4), 'b b b b', 'a is out while unhealthy');
  byName('a').unhealthy = false;
  byName('a').recoveredAt = 1_000_000; // the setup clock's start: a just came back
  advance(2_500); // a quarter of slow_start: weight 1 of 4
  t.equal(byName('a').rampedWeight(1_002_500), 1);
  const early = sequence(10).split(' ').filter((p) => p === 'a').length;
  advance(10_000);
  const later = sequence(10).split(' ').filter((p) => p === 'a').length;
  t.ok(early < later, `a's share grows: ${early}/10 early, ${later}/10 after slow_start`);
  t.equal(later, 5, 'back to an even split');
  void balancer;
});
