/**
 * SPEC.md and the code say the same thing: the tables of SPEC.md are parsed and compared
 * with the enums and constants of protocol/, so this fails when either drifts.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { pack } from '../../protocol/codec.js';
import { FrameDecoder } from '../../protocol/decoder.js';
import { ErrorCode } from '../../protocol/errors.js';
import { Flags, FrameType, HEADER_SIZE, MAX_FRAME_SIZE_LIMIT, MAX_WINDOW, MIN_FRAME_SIZE } from '../../protocol/frame.js';
import { DEFAULTS, PROTOCOL_VERSION, decodeHello } from '../../protocol/messages.js';
import { source } from '../helpers/root.js';

const spec = readFileSync(source('protocol/SPEC.md'), 'utf8');
const frameSource = readFileSync(source('protocol/frame.ts'), 'utf8');

/** The numeric members of a TypeScript enum, as name → value. */
const members = (e: Record<string, string | number>): Record<string, number> =>
  Object.fromEntries(Object.entries(e).filter((entry): entry is [string, number] => typeof entry[1] === 'number'));

/** `1 024`, `16 777 216`, `2³¹−1` as numbers. */
function number(text: string): number {
  const power = /^2([⁰¹²³⁴⁵⁶⁷⁸⁹]+)−1$/.exec(text.trim());
  if (power) return 2 ** Number([...power[1]!].map((c) => '⁰¹²³⁴⁵⁶⁷⁸⁹'.indexOf(c)).join('')) - 1;
  return Number(text.replace(/[\s,]/g, ''));
}

t.test('the frame type table matches FrameType', async (t) => {
  const rows = [...spec.matchAll(/^\|\s*0x([0-9a-fA-F]{2})\s*\|\s*([A-Z_]+)\s*\|/gm)];
  const table = Object.fromEntries(rows.map((m) => [m[2]!, parseInt(m[1]!, 16)]));
  t.ok(rows.length >= 8, `${rows.length} rows found`);
  t.strictSame(table, members(FrameType));
});

t.test('the error code table matches ErrorCode', async (t) => {
  const rows = [...spec.matchAll(/^\|\s*(\d+)\s*\|\s*([A-Z_]+)\s*\|/gm)];
  const table = Object.fromEntries(rows.map((m) => [m[2]!, Number(m[1])]));
  t.ok(rows.length >= 13, `${rows.length} rows found`);
  t.strictSame(table, members(ErrorCode));
});

t.test('the flags match', async (t) => {
  const flags = Object.fromEntries([...spec.matchAll(/`([A-Z_]+) = (0x[0-9a-f]+)`/g)].map((m) => [m[1]!, parseInt(m[2]!, 16)]));
  t.strictSame(flags, { ...Flags });
});

t.test('both header diagrams draw the same fields over the same 10 bytes', async (t) => {
  const diagram = (source: string): { ruler: string[]; fields: string[] } => {
    const lines = source.split('\n').map((line) => line.replace(/^\s*\*?/, ''));
    const ruler = lines.find((line) => /^\s*0\s+1\s+2\s/.test(line))!.trim().split(/\s+/);
    const fields = lines.find((line) => line.includes('payload length'))!.split('|').map((f) => f.trim()).filter(Boolean);
    return { ruler, fields };
  };
  const inSpec = diagram(spec);
  t.strictSame(diagram(frameSource), inSpec, 'frame.ts and SPEC.md');
  t.strictSame(inSpec.fields, ['payload length', 'type', 'flags', 'stream id']);
  t.equal(inSpec.ruler.length, HEADER_SIZE);
  t.match(spec, new RegExp(`${HEADER_SIZE}-byte header`));
});

t.test('the limits table matches the constants', async (t) => {
  const row = (label: string): string[] => {
    const line = spec.split('\n').find((l) => l.startsWith(`| ${label}`));
    t.ok(line, `a row for ${label}`);
    return (line ?? '').split('|').slice(2, -1).map((cell) => cell.trim());
  };
  const [frameDefault, frameBounds] = row('max frame size');
  t.equal(number(frameDefault!), DEFAULTS.maxFrameSize);
  t.strictSame(frameBounds!.split('…').map(number), [MIN_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT]);
  const [windowDefault, windowBounds] = row('initial window');
  t.equal(number(windowDefault!), DEFAULTS.initialWindow);
  t.strictSame(windowBounds!.split('…').map(number), [0, MAX_WINDOW]);
  t.equal(number(row('concurrent streams')[0]!), DEFAULTS.maxStreams);
  t.equal(number(row('environ keys')[0]!), DEFAULTS.maxEnvironKeys);
  const beforeHandshake = number(row('frame before the handshake')[0]!);
  t.equal(beforeHandshake, MIN_FRAME_SIZE);
  t.throws(() => new FrameDecoder().push(Buffer.from([0, 0, 0x40, 0x01, 4, 0, 0, 0, 0, 1])), { code: ErrorCode.FRAME_SIZE_ERROR }, 'a new decoder enforces it');
});

t.test('decodeHello keeps every key of the HELLO table', async (t) => {
  const rows = [...spec.matchAll(/^\|\s*`([A-Za-z]+)`\s*\|\s*(uint|str)\s*\|/gm)].map((m) => [m[1]!, m[2]!] as const);
  t.ok(rows.length >= 10, `${rows.length} keys`);
  const sample: Record<string, unknown> = { version: PROTOCOL_VERSION, role: 'runner', maxFrameSize: MIN_FRAME_SIZE };
  for (const [key, type] of rows) if (!(key in sample)) sample[key] = type === 'uint' ? 1 : 'x';
  const decoded = decodeHello(pack(sample));
  t.strictSame(Object.keys(decoded).sort(), rows.map(([key]) => key).sort());
  t.match(spec, new RegExp(`\`version\`.*\`${PROTOCOL_VERSION}\` here`), 'the version SPEC.md describes');
});
