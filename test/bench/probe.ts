/**
 * Readiness and correctness probes: a free local port, a bound Unix socket, and one
 * plain GET whose status, headers and body we check before any load is applied.
 */
import type { ChildProcess } from 'node:child_process';
import { lstat } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { HELLO, jsonBody } from './endpoints.js';
import { isRunning } from './processes.js';

export { HELLO };

/** A port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface Response {
  status: number;
  rawHeaders: string[];
  body: string;
  /** The request went out on a kept-alive connection. */
  reusedSocket: boolean;
}

/** One GET; with no agent the connection is closed afterwards. */
export function get(url: string, agent: Agent | false = false, timeoutMs = 2000): Promise<Response> {
  return getBytes(url, agent, timeoutMs).then(({ bytes, ...res }) => ({ ...res, body: bytes.toString('utf8') }));
}

function getBytes(url: string, agent: Agent | false, timeoutMs: number): Promise<Omit<Response, 'body'> & { bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, rawHeaders: res.rawHeaders, bytes: Buffer.concat(chunks), reusedSocket: req.reusedSocket }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Before load: two GETs on one keep-alive connection must both be the hello answer, and the
 * second must reuse the connection (a server that closes after each response would make the
 * load generator reconnect silently and measure something else). Returns the first response.
 */
export async function checkHello(url: string): Promise<Response> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await get(url, agent);
    const second = await get(url, agent);
    for (const res of [first, second]) {
      const why = helloMismatch(res);
      if (why) throw new Error(`wrong answer: ${why}`);
    }
    if (!second.reusedSocket) throw new Error('the connection was not kept alive between two requests');
    return first;
  } finally {
    agent.destroy();
  }
}

const JSON_BODY = jsonBody();

/** Before the json-100k load: the exact document (wrk checks only byte counts under load). */
export function checkJson(base: string): Promise<void> {
  return checkExact(base, '/json', 'application/json', JSON_BODY);
}

/** Before a framework scenario's load: the exact page, as the template must render it. */
export function checkPage(base: string, path: string, page: string): Promise<void> {
  return checkExact(base, path, 'text/html', Buffer.from(page));
}

async function checkExact(base: string, path: string, expectedType: string, expected: Buffer): Promise<void> {
  const res = await getBytes(new URL(path.slice(1), base).href, false, 2000);
  const type = header({ ...res, body: '' }, 'content-type');
  if (res.status !== 200) throw new Error(`GET ${path}: status ${res.status}, expected 200`);
  if (!type?.startsWith(expectedType)) throw new Error(`GET ${path}: Content-Type ${JSON.stringify(type)}, expected ${expectedType}`);
  if (!res.bytes.equals(expected)) throw new Error(`GET ${path}: ${res.bytes.length} bytes that are not the expected ${expected.length}-byte document`);
}

/** Why a response is not the hello answer every system must give; null when it is. */
export function helloMismatch(res: Response): string | null {
  if (res.status !== 200) return `status ${res.status}, expected 200`;
  const type = header(res, 'content-type');
  if (!type?.startsWith('text/plain')) return `Content-Type ${JSON.stringify(type)}, expected text/plain`;
  if (res.body !== HELLO) return `body ${JSON.stringify(res.body.slice(0, 80))}, expected ${JSON.stringify(HELLO)}`;
  return null;
}

function header(res: Response, name: string): string | undefined {
  for (let i = 0; i < res.rawHeaders.length; i += 2) if (res.rawHeaders[i]!.toLowerCase() === name) return res.rawHeaders[i + 1];
  return undefined;
}

export interface WaitOptions {
  timeoutMs: number;
  /** Give up at once when one of these exits. */
  children: ChildProcess[];
  signal: AbortSignal;
}

/** Polls `attempt` until it returns a value; fails on timeout, on a child's exit, on abort. */
export async function waitFor<T>(what: string, attempt: () => Promise<T>, options: WaitOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'not tried';
  for (;;) {
    options.signal.throwIfAborted();
    const dead = options.children.find((child) => !isRunning(child));
    if (dead) throw new Error(`${what}: process ${dead.pid} exited (code ${dead.exitCode}, signal ${dead.signalCode})`);
    try {
      return await attempt();
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${options.timeoutMs} ms (${last})`);
    await sleep(50, undefined, { signal: options.signal });
  }
}

/** The runner has bound its socket (checked by file type, so the runner sees no stray connection). */
export async function unixSocketBound(path: string): Promise<void> {
  if (!(await lstat(path)).isSocket()) throw new Error(`${path} is not a socket`);
}
