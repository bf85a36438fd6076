/**
 * Node's own HTTP/1 parser: the llhttp binding node:http drives, reached through the
 * `_http_common` module Node has always exposed. The lane (connection.ts) parses with it
 * exactly as node:http does (strict: no lenient flag, the same head size bound), so a request
 * the lane serves is one node:http would have read the same way, with llhttp's smuggling
 * defences intact. Undocumented: when a Node release moves or changes it, `parserBinding` is
 * null and every connection goes to node:http's server (listener.ts).
 */
import { createRequire } from 'node:module';

/** The callbacks' slots on a parser, as numbered by the binding. */
export interface ParserSlots {
  readonly REQUEST: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  /** Called after each read the parser took from a consumed socket, with execute's result. */
  readonly kOnExecute: number;
  /** llhttp strict: node:http's setting unless insecureHTTPParser. */
  readonly lenientNone: number;
}

export interface NodeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Bytes parsed, or the parse error (code HPE_*). */
  execute(chunk: Buffer): number | Error;
  /** Reads the socket's handle directly: no Buffer, no stream event per read. */
  consume(handle: object): void;
  unconsume(): void;
  /** A copy of the read being parsed (from kOnExecute). */
  getCurrentBuffer(): Buffer;
  close(): void;
  [slot: number]: unknown;
}

export interface ParserBinding {
  readonly slots: ParserSlots;
  /** Method names by llhttp's method number. */
  readonly methods: readonly string[];
  create(): NodeParser;
}

export const parserBinding: ParserBinding | null = load();

function load(): ParserBinding | null {
  try {
    const common = createRequire(import.meta.url)('_http_common') as {
      HTTPParser?: (new () => NodeParser) & Partial<ParserSlots> & { kLenientNone?: number };
      methods?: string[];
    };
    const { HTTPParser, methods } = common;
    if (typeof HTTPParser !== 'function' || !Array.isArray(methods)) return null;
    const { REQUEST, kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete, kOnExecute, kLenientNone } = HTTPParser;
    const slots = [REQUEST, kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete, kOnExecute, kLenientNone];
    if (!slots.every((slot) => typeof slot === 'number')) return null;
    const proto = HTTPParser.prototype as Partial<NodeParser>;
    const methodsNeeded = ['initialize', 'execute', 'consume', 'unconsume', 'getCurrentBuffer', 'close'] as const;
    if (!methodsNeeded.every((name) => typeof proto[name] === 'function')) return null;
    return {
      slots: { REQUEST: REQUEST!, kOnHeaders: kOnHeaders!, kOnHeadersComplete: kOnHeadersComplete!, kOnBody: kOnBody!, kOnMessageComplete: kOnMessageComplete!, kOnExecute: kOnExecute!, lenientNone: kLenientNone! },
      methods,
      create: () => new HTTPParser(),
    };
  } catch {
    return null;
  }
}
