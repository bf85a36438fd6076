import type { Application, AppResult, Chunk, Environ, Header, StartResponse, WriteFunction } from './app.js';
import { ContractError } from '../errors.js';
import { isFieldValue, isHopByHopName, isToken } from '../../protocol/index.js';

/** Where the response goes: one stream of the protocol connection. */
export interface ResponseSink {
  /** True once the proxy cancelled the stream or the connection was lost. */
  readonly cancelled: boolean;
  /** Settles when `cancelled` becomes true. */
  readonly whenCancelled: Promise<void>;
  sendHead(status: number, reason: string, headers: Header[], end: boolean): void;
  /** Resolves when the chunk fits the peer's credit; undefined when it was sent at once. */
  write(chunk: Uint8Array): Promise<void> | undefined;
  end(): void;
  /** The app failed after the head: abandon the stream so the client sees an aborted response. */
  abort(reason: string): void;
}

export interface AppLog {
  error(details: object, message: string): void;
}

const encoder = new TextEncoder();
const CANCELLED: unique symbol = Symbol('cancelled');
type Step = IteratorResult<Chunk> | typeof CANCELLED;
const SERVER_ERROR_BODY = encoder.encode('Internal Server Error\n');

interface Head {
  status: number;
  reason: string;
  headers: Header[];
}

/**
 * Runs one request through the application, PEP 3333's server side: start_response rules,
 * headers held back until the first non-empty chunk, 500 before the head, abort after it, and
 * the result's close() plus the iterator's return() called exactly once whatever happens.
 *
 * Synchronous as long as the application is: an app that returns an iterable at once, whose
 * chunks the stream takes without waiting for credit and which has no async close(), is
 * answered within this call, and the outcome is returned as it is. The first promise met (the
 * result, a step of an async iterator, a chunk waiting for credit, close()) turns the rest of
 * the request into an async function that awaits what is pending and takes the rest as it
 * comes. Most requests are of the first kind; each promise and async frame spared is
 * allocation and a microtask per request (PROFILE.md, 2026-12-06).
 */
export function runApplication(app: Application, environ: Environ, sink: ResponseSink, log: AppLog): Outcome | Promise<Outcome> {
  const call = new AppCall(sink, environ, log);
  let result: AppResult | Promise<AppResult> | undefined;
  let pending: Promise<void> | undefined;
  try {
    result = app(environ, call.startResponse);
    if (isThenable(result)) {
      let resolved: AppResult | undefined;
      const iterated = Promise.resolve(result).then((value) => call.iterate((resolved = value)));
      return finishAwaited(call, iterated, () => resolved, environ, log);
    }
    pending = call.iterate(result);
  } catch (err) {
    // An exception that reached us (a 500 or an aborted response), for the worker's counters.
    try {
      call.fail(err, environ, log);
    } catch (failure) {
      // As a finally would: close() runs (and is waited for) before the failure goes on.
      const closing = closeResult(result, environ, log);
      if (closing) return closing.then(() => Promise.reject(failure));
      throw failure;
    }
    return closeThen(result, 'failed', environ, log);
  }
  if (!pending) return closeThen(result, 'ok', environ, log);
  const iterable = result;
  return finishAwaited(call, pending, () => iterable, environ, log);
}

type Outcome = 'ok' | 'failed';

/**
 * The rest of a request, awaited from its first promise on: `pending` (the app's result and its
 * iteration, or the iteration begun synchronously), then close() of the result `resultOf` names
 * by then (none if the app's promise rejected), whatever happened.
 */
async function finishAwaited(call: AppCall, pending: Promise<void>, resultOf: () => AppResult | undefined, environ: Environ, log: AppLog): Promise<Outcome> {
  let outcome: Outcome = 'ok';
  try {
    await pending;
  } catch (err) {
    outcome = 'failed';
    call.fail(err, environ, log);
  } finally {
    await closeResult(resultOf(), environ, log);
  }
  return outcome;
}

/** close() of the result, then `outcome`: synchronously unless close() returns a promise. */
function closeThen(result: unknown, outcome: Outcome, environ: Environ, log: AppLog): Outcome | Promise<Outcome> {
  const closing = closeResult(result, environ, log);
  return closing ? closing.then(() => outcome) : outcome;
}

class AppCall {
  private head: Head | null = null;
  private headSent = false;
  /** The response was completed (END or a 500 sent): a late legacy write() must not reach the sink. */
  private ended = false;

  constructor(
    private readonly sink: ResponseSink,
    private readonly environ: Environ,
    private readonly log: AppLog,
  ) {}

  readonly startResponse: StartResponse = (status, headers, excInfo) => {
    if (excInfo !== undefined && excInfo !== null) {
      // PEP 3333: with exc_info after the head went out, re-raise; before, replace the head.
      if (this.headSent) throw excInfo;
    } else if (this.head) {
      throw new ContractError('startResponse() called a second time without excInfo');
    }
    this.head = parseHead(status, headers);
    return this.write;
  };

  /** The legacy write(): sends the head first, then the chunk; its promise is the backpressure. */
  private readonly write: WriteFunction = (chunk) => {
    const sent = this.legacyWrite(chunk);
    // An app that does not await write() must not crash the worker with an unhandled
    // rejection: the failure is logged here, and still reaches an app that does await.
    sent.catch((err: unknown) => this.log.error({ err, ...requestFields(this.environ) }, 'write() failed'));
    return sent;
  };

  private async legacyWrite(chunk: unknown): Promise<void> {
    if (!this.head) throw new ContractError('write() called before startResponse()');
    await this.send(toBytes(chunk));
  }

  /**
   * Sends the result's chunks, then ends the response. Returns undefined when all of it was
   * done synchronously; otherwise, from the first promise met on, the promise of the rest.
   */
  iterate(result: AppResult): Promise<void> | undefined {
    const iterator = iteratorOf(result);
    // for-of semantics: an iterator left before its end (not one that ended or threw) is told
    // so with return(), once — here, or by iterateAwaited once it has taken over.
    let leftEarly = true;
    try {
      for (;;) {
        if (this.sink.cancelled) break;
        const next = this.next(iterator);
        if (isThenable(next)) {
          leftEarly = false;
          return this.iterateAwaited(iterator, this.awaitStep(next), undefined);
        }
        if (next.done) {
          leftEarly = false;
          break;
        }
        const sending = this.sendNow(toBytes(next.value));
        if (sending) {
          leftEarly = false;
          return this.iterateAwaited(iterator, undefined, sending);
        }
      }
    } catch (err) {
      if (this.nextThrew) leftEarly = false;
      throw err;
    } finally {
      if (leftEarly) this.leave(iterator);
    }
    if (!this.sink.cancelled) this.finish();
    return undefined;
  }

  /**
   * iterate()'s loop from a step or a chunk still pending: it awaits only what is pending. A
   * step or a send that is done at once is taken at once, as in iterate(): a generator that
   * yields a 256 MiB download in 64 KiB chunks waits for credit once per window instead of
   * awaiting twice per chunk (the worker's user time in that download, 4 pairs: 31, 23, 22,
   * 21 → 35, 20, 18, 18 ms; the first pair in a slow minute).
   */
  private async iterateAwaited(iterator: Iterator<Chunk> | AsyncIterator<Chunk>, step: Promise<Step> | undefined, sending: Promise<void> | undefined): Promise<void> {
    let leftEarly = true;
    try {
      for (;;) {
        if (sending) {
          await sending;
          sending = undefined;
        }
        let next: Step;
        if (step) {
          next = await step;
          step = undefined;
        } else {
          const taken = this.nextStep(iterator);
          if (isThenable(taken)) {
            step = taken;
            continue;
          }
          next = taken;
        }
        if (next === CANCELLED) break;
        if (next.done) {
          leftEarly = false;
          break;
        }
        sending = this.sendNow(toBytes(next.value));
      }
    } catch (err) {
      if (this.nextThrew) leftEarly = false;
      throw err;
    } finally {
      if (leftEarly) this.leave(iterator);
    }
    if (!this.sink.cancelled) this.finish();
  }

  private nextThrew = false;

  /**
   * The iterator's next step, or CANCELLED as soon as the stream is cancelled: an app that
   * waits (long polling, server-sent events) is left at once, not at its next chunk.
   */
  private nextStep(iterator: Iterator<Chunk> | AsyncIterator<Chunk>): Step | Promise<Step> {
    if (this.sink.cancelled) return CANCELLED;
    const next = this.next(iterator);
    return isThenable(next) ? this.awaitStep(next) : next;
  }

  /** iterator.next(), noting whether it threw (an iterator that threw is not told return()). */
  private next(iterator: Iterator<Chunk> | AsyncIterator<Chunk>): IteratorResult<Chunk> | PromiseLike<IteratorResult<Chunk>> {
    try {
      return iterator.next();
    } catch (err) {
      this.nextThrew = true;
      throw err;
    }
  }

  private awaitStep(next: PromiseLike<IteratorResult<Chunk>>): Promise<Step> {
    const settled = Promise.resolve(next).catch((err: unknown) => {
      this.nextThrew = true;
      throw err;
    });
    return this.raceCancel(settled);
  }

  /** Settles a step early on cancel; see raceCancel(). */
  private cancelStep: (() => void) | null = null;

  /**
   * `settled`, or CANCELLED if the stream is cancelled first. Not Promise.race() with
   * whenCancelled: each race would leave a reaction on that long-lived promise holding the
   * step's result, so every chunk of a long async response would stay in memory until the
   * stream ends. One subscription per call, cleared after each step, holds nothing.
   */
  private raceCancel(settled: Promise<IteratorResult<Chunk>>): Promise<IteratorResult<Chunk> | typeof CANCELLED> {
    if (!this.cancelWatched) {
      this.cancelWatched = true;
      void this.sink.whenCancelled.then(() => this.cancelStep?.());
    }
    return new Promise((resolve, reject) => {
      const step = () => resolve(CANCELLED);
      this.cancelStep = step;
      // Cleared only if still this step's: the next step may have begun before this runs.
      const clear = () => {
        if (this.cancelStep === step) this.cancelStep = null;
      };
      settled.then(resolve, reject).then(clear, clear);
    });
  }

  private cancelWatched = false;

  /**
   * Calls return(). An async generator still busy in its pending next() only runs return()
   * after it, so that one is not awaited (its failure is logged): close() must not wait for an
   * app that may never wake up.
   */
  private leave(iterator: Iterator<Chunk> | AsyncIterator<Chunk>): void {
    if (typeof iterator.return !== 'function') return;
    let returned: unknown;
    try {
      returned = iterator.return();
    } catch (err) {
      this.log.error({ err, ...requestFields(this.environ) }, 'iterator return() failed');
      return;
    }
    if (returned instanceof Promise) returned.catch((err: unknown) => this.log.error({ err, ...requestFields(this.environ) }, 'iterator return() failed'));
  }

  private async send(bytes: Uint8Array): Promise<void> {
    const pending = this.sendNow(bytes);
    if (pending) await pending;
  }

  /** Sends a chunk (the head first if still held); a promise only when it waits for credit. */
  private sendNow(bytes: Uint8Array): Promise<void> | undefined {
    if (bytes.length === 0 || this.sink.cancelled) return undefined;
    if (this.ended) throw new ContractError('write() called after the response ended');
    if (!this.head) throw new ContractError('the application sent body data before calling startResponse()');
    if (!this.headSent) this.sendHead(false);
    return this.sink.write(bytes);
  }

  private finish(): void {
    if (!this.head) throw new ContractError('the application returned without calling startResponse()');
    this.ended = true;
    if (this.headSent) this.sink.end();
    else this.sendHead(true);
  }

  private sendHead(end: boolean): void {
    const head = this.head!;
    // Marked sent only once the sink took it: a head the sink refuses (too large) still gets a 500.
    this.sink.sendHead(head.status, head.reason, head.headers, end);
    this.headSent = true;
  }

  fail(err: unknown, environ: Environ, log: AppLog): void {
    if (this.sink.cancelled) return;
    this.ended = true;
    log.error({ err, ...requestFields(environ), headSent: this.headSent }, 'application error');
    if (this.headSent) {
      this.sink.abort(errorMessage(err));
      return;
    }
    const headers: Header[] = [
      ['Content-Type', 'text/plain; charset=utf-8'],
      ['Content-Length', String(SERVER_ERROR_BODY.length)],
    ];
    this.headSent = true;
    this.sink.sendHead(500, 'Internal Server Error', headers, false);
    const pending = this.sink.write(SERVER_ERROR_BODY);
    if (pending) pending.then(() => this.sink.cancelled || this.sink.end(), () => undefined);
    else this.sink.end();
  }
}

function iteratorOf(result: AppResult): Iterator<Chunk> | AsyncIterator<Chunk> {
  if (result !== null && typeof result === 'object' && typeof (result as Uint8Array).byteLength !== 'number') {
    if (Symbol.asyncIterator in result) return (result as AsyncIterable<Chunk>)[Symbol.asyncIterator]();
    if (Symbol.iterator in result) return (result as Iterable<Chunk>)[Symbol.iterator]();
  }
  // A bare string or buffer is almost always a mistake (a string would go out one char at a time).
  throw new ContractError(`the application must return an iterable of chunks, got ${describe(result)}`);
}

/** Calls the result's close(), if any, logging its failure; a promise only if close() returned one. */
function closeResult(result: unknown, environ: Environ, log: AppLog): Promise<void> | undefined {
  const close = (result as { close?: unknown } | null | undefined)?.close;
  if (typeof close !== 'function') return undefined;
  const failed = (err: unknown) => log.error({ err, ...requestFields(environ) }, 'application close() failed');
  let closing: unknown;
  try {
    closing = close.call(result);
  } catch (err) {
    failed(err);
    return undefined;
  }
  return isThenable(closing) ? Promise.resolve(closing).then(() => undefined, failed) : undefined;
}

/** What `await` would wait for: a promise, or any object with a then() method. */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

function toBytes(chunk: unknown): Uint8Array {
  if (typeof chunk === 'string') return encoder.encode(chunk);
  if (chunk instanceof Uint8Array) return chunk;
  throw new ContractError(`body chunks must be strings or Uint8Arrays, got ${describe(chunk)}`);
}

// A final status: 1xx would leave the client waiting for a head that never comes.
const STATUS = /^([2-5]\d\d)(?: (.*))?$/;

function parseHead(status: unknown, headers: unknown): Head {
  const match = typeof status === 'string' ? STATUS.exec(status) : null;
  if (!match) throw new ContractError(`invalid status ${JSON.stringify(status)}: expected "NNN Reason" with NNN in 200..599`);
  if (!Array.isArray(headers)) throw new ContractError('response headers must be an array of [name, value] pairs');
  const out: Header[] = [];
  for (const pair of headers) {
    if (!Array.isArray(pair) || pair.length !== 2) throw new ContractError(`invalid header ${describe(pair)}: expected [name, value]`);
    const [name, raw] = pair as [unknown, unknown];
    const value = typeof raw === 'number' ? String(raw) : raw;
    if (typeof name !== 'string' || !isToken(name)) throw new ContractError(`invalid header name ${JSON.stringify(name)}`);
    // PEP 3333: an application must not send hop-by-hop fields (wsgiref refuses them too). The
    // proxy refuses a head carrying one (502); refusing it here makes it the app's 500, logged
    // with the app's error instead of the proxy's.
    if (isHopByHopName(name)) throw new ContractError(`hop-by-hop header ${name}: an application must not send it (PEP 3333)`);
    if (typeof value !== 'string' || !isFieldValue(value)) {
      throw new ContractError(`invalid value for header ${name}: ${JSON.stringify(value)}`);
    }
    out.push([name, value]);
  }
  return { status: Number(match[1]), reason: match[2] ?? '', headers: out };
}

/** A message for any thrown value, even one whose String() throws (Object.create(null)). */
export function errorMessage(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'an unprintable value was thrown';
  }
}

function requestFields(environ: Environ): object {
  return { reqId: environ['tsgi.request_id'], method: environ.REQUEST_METHOD, path: environ.PATH_INFO };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}
