import { readFileSync } from 'node:fs';
import t from 'tap';
import { HOP_BY_HOP, isFieldValue, isHopByHopName, isToken } from '../../protocol/index.js';
import { source } from '../helpers/root.js';

interface HeadVector {
  name: 'token' | 'fieldValue' | 'hopByHop';
  cases: [string, boolean][];
}

const file = source('protocol/vectors/head.json');
const vectors = (JSON.parse(readFileSync(file, 'utf8')) as { vectors: HeadVector[] }).vectors;
const checks = { token: isToken, fieldValue: isFieldValue, hopByHop: isHopByHopName };

t.test('protocol/vectors/head.json: every rule, every case', async (t) => {
  t.same(vectors.map((v) => v.name).sort(), Object.keys(checks).sort(), 'a vector per rule');
  for (const vector of vectors) {
    for (const [text, want] of vector.cases) t.equal(checks[vector.name](text), want, `${vector.name} ${JSON.stringify(text)}`);
  }
});

t.test('HOP_BY_HOP is the list SPEC.md §7 names', async (t) => {
  t.strictSame([...HOP_BY_HOP].sort(), ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
});
