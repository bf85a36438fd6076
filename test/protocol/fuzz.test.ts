/**
 * Fuzzing both decoders, seeded (TSGI_SEED=<n> replays a run) and bounded: a few seconds in
 * `npm test`, as long as you like with TSGI_FUZZ_CASES=<n> (e.g. 1000000).
 *
 * 1. The payload decoders (HELLO, REQUEST, RESPONSE, CANCEL, GOAWAY) on random MessagePack,
 *    on hostile length claims (a str32 of 4 GiB in 5 bytes, a map32 of 2^32-1 entries, deep
 *    nesting) and on mutations of valid payloads: a value or a ProtocolError, nothing else,
 *    quickly, without holding memory.
 * 2. The frame decoder on streams of random, mutated and valid frames at random cuts: frames or
 *    a ProtocolError, never anything else, never more than one frame's payload held.
 * 3. A real tsgi-runner process over real Unix sockets: connections that handshake and then
 *    send random frame sequences (valid requests and bodies among them). Each connection ends
 *    in a coded GOAWAY, a close, or answers a final PING; the runner never logs an internal
 *    error and still serves a request at the end.
 *
 * The proxy's side over a real socket is fuzzed in test/e2e/hostile-runner.test.ts (same
 * TSGI_FUZZ_CASES and TSGI_SEED).
 */
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { FrameDecoder } from '../../protocol/decoder.js';
import { ErrorCode, ProtocolError } from '../../protocol/errors.js';
import { decodeCancel, decodeEnviron, decodeGoAway, decodeHello, decodeResponseHead } from '../../protocol/messages.js';
import { FIXTURES, startRunner, tempDir } from '../helpers/processes.js';
import * as b from './builder.js';
import { int, mulberry32, randomBytes, randomSplit, seed, type Random } from './random.js';

const CASES = Number(process.env.TSGI_FUZZ_CASES ?? 20_000);
// A long run may take its time (tap's 120 s is for the default count).
t.setTimeout(Math.max(120_000, CASES * 2));
const RUN_SEED = seed();
t.comment(`seed ${RUN_SEED}, ${CASES} cases (replay with TSGI_SEED=${RUN_SEED} TSGI_FUZZ_CASES=${CASES})`);

/** No single case may take this long (a hang, a huge allocation); generous, as the machine may be busy. */
const SLOW_CASE_MS = 1000;
const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Random MessagePack

const KEYS = ['version', 'role', 'maxFrameSize', 'initialWindow', 'maxStreams', 'pid', 'status', 'reason', 'headers', 'code', 'lastStream', 'REQUEST_METHOD', 'PATH_INFO', 'x'];

/** A random value of the profile, biased towards the shapes the decoders expect. */
function value(random: Random, depth = 0): unknown {
  const r = random();
  if (depth > 4 || r < 0.35) return scalar(random);
  if (r < 0.6) return Array.from({ length: int(random, 0, 4) }, () => value(random, depth + 1));
  const map: Record<string, unknown> = {};
  for (let n = int(random, 0, 6); n > 0; n--) map[random() < 0.8 ? KEYS[int(random, 0, KEYS.length - 1)]! : String(int(random, 0, 99))] = value(random, depth + 1);
  return map;
}

function scalar(random: Random): unknown {
  switch (int(random, 0, 7)) {
    case 0: return null;
    case 1: return random() < 0.5;
    case 2: return int(random, -5, 70000);
    case 3: return [0, 1, 2 ** 31 - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53, -1, 1.5][int(random, 0, 7)];
    case 4: return ['', 'runner', 'proxy', 'GET', '/', 'a\r\nb', '\u0000', 'caf\u00e9'][int(random, 0, 7)];
    case 5: return randomBytes(random, int(random, 0, 8));
    case 6: return [['Content-Type', 'text/plain']];
    default: return 'x'.repeat(int(random, 0, 300));
  }
}

/** Bytes that claim far more than they hold, or nest deeper than anyone should. */
function hostile(random: Random): Buffer {
  const claims = [
    [0xdb, 0xff, 0xff, 0xff, 0xff], // str32 of 4 GiB
    [0xc6, 0xff, 0xff, 0xff, 0xff], // bin32 of 4 GiB
    [0xdd, 0xff, 0xff, 0xff, 0xff], // array32 of 2^32-1 items
    [0xdf, 0xff, 0xff, 0xff, 0xff], // map32 of 2^32-1 entries
    [0xde, 0xff, 0xff], // map16
    [0xc7, 0x05, 0x01], // ext8 (outside the profile)
    [0xd4, 0x00, 0x00], // fixext1
    [0xc1], // never used
  ];
  const pick = Buffer.from(claims[int(random, 0, claims.length - 1)]!);
  switch (int(random, 0, 3)) {
    case 0:
      return Buffer.concat([pick, randomBytes(random, int(random, 0, 16))]);
    case 1: // deep nesting: arrays of one array of one array...
      return Buffer.concat([Buffer.alloc(int(random, 100, 100_000), 0x91), Buffer.from([0xc0])]);
    case 2: // a map whose value is a hostile claim
      return Buffer.concat([Buffer.from([0x81]), b.str(KEYS[int(random, 0, KEYS.length - 1)]!), pick]);
    default: // a valid value followed by trailing bytes
      return Buffer.concat([b.msgpack(value(random)), randomBytes(random, int(random, 1, 4))]);
  }
}

function mutate(random: Random, bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  if (out.length === 0) return randomBytes(random, int(random, 1, 8));
  switch (int(random, 0, 3)) {
    case 0:
      for (let n = int(random, 1, 3); n > 0; n--) out[int(random, 0, out.length - 1)] = int(random, 0, 255);
      return out;
    case 1:
      return out.subarray(0, int(random, 0, out.length - 1));
    case 2:
      return Buffer.concat([out, randomBytes(random, int(random, 1, 8))]);
    default: {
      const at = int(random, 0, out.length);
      return Buffer.concat([out.subarray(0, at), randomBytes(random, int(random, 1, 8)), out.subarray(at)]);
    }
  }
}

const VALID_PAYLOADS = [
  b.msgpack({ version: 1, role: 'runner', maxFrameSize: 65536, initialWindow: 262144, maxStreams: 10, pid: 1 }),
  b.msgpack({ REQUEST_METHOD: 'GET', PATH_INFO: '/', HTTP_HOST: 'x' }),
  b.msgpack({ status: 200, reason: 'OK', headers: [['Content-Type', 'text/plain']] }),
  b.msgpack({ code: 7, reason: 'client left' }),
  b.msgpack({ lastStream: 3, code: 0, reason: 'reload' }),
];

const DECODERS: Array<[string, (payload: Uint8Array) => unknown]> = [
  ['HELLO', (p) => decodeHello(p)],
  ['REQUEST', (p) => decodeEnviron(p, 1)],
  ['RESPONSE', (p) => decodeResponseHead(p, 1)],
  ['CANCEL', (p) => decodeCancel(p, 1)],
  ['GOAWAY', (p) => decodeGoAway(p)],
];

function payload(random: Random): Buffer {
  const r = random();
  if (r < 0.4) return b.msgpack(value(random));
  if (r < 0.6) return hostile(random);
  if (r < 0.95) return mutate(random, VALID_PAYLOADS[int(random, 0, VALID_PAYLOADS.length - 1)]!);
  return randomBytes(random, int(random, 0, 64));
}

t.test('payload decoders: a value or a coded ProtocolError, fast, with bounded memory', async (t) => {
  const random = mulberry32(RUN_SEED);
  const problems: string[] = [];
  const tally = { decoded: 0, refused: 0 };
  let slowest = 0;
  const rssBefore = process.memoryUsage().rss;
  for (let i = 0; i < CASES; i++) {
    const input = payload(random);
    const [name, decode] = DECODERS[int(random, 0, DECODERS.length - 1)]!;
    const started = performance.now();
    try {
      decode(input);
      tally.decoded++;
    } catch (err) {
      if (err instanceof ProtocolError && ErrorCode[err.code] !== undefined) tally.refused++;
      else problems.push(`case ${i} ${name} ${input.subarray(0, 40).toString('hex')}: threw ${String(err)}`);
    }
    const ms = performance.now() - started;
    slowest = Math.max(slowest, ms);
    if (ms > SLOW_CASE_MS) problems.push(`case ${i} ${name} ${input.subarray(0, 40).toString('hex')}: took ${ms.toFixed(0)} ms`);
  }
  const grown = process.memoryUsage().rss - rssBefore;
  t.comment(`${tally.decoded} decoded, ${tally.refused} refused, slowest ${slowest.toFixed(1)} ms, RSS ${(grown / MiB).toFixed(1)} MiB`);
  t.same(problems.slice(0, 5), [], `${CASES} cases, ${problems.length} problems`);
  t.ok(grown < 128 * MiB, 'no case made the process hold memory');
});

// ---------------------------------------------------------------------------------------------
// Frame streams

/** A frame: valid, with a random payload, with a lying length, or plain noise. */
function anyFrame(random: Random): Buffer {
  const type = random() < 0.9 ? int(random, 1, 9) : int(random, 0, 255);
  const stream = random() < 0.5 ? int(random, 0, 3) : random() < 0.5 ? 0xffffffff : int(random, 0, 1000);
  const flags = random() < 0.8 ? int(random, 0, 1) : int(random, 0, 255);
  switch (int(random, 0, 5)) {
    case 0: return b.frame(type, flags, stream, payload(random));
    case 1: return b.credit(stream, int(random, 0, 2 ** 32 - 1));
    case 2: return b.ping(randomBytes(random, 8), random() < 0.5);
    case 3: return Buffer.concat([b.header(type, flags, stream, random() < 0.5 ? int(random, 0, 70000) : int(random, 0, 2 ** 32 - 1)), randomBytes(random, int(random, 0, 64))]);
    case 4: return randomBytes(random, int(random, 1, 30));
    default: return b.frame(b.T.DATA, flags, stream, randomBytes(random, int(random, 0, 20000)));
  }
}

t.test('frame decoder: random streams at random cuts give frames or a ProtocolError, holding at most one frame', async (t) => {
  const random = mulberry32(RUN_SEED ^ 0xf4a3e);
  const problems: string[] = [];
  const tally = { clean: 0, refused: 0 };
  const cases = Math.max(200, Math.floor(CASES / 10));
  for (let i = 0; i < cases; i++) {
    const input = Buffer.concat(Array.from({ length: int(random, 1, 8) }, () => anyFrame(random)));
    const maxFrameSize = random() < 0.5 ? 16384 : 65536;
    const decoder = new FrameDecoder(maxFrameSize);
    try {
      for (const piece of randomSplit(random, input, 512)) {
        for (const frame of decoder.push(piece)) {
          if (frame.payload.length > maxFrameSize) problems.push(`case ${i}: a payload of ${frame.payload.length} bytes passed`);
        }
      }
      tally.clean++;
    } catch (err) {
      if (err instanceof ProtocolError && ErrorCode[err.code] !== undefined) tally.refused++;
      else problems.push(`case ${i}: threw ${String(err)}`);
    }
  }
  t.comment(`${tally.clean} streams decoded, ${tally.refused} refused`);
  t.same(problems.slice(0, 5), [], `${cases} cases, ${problems.length} problems`);
});

// ---------------------------------------------------------------------------------------------
// A real runner over real sockets

const PROXY_HELLO = b.frame(b.T.HELLO, 0, 0, b.msgpack({ version: 1, role: 'proxy', maxFrameSize: 65536, initialWindow: 262144 }));
const PATHS = ['/hello', '/echo', '/big', '/environ', '/nowhere'];

/** A session's frames after the handshake: requests and bodies among random and broken frames. */
function session(random: Random): Buffer {
  const parts: Buffer[] = [];
  let stream = 0;
  for (let n = int(random, 1, 12); n > 0; n--) {
    const r = random();
    if (r < 0.3) {
      stream += random() < 0.9 ? int(random, 1, 3) : -1;
      const environ = { REQUEST_METHOD: random() < 0.5 ? 'GET' : 'POST', PATH_INFO: PATHS[int(random, 0, PATHS.length - 1)]!, QUERY_STRING: 'bytes=100000', 'tsgi.request_id': `fuzz-${n}` };
      parts.push(b.frame(b.T.REQUEST, int(random, 0, 1), Math.max(0, stream), random() < 0.8 ? b.msgpack(environ) : mutate(random, b.msgpack(environ))));
    } else if (r < 0.5) {
      parts.push(b.frame(b.T.DATA, int(random, 0, 1), Math.max(0, stream - int(random, 0, 1)), randomBytes(random, int(random, 0, 3000))));
    } else if (r < 0.6) {
      parts.push(b.credit(Math.max(0, stream), int(random, 0, 2 ** 31)));
    } else if (r < 0.7) {
      parts.push(b.frame(b.T.CANCEL, 0, Math.max(0, stream), random() < 0.7 ? b.msgpack({ code: int(random, 0, 14), reason: 'fuzz' }) : payload(random)));
    } else {
      parts.push(anyFrame(random));
    }
  }
  return Buffer.concat(parts);
}

type Ending = 'goaway' | 'closed' | 'alive';

/**
 * Handshakes, sends the session at random cuts, then a PING and the end of our input: the
 * runner either answers the PING (alive) or closes the connection, with a coded GOAWAY or
 * without one (the input ended inside a frame). Neither within 5 s is a hang.
 */
function runSession(path: string, bytes: Buffer, random: Random, untilResponse = false): Promise<{ ending: Ending; code?: number; problem?: string; responses: number }> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ path });
    const decoder = new FrameDecoder(16 * MiB);
    let goaway: number | undefined;
    let responses = 0;
    let settled = false;
    const finish = (ending: Ending, problem?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ending, responses, ...(goaway === undefined ? {} : { code: goaway }), ...(problem ? { problem } : {}) });
    };
    const timer = setTimeout(() => finish('alive', 'no PING answer and no close within 5 s of the end of input'), 5000);
    const marker = Buffer.from('fuzzdone');
    socket.on('error', () => undefined);
    socket.on('close', () => finish(goaway === undefined ? 'closed' : 'goaway'));
    socket.on('data', (chunk) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        return finish('closed', `the runner sent undecodable bytes: ${String(err)}`);
      }
      for (const f of frames) {
        if (f.type === b.T.GOAWAY) {
          try {
            goaway = decodeGoAway(f.payload).code;
          } catch {
            return finish('closed', 'the runner sent a malformed GOAWAY');
          }
        }
        if (f.type === b.T.RESPONSE && ++responses && untilResponse) finish('alive');
        if (f.type === b.T.PING && (f.flags & b.ACK) !== 0 && Buffer.from(f.payload).equals(marker) && !untilResponse) finish('alive');
      }
    });
    socket.on('connect', () => {
      socket.write(PROXY_HELLO);
      for (const piece of randomSplit(random, bytes, 256)) socket.write(piece);
      // Then EOF: a session cut inside a frame leaves the runner waiting for its payload (our
      // PING included), and only the end of the input tells it no more is coming.
      socket.end(b.ping(marker, false));
    });
  });
}

t.test('a real runner fed random frames over real sockets: coded GOAWAY, close or alive; never an internal error', async (t) => {
  const dir = tempDir(t);
  const socket = join(dir, 'fuzz.sock');
  const runner = await startRunner(t, { app: join(FIXTURES, 'app.js'), socket, args: ['--log-level', 'debug'] });
  const random = mulberry32(RUN_SEED ^ 0x5e551);
  const sessions = Math.max(60, Math.floor(CASES / 200));
  const tally: Record<string, number> = {};
  const problems: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < sessions) {
      const i = next++;
      const bytes = session(random);
      const result = await runSession(socket, bytes, mulberry32(RUN_SEED + i));
      const key = result.code === undefined ? result.ending : `${result.ending} ${ErrorCode[result.code] ?? `unknown code ${result.code}`}`;
      tally[key] = (tally[key] ?? 0) + 1;
      if (result.problem) problems.push(`session ${i} (${bytes.subarray(0, 40).toString('hex')}): ${result.problem}`);
      if (result.code !== undefined && ErrorCode[result.code] === undefined) problems.push(`session ${i}: GOAWAY with unknown code ${result.code}`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  t.comment(JSON.stringify(tally));
  t.same(problems.slice(0, 5), [], `${sessions} sessions, ${problems.length} problems`);
  const internal = runner.proc.logs.filter((l) => /internal error|uncaught|unhandled/i.test(String(l.msg)));
  t.same(internal.map((l) => `${l.msg}: ${JSON.stringify(l.err ?? '')}`), [], 'no internal error in the runner');
  t.ok(runner.proc.running, 'the runner is alive');
  const exits = runner.proc.logs.filter((l) => /worker died/.test(String(l.msg)));
  t.same(exits, [], 'no worker died');
  // And it still serves: a clean request on a new connection.
  const answer = await runSession(socket, b.frame(b.T.REQUEST, b.END_STREAM, 1, b.msgpack({ REQUEST_METHOD: 'GET', PATH_INFO: '/hello' })), mulberry32(1), true);
  t.equal(answer.ending, 'alive', 'a clean session afterwards is answered');
  t.equal(answer.responses, 1, 'and its request served');
});
