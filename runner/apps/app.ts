/**
 * The application contract (PEP 3333 in JavaScript terms):
 *
 *   export default function app(environ, startResponse) {
 *     startResponse('200 OK', [['Content-Type', 'text/plain']]);
 *     return ['Hello World!'];
 *   }
 *
 * The result may be any iterable or async iterable of string | Uint8Array, or a Promise of one.
 * Strings are sent as UTF-8. `close()` on the result is called exactly once when the response
 * ends, fails or the client leaves; an iterator left early gets `return()`.
 */
export type Chunk = string | Uint8Array;

export type Header = [name: string, value: string];

/** The legacy write(): await it to respect backpressure. */
export type WriteFunction = (chunk: Chunk) => Promise<void>;

export type StartResponse = (status: string, headers: ReadonlyArray<readonly [string, string | number]>, excInfo?: unknown) => WriteFunction;

export type AppResult = Iterable<Chunk> | AsyncIterable<Chunk>;

export type Environ = Record<string, unknown>;

export type Application = (environ: Environ, startResponse: StartResponse) => AppResult | Promise<AppResult>;
