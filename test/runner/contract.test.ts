/**
 * runner/apps/contract.ts — the PEP 3333 rules of `runApplication`, driven through an in-memory
 * ResponseSink that records every call and can withhold credit or be cancelled.
 */
import t, { type Test } from 'tap';
import type { Application, Chunk, Header } from '../../runner/apps/app.js';
import { runApplication, type AppLog, type ResponseSink } from '../../runner/apps/contract.js';
import { ContractError } from '../../runner/errors.js';

type Call =
  | { op: 'head'; status: number; reason: string; headers: Header[]; end: boolean }
  | { op: 'write'; bytes: Buffer }
  | { op: 'end' }
  | { op: 'abort'; reason: string };

/** Records what the contract sends. With `credit = false`, write() stays pending until grant(). */
class FakeSink implements ResponseSink {
  readonly calls: Call[] = [];
  cancelled = false;
  credit = true;
  private onCancelled!: () => void;
  readonly whenCancelled = new Promise<void>((resolve) => (this.onCancelled = resolve));
  /** Calls made after cancel(): the contract should make none. */
  late = 0;
  private readonly pending: Array<() => void> = [];

  sendHead(status: number, reason: string, headers: Header[], end: boolean): void {
    this.record({ op: 'head', status, reason, headers: headers.map(([n, v]) => [n, v]), end });
  }

  write(chunk: Uint8Array): Promise<void> | undefined {
    this.record({ op: 'write', bytes: Buffer.from(chunk) });
    if (this.credit) return undefined;
    return new Promise((resolve) => this.pending.push(resolve));
  }

  end(): void {
    this.record({ op: 'end' });
  }

  abort(reason: string): void {
    this.record({ op: 'abort', reason });
  }

  /** Writes waiting for credit. */
  get waiting(): number {
    return this.pending.length;
  }

  /** Credit arrives for the oldest pending write. */
  grant(): void {
    this.pending.shift()?.();
  }

  /** The proxy cancelled: like RunnerStream, release every waiter. */
  cancel(): void {
    this.cancelled = true;
    this.onCancelled();
    for (const resolve of this.pending.splice(0)) resolve();
  }

  get ops(): string[] {
    return this.calls.map((c) => c.op);
  }

  get head(): Extract<Call, { op: 'head' }> | undefined {
    return this.calls.find((c): c is Extract<Call, { op: 'head' }> => c.op === 'head');
  }

  get body(): string {
    return this.bytes.toString('utf8');
  }

  get bytes(): Buffer {
    return Buffer.concat(this.calls.flatMap((c) => (c.op === 'write' ? [c.bytes] : [])));
  }

  private record(call: Call): void {
    if (this.cancelled) this.late++;
    this.calls.push(call);
  }
}

class FakeLog implements AppLog {
  readonly errors: Array<{ details: Record<string, unknown>; message: string }> = [];
  error(details: object, message: string): void {
    this.errors.push({ details: details as Record<string, unknown>, message });
  }
}

/** Any test object: the root and subtests share the assertions. */
type T = Test;

const ENVIRON = { REQUEST_METHOD: 'GET', PATH_INFO: '/things', 'tsgi.request_id': 'req-42' };
const TEXT: Header[] = [['Content-Type', 'text/plain']];

async function run(app: Application, sink = new FakeSink()) {
  const log = new FakeLog();
  await runApplication(app, { ...ENVIRON }, sink, log);
  return { sink, log };
}

/** Lets queued promise jobs and I/O callbacks run. */
async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Waits (bounded) until `condition` holds. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The answer of the runner's own 500. */
function assertServerError(t: T, sink: FakeSink, message?: string): void {
  t.same(sink.ops, ['head', 'write', 'end'], message ?? 'a 500 head, its body and the end');
  const head = sink.head!;
  t.equal(head.status, 500);
  t.equal(head.reason, 'Internal Server Error');
  t.equal(head.end, false);
  t.same(head.headers, [
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['Content-Length', '22'],
  ]);
  t.equal(sink.body, 'Internal Server Error\n');
  t.equal(sink.late, 0);
}


/** An iterable with PEP 3333's close(), counting calls; optionally fails at chunk `failAt`. */
class Closing implements Iterable<Chunk> {
  closes = 0;
  constructor(
    private readonly chunks: Chunk[],
    private readonly failAt = -1,
  ) {}

  *[Symbol.iterator](): Iterator<Chunk> {
    for (let i = 0; i < this.chunks.length; i++) {
      if (i === this.failAt) throw new Error(`chunk ${i} failed`);
      yield this.chunks[i]!;
    }
  }

  close(): void {
    this.closes++;
  }
}

t.test('results of every shape', async (t) => {
  const expectHello = (t: T, sink: FakeSink) => {
    t.same(sink.ops, ['head', 'write', 'write', 'end']);
    t.same(sink.head, { op: 'head', status: 200, reason: 'OK', headers: TEXT, end: false });
    t.equal(sink.body, 'Hello World!');
  };

  t.test('a list', async (t) => {
    const { sink, log } = await run((_env, start) => {
      start('200 OK', TEXT);
      return ['Hello ', 'World!'];
    });
    expectHello(t, sink);
    t.same(log.errors, []);
  });

  t.test('a sync generator (startResponse called on the first next())', async (t) => {
    const { sink } = await run(function* (_env, start) {
      start('200 OK', TEXT);
      yield 'Hello ';
      yield 'World!';
    });
    expectHello(t, sink);
  });

  t.test('an async generator', async (t) => {
    const { sink } = await run(async function* (_env, start) {
      start('200 OK', TEXT);
      await new Promise((resolve) => setTimeout(resolve, 1));
      yield 'Hello ';
      yield Buffer.from('World!');
    });
    expectHello(t, sink);
  });

  t.test('a Promise of a list (async app)', async (t) => {
    const { sink } = await run(async (_env, start) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      start('200 OK', TEXT);
      return ['Hello ', 'World!'];
    });
    expectHello(t, sink);
  });

  t.test('a Promise of a generator', async (t) => {
    const { sink } = await run((_env, start) => {
      start('200 OK', TEXT);
      return Promise.resolve(
        (function* () {
          yield 'Hello ';
          yield 'World!';
        })(),
      );
    });
    expectHello(t, sink);
  });

  t.test('a custom iterable that is not an array or generator', async (t) => {
    const chunks = new Set<Chunk>(['Hello ', 'World!']);
    const { sink } = await run((_env, start) => {
      start('200 OK', TEXT);
      return chunks;
    });
    expectHello(t, sink);
  });

  t.test('the app receives the environ it was given', async (t) => {
    let seen: unknown;
    await run((env, start) => {
      seen = env;
      start('200 OK', []);
      return [];
    });
    t.match(seen, ENVIRON);
  });
});

t.test('strings are sent as UTF-8, bytes as they are', async (t) => {
  const text = 'héllo € \u{1F600} \u00ff';
  const raw = new Uint8Array([0, 1, 0xfe, 0xff, 0x80]);
  const { sink } = await run((_env, start) => {
    start('200 OK', TEXT);
    return [text, raw];
  });
  const writes = sink.calls.filter((c): c is Extract<Call, { op: 'write' }> => c.op === 'write');
  t.equal(writes.length, 2);
  t.same([...writes[0]!.bytes], [...Buffer.from(text, 'utf8')]);
  t.same([...writes[1]!.bytes], [...raw]);
});

t.test('when the head goes out', async (t) => {
  t.test('empty chunks do not trigger the head; the first non-empty one does', async (t) => {
    const sink = new FakeSink();
    const seenBeforeX: number[] = [];
    await run(async function* (_env, start) {
      const write = start('200 OK', TEXT);
      await write('');
      seenBeforeX.push(sink.calls.length);
      yield '';
      seenBeforeX.push(sink.calls.length);
      yield new Uint8Array(0);
      seenBeforeX.push(sink.calls.length);
      yield 'x';
      yield '';
      yield 'y';
    }, sink);
    t.same(seenBeforeX, [0, 0, 0], 'nothing reached the sink before the first non-empty chunk');
    t.same(sink.ops, ['head', 'write', 'write', 'end'], 'empty chunks are never written');
    t.equal(sink.head!.end, false);
    t.equal(sink.body, 'xy');
  });

  t.test('an empty body sends the head alone, with END', async (t) => {
    for (const result of [[], ['', ''], [new Uint8Array(0)]] as Chunk[][]) {
      const { sink } = await run((_env, start) => {
        start('204 No Content', [['X-A', 'b']]);
        return result;
      });
      t.same(sink.calls, [{ op: 'head', status: 204, reason: 'No Content', headers: [['X-A', 'b']], end: true }]);
    }
  });

  t.test('status without a reason phrase, numeric header values', async (t) => {
    const { sink } = await run((_env, start) => {
      start('200', [['Content-Length', 2]]);
      return ['ok'];
    });
    t.same(sink.head, { op: 'head', status: 200, reason: '', headers: [['Content-Length', '2']], end: false });
  });
});

t.test('legacy write()', async (t) => {
  t.test('awaited before the returned chunks', async (t) => {
    const { sink } = await run(async (_env, start) => {
      const write = start('200 OK', TEXT);
      await write('one,');
      await write(Buffer.from('two,'));
      return ['three'];
    });
    t.same(sink.ops, ['head', 'write', 'write', 'write', 'end']);
    t.equal(sink.body, 'one,two,three');
  });

  t.test('among iterated chunks, in order', async (t) => {
    const { sink } = await run(async function* (_env, start) {
      const write = start('200 OK', TEXT);
      yield 'a';
      await write('b');
      yield 'c';
      await write('d');
    });
    t.same(sink.ops, ['head', 'write', 'write', 'write', 'write', 'end']);
    t.equal(sink.body, 'abcd');
  });

  t.test('its promise is the backpressure', async (t) => {
    const sink = new FakeSink();
    sink.credit = false;
    let written = false;
    const done = run(async (_env, start) => {
      const write = start('200 OK', TEXT);
      await write('x');
      written = true;
      return [];
    }, sink);
    await until(() => sink.waiting === 1, 'the write');
    await settle();
    t.equal(written, false, 'write() has not resolved without credit');
    sink.grant();
    await done;
    t.equal(written, true);
    t.same(sink.ops, ['head', 'write', 'end']);
  });

  t.test('after the response ended it is refused and reaches no sink', async (t) => {
    for (const failing of [false, true]) {
      let late: ((chunk: Chunk) => Promise<void>) | undefined;
      const { sink } = await run((_env, start) => {
        late = start('200 OK', TEXT);
        if (failing) throw new Error('kaput');
        return ['on time'];
      });
      const before = [...sink.ops];
      t.same(before, ['head', 'write', 'end']);
      const err = await late!('too late').then(() => null, (e: unknown) => e);
      t.type(err, ContractError, `${failing ? 'after a 500' : 'after END'}: write() rejects`);
      t.match((err as Error).message, /after the response ended/);
      t.same(sink.ops, before, 'nothing was written after the end');
    }
  });

  t.test('an un-awaited write() that fails is logged and does not crash the worker', async (t) => {
    let unhandled = 0;
    const onUnhandled = () => unhandled++;
    process.on('unhandledRejection', onUnhandled);
    t.teardown(() => void process.off('unhandledRejection', onUnhandled));
    let late: ((chunk: Chunk) => Promise<void>) | undefined;
    const { log } = await run((_env, start) => {
      late = start('200 OK', TEXT);
      return ['done'];
    });
    void late!('too late'); // not awaited, as careless apps do
    await settle();
    t.equal(unhandled, 0, 'no unhandled rejection');
    t.ok(log.errors.some((e) => e.message === 'write() failed' && e.details.reqId === 'req-42'), 'logged with the request');
  });

  t.test('a non-chunk is a contract error (500 before the head)', async (t) => {
    const { sink, log } = await run(async (_env, start) => {
      const write = start('200 OK', TEXT);
      await write(42 as unknown as Chunk);
      return [];
    });
    assertServerError(t, sink);
    t.type(log.errors[0]?.details.err, ContractError);
  });
});

t.test('startResponse rules', async (t) => {
  t.test('twice without excInfo is an error → 500', async (t) => {
    let thrown: unknown;
    const { sink, log } = await run((_env, start) => {
      start('200 OK', TEXT);
      try {
        start('201 Created', TEXT);
      } catch (err) {
        thrown = err;
        throw err;
      }
      return ['never'];
    });
    t.type(thrown, ContractError);
    t.match(String(thrown), /second time/);
    assertServerError(t, sink);
    t.equal(log.errors.length, 1);
  });

  t.test('with excInfo before the head: replaces the head', async (t) => {
    const { sink, log } = await run((_env, start) => {
      start('200 OK', [['X-First', '1']]);
      try {
        throw new Error('handled by the app');
      } catch (err) {
        start('503 Service Unavailable', [['X-Second', '2']], err);
      }
      return ['sorry'];
    });
    t.same(sink.ops, ['head', 'write', 'end']);
    t.same(sink.head, { op: 'head', status: 503, reason: 'Service Unavailable', headers: [['X-Second', '2']], end: false });
    t.equal(sink.body, 'sorry');
    t.same(log.errors, [], 'an error the app handled is not logged');
  });

  t.test('with excInfo after the head: rethrows it → abort', async (t) => {
    const excInfo = new Error('failed mid-body');
    let rethrown: unknown;
    const { sink, log } = await run(function* (_env, start) {
      start('200 OK', TEXT);
      yield 'part';
      try {
        start('500 Internal Server Error', [], excInfo);
      } catch (err) {
        rethrown = err;
        throw err;
      }
      yield 'never';
    });
    t.equal(rethrown, excInfo, 'startResponse threw the very excInfo it was given');
    t.same(sink.ops, ['head', 'write', 'abort']);
    t.equal(sink.head!.status, 200);
    t.same(sink.calls[2], { op: 'abort', reason: 'failed mid-body' });
    t.equal(log.errors.length, 1);
  });
});

t.test('errors before the head become a 500, logged with the request', async (t) => {
  const cases: Array<[string, Application]> = [
    ['thrown synchronously by the app', () => {
      throw new Error('kaput');
    }],
    ['a rejected promise', async () => {
      throw new Error('kaput');
    }],
    ['thrown by the generator before its first chunk', function* () {
      throw new Error('kaput');
    }],
    ['thrown after startResponse, before any non-empty chunk', function* (_env, start) {
      start('200 OK', TEXT);
      yield '';
      throw new Error('kaput');
    }],
  ];
  for (const [name, app] of cases) {
    t.test(name, async (t) => {
      const { sink, log } = await run(app);
      assertServerError(t, sink);
      t.equal(log.errors.length, 1, 'logged once');
      const { details } = log.errors[0]!;
      t.equal(details.reqId, 'req-42', 'with the request id');
      t.equal(details.method, 'GET');
      t.equal(details.path, '/things');
      t.match(details.err, { message: 'kaput' }, 'with the error');
    });
  }
});

t.test('an error after the head aborts; no 500 is written', async (t) => {
  const { sink, log } = await run(async function* (_env, start) {
    start('200 OK', TEXT);
    yield 'a';
    yield 'b';
    throw new Error('broke after the head');
  });
  t.same(sink.ops, ['head', 'write', 'write', 'abort']);
  t.equal(sink.calls.filter((c) => c.op === 'head').length, 1, 'no second head');
  t.equal(sink.head!.status, 200);
  t.equal(sink.body, 'ab', 'no error body after the head');
  t.same(sink.calls.at(-1), { op: 'abort', reason: 'broke after the head' });
  t.equal(log.errors.length, 1);
  t.equal(log.errors[0]!.details.reqId, 'req-42');
  t.equal(log.errors[0]!.details.headSent, true);
});

t.test('contract violations become a 500', async (t) => {
  const cases: Array<[string, Application, RegExp]> = [
    ['returns without calling startResponse', () => [], /without calling startResponse/],
    ['yields before startResponse', () => ['body first'], /before calling startResponse/],
    ['yields before startResponse (generator)', function* (_env, start) {
      yield 'body first';
      start('200 OK', TEXT);
    }, /before calling startResponse/],
    ['returns a bare string', (_env, start) => {
      start('200 OK', TEXT);
      return 'Hello' as unknown as Chunk[];
    }, /iterable/],
    ['returns a bare Uint8Array', (_env, start) => {
      start('200 OK', TEXT);
      return Buffer.from('Hello') as unknown as Chunk[];
    }, /iterable/],
    ['returns undefined', (_env, start) => {
      start('200 OK', TEXT);
      return undefined as unknown as Chunk[];
    }, /iterable/],
    ['yields a number', (_env, start) => {
      start('200 OK', TEXT);
      return [42] as unknown as Chunk[];
    }, /strings or Uint8Arrays/],
  ];
  const statuses: unknown[] = ['abc', '600 X', 200, '99 Low', '', '200OK', ' 200 OK', '1000 Big', '100 Continue', '103 Early Hints'];
  for (const status of statuses) {
    cases.push([`status ${JSON.stringify(status)}`, (_env, start) => {
      start(status as string, TEXT);
      return ['x'];
    }, /invalid status/]);
  }
  const headers: Array<[string, unknown]> = [
    ['a header name with a space', [['Bad Name', 'v']]],
    ['an empty header name', [['', 'v']]],
    ['a header name with a colon', [['X-A:', 'v']]],
    ['a header value with CR LF', [['X-Injected', 'a\r\nSet-Cookie: evil=1']]],
    ['a header value with LF', [['X-A', 'a\nb']]],
    ['a header value with NUL', [['X-A', 'a\0b']]],
    ['a header value above latin-1', [['X-A', 'caf\u20ac']]],
    ['a header that is not a pair', [['X-A', 'b', 'c']]],
    ['a hop-by-hop header (Connection)', [['Connection', 'close']]],
    ['a hop-by-hop header (Transfer-Encoding)', [['transfer-encoding', 'chunked']]],
    ['headers that are not an array', { 'X-A': 'b' }],
  ];
  for (const [name, value] of headers) {
    cases.push([name, (_env, start) => {
      start('200 OK', value as Header[]);
      return ['x'];
    }, /header/]);
  }
  for (const [name, app, pattern] of cases) {
    t.test(name, async (t) => {
      const { sink, log } = await run(app);
      assertServerError(t, sink);
      t.equal(log.errors.length, 1);
      const err = log.errors[0]!.details.err;
      t.type(err, ContractError);
      t.match((err as Error).message, pattern);
      t.notMatch(JSON.stringify(sink.head!.headers), /Bad|Injected|evil/, 'nothing of the bad head leaks');
    });
  }
});

t.test('a head the sink refuses (e.g. too large for the proxy) becomes a 500', async (t) => {
  for (const body of [['x'], []] as Chunk[][]) {
    const sink = new FakeSink();
    let refused = 0;
    const sendHead = sink.sendHead.bind(sink);
    sink.sendHead = (status, reason, headers, end) => {
      if (status === 200) {
        refused++;
        throw new ContractError('response head too large');
      }
      sendHead(status, reason, headers, end);
    };
    const { log } = await run((_env, start) => {
      start('200 OK', [['X-Big', 'x'.repeat(100)]]);
      return body;
    }, sink);
    t.equal(refused, 1);
    assertServerError(t, sink, `${body.length ? 'with' : 'without'} a body: the 500 replaces it`);
    t.match(log.errors[0]?.details, { reqId: 'req-42', headSent: false });
  }
});

t.test('close() of the result is called exactly once', async (t) => {
  t.test('on success', async (t) => {
    const result = new Closing(['a', 'b']);
    const { sink } = await run((_env, start) => {
      start('200 OK', TEXT);
      return result;
    });
    t.equal(sink.body, 'ab');
    t.equal(result.closes, 1);
  });

  t.test('on an empty body', async (t) => {
    const result = new Closing([]);
    await run((_env, start) => {
      start('200 OK', TEXT);
      return result;
    });
    t.equal(result.closes, 1);
  });

  t.test('on an error before the head', async (t) => {
    const result = new Closing(['a'], 0);
    const { sink } = await run((_env, start) => {
      start('200 OK', TEXT);
      return result;
    });
    assertServerError(t, sink);
    t.equal(result.closes, 1);
  });

  t.test('on an error after the head', async (t) => {
    const result = new Closing(['a', 'b', 'c'], 2);
    const { sink } = await run((_env, start) => {
      start('200 OK', TEXT);
      return result;
    });
    t.same(sink.ops, ['head', 'write', 'write', 'abort']);
    t.equal(result.closes, 1);
  });

  t.test('when startResponse was never called', async (t) => {
    const result = new Closing(['a']);
    await run(() => result);
    t.equal(result.closes, 1);
  });

  t.test('on cancel while a write waits for credit', async (t) => {
    const result = new Closing(['a', 'b', 'c']);
    const sink = new FakeSink();
    sink.credit = false;
    const done = run((_env, start) => {
      start('200 OK', TEXT);
      return result;
    }, sink);
    await until(() => sink.waiting === 1, 'the first write');
    t.equal(result.closes, 0, 'not closed while the response is under way');
    sink.cancel();
    const { log } = await done;
    t.equal(result.closes, 1);
    t.same(sink.ops, ['head', 'write'], 'nothing more is sent after cancel');
    t.equal(sink.late, 0);
    t.same(log.errors, [], 'a cancel is not an application error');
  });

  t.test('a close() that throws is logged, not fatal', async (t) => {
    const result = ['x'] as Chunk[] & { close?: () => void };
    let closes = 0;
    result.close = () => {
      closes++;
      throw new Error('close failed');
    };
    const { sink, log } = await run((_env, start) => {
      start('200 OK', TEXT);
      return result;
    });
    t.same(sink.ops, ['head', 'write', 'end']);
    t.equal(closes, 1);
    t.equal(log.errors.length, 1);
    t.equal(log.errors[0]!.details.reqId, 'req-42');
  });
});

t.test('cancel mid-stream: the generator is returned exactly once', async (t) => {
  for (const kind of ['sync', 'async'] as const) {
    t.test(`${kind} generator, cancelled while a write is pending`, async (t) => {
      let pulls = 0;
      let finallies = 0;
      function* sync(): Generator<Chunk> {
        try {
          for (;;) {
            pulls++;
            yield 'chunk';
          }
        } finally {
          finallies++;
        }
      }
      async function* async_(): AsyncGenerator<Chunk> {
        yield* sync();
      }
      const sink = new FakeSink();
      sink.credit = false;
      const done = run((_env, start) => {
        start('200 OK', TEXT);
        return kind === 'sync' ? sync() : async_();
      }, sink);
      await until(() => sink.waiting === 1, 'the first write');
      sink.grant();
      await until(() => sink.waiting === 1 && pulls === 2, 'the second write');
      t.equal(finallies, 0);
      sink.cancel();
      const { log } = await done;
      t.equal(finallies, 1, 'finally ran once');
      t.equal(pulls, 2, 'no chunk was asked for after the cancel');
      t.same(sink.ops, ['head', 'write', 'write']);
      t.equal(sink.late, 0);
      t.same(log.errors, []);
    });
  }

  t.test('cancelled before the app returned: the iterator is never pulled', async (t) => {
    let pulls = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const sink = new FakeSink();
    const done = run(async (_env, start) => {
      await gate;
      start('200 OK', TEXT);
      return (function* () {
        pulls++;
        yield 'x';
      })();
    }, sink);
    sink.cancel();
    release();
    await done;
    t.equal(pulls, 0);
    t.same(sink.calls, []);
  });
});

t.test('flow control: no next chunk is asked for while the sink has no credit', async (t) => {
  let pulls = 0;
  let finished = false;
  const sink = new FakeSink();
  sink.credit = false;
  const done = run(async function* (_env, start) {
    start('200 OK', TEXT);
    for (let i = 0; i < 3; i++) {
      pulls++;
      yield `chunk${i};`;
    }
    finished = true;
  }, sink);
  for (let i = 1; i <= 3; i++) {
    await until(() => sink.waiting === 1, `write ${i}`);
    await settle(10);
    t.equal(pulls, i, `paused after chunk ${i} while its write is pending`);
    t.equal(sink.waiting, 1);
    t.equal(finished, false);
    sink.grant();
  }
  await done;
  t.equal(finished, true);
  t.same(sink.ops, ['head', 'write', 'write', 'write', 'end']);
  t.equal(sink.body, 'chunk0;chunk1;chunk2;');
});

t.test('a synchronous app is answered within the call; the first promise met makes the rest awaited', async (t) => {
  const hello: Application = (_environ, startResponse) => {
    startResponse('200 OK', TEXT);
    return ['Hello ', 'World!'];
  };
  const sink = new FakeSink();
  const outcome = runApplication(hello, { ...ENVIRON }, sink, new FakeLog());
  t.equal(outcome, 'ok', 'the outcome itself, not a promise of it');
  t.same(sink.ops, ['head', 'write', 'write', 'end'], 'the whole response was sent before runApplication returned');

  const failing = new FakeSink();
  t.equal(runApplication(() => { throw new Error('boom'); }, { ...ENVIRON }, failing, new FakeLog()), 'failed');
  t.equal(failing.head?.status, 500, 'a synchronous failure is answered at once too');

  // Every promise on the way: the app's result, a step, a chunk waiting for credit, close().
  const asyncResult: Application = async (_environ, startResponse) => (startResponse('200 OK', TEXT), ['a']);
  const asyncSteps: Application = (_environ, startResponse) => (startResponse('200 OK', TEXT), (async function* () { yield 'a'; })());
  const closing: Application = (_environ, startResponse) => {
    startResponse('200 OK', TEXT);
    return Object.assign(['a'], { close: () => new Promise<void>((resolve) => setImmediate(resolve)) });
  };
  for (const [name, app] of [['an async app', asyncResult], ['an async iterator', asyncSteps], ['an async close()', closing]] as const) {
    const sink = new FakeSink();
    const pending = runApplication(app, { ...ENVIRON }, sink, new FakeLog());
    t.ok(pending instanceof Promise, `${name}: a promise`);
    t.equal(await pending, 'ok');
    t.same(sink.ops, ['head', 'write', 'end'], `${name}: the same response`);
  }
  const starved = new FakeSink();
  starved.credit = false;
  const waiting = runApplication(hello, { ...ENVIRON }, starved, new FakeLog());
  t.ok(waiting instanceof Promise, 'a chunk waiting for credit: a promise');
  t.same(starved.ops, ['head', 'write'], 'nothing more is asked of the app meanwhile');
  starved.grant();
  await settle();
  starved.grant();
  t.equal(await waiting, 'ok');
  t.same(starved.ops, ['head', 'write', 'write', 'end']);
});

t.test('thenables that are not promises are awaited as await would (result, steps, close())', async (t) => {
  const later = <V>(value: V): PromiseLike<V> => ({ then: (resolve) => Promise.resolve(value).then(resolve) as never });
  let closed = 0;
  const app: Application = (_environ, startResponse) => {
    startResponse('200 OK', TEXT);
    const steps = ['x', 'y'];
    const iterator = { next: () => later(steps.length > 0 ? { done: false, value: steps.shift()! } : { done: true, value: undefined }) };
    const result = { [Symbol.asyncIterator]: () => iterator, close: () => later(undefined).then(() => void closed++) };
    return later(result as unknown as AsyncIterable<Chunk>) as unknown as Promise<AsyncIterable<Chunk>>;
  };
  const { sink, log } = await run(app);
  t.same(sink.ops, ['head', 'write', 'write', 'end']);
  t.equal(sink.body, 'xy');
  t.equal(closed, 1, 'close() once');
  t.same(log.errors, []);
});

t.test('close() still runs once when answering the failure fails too', async (t) => {
  const throwingLog: AppLog = { error: () => { throw new Error('log down'); } };
  for (const [kind, close] of [['sync', () => undefined], ['async', () => new Promise<void>((resolve) => setImmediate(resolve))]] as const) {
    let closed = 0;
    // No startResponse: finish() throws, then fail() throws while logging it.
    const app: Application = () => Object.assign(['x'], { close: () => (closed++, close()) });
    let thrown: unknown;
    try {
      await runApplication(app, { ...ENVIRON }, new FakeSink(), throwingLog);
    } catch (err) {
      thrown = err;
    }
    t.match(thrown, { message: 'log down' }, 'the failure goes on');
    t.equal(closed, 1, `close() once (${kind} close)`);
  }
});
