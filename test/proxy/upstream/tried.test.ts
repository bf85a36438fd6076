/** proxy/upstream/tried.ts: TriedPeers answers as a Set of the same peers would, whatever the order of adds and deletes. */
import t from 'tap';
import { Peer } from '../../../proxy/upstream/peers.js';
import { TriedPeers } from '../../../proxy/upstream/tried.js';

t.test('the same answers as a Set', async (t) => {
  const peers = ['a', 'b', 'c', 'd'].map((name) => new Peer({ name, weight: 1, maxFails: 1, failTimeoutMs: 10_000, maxConns: 0, backup: false, down: false, slowStartMs: 0 }));
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let mismatches = 0;
  for (let round = 0; round < 200; round++) {
    const tried = new TriedPeers();
    const set = new Set<Peer>();
    for (let step = 0; step < 12; step++) {
      const peer = peers[Math.floor(random() * peers.length)]!;
      if (random() < 0.7) {
        tried.add(peer);
        set.add(peer);
      } else {
        tried.delete(peer);
        set.delete(peer);
      }
      if (tried.size !== set.size) mismatches++;
      for (const p of peers) if (tried.has(p) !== set.has(p)) mismatches++;
    }
  }
  t.equal(mismatches, 0);
});
