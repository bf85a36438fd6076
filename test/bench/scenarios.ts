/**
 * The scenarios of issue #7, each a path every system serves (endpoints.ts) and a way to load
 * it: `load` (many keep-alive connections, wrk or autocannon), `transfer` (one large body at a
 * time on one connection, our own client) or `idle` (open many connections, then measure the
 * memory they cost). `scaling` is hello-c256 again for tsgi on one core and on two. The
 * framework scenarios (issue #15) load a page of a Flask or a Django app: only the systems that
 * host Python WSGI apps run them, each the same app.
 */
import { cataloguePage, HELLO, JSON_BYTES } from './endpoints.js';

export type ScenarioKind = 'load' | 'transfer' | 'idle';

export interface Scenario {
  name: string;
  describe: string;
  kind: ScenarioKind;
  method: 'GET' | 'POST';
  path: string;
  /** Concurrent connections (load), connections to open and hold (idle), 1 (transfer). */
  connections: number;
  /** Bytes of the response body (GET) or of the request body (POST /upload). */
  bodyBytes: number;
  /** Every response body must equal this, where it is small enough to compare. */
  expectBody: string | null;
  /** A framework's app the Python systems serve instead of wsgi_app.py; only they run this scenario. */
  framework?: Framework;
}

/** A WSGI app of a framework, in test/bench, that every Python system hosts alike. */
export interface Framework {
  /** The module the interpreter must be able to import (else the scenario is skipped). */
  module: string;
  /** MODULE:CALLABLE, imported from test/bench. */
  app: string;
  /** The Debian package that provides the module. */
  debian: string;
  describe: string;
}

/** The Python systems' app everywhere else: the hello world of endpoints.ts. */
export const HELLO_WSGI_APP = 'wsgi_app:application';

export const FLASK: Framework = { module: 'flask', app: 'flask_app:app', debian: 'python3-flask', describe: 'Flask: routing, url_for x21, a Jinja2 template' };
export const DJANGO: Framework = {
  module: 'django',
  app: 'django_app:application',
  debian: 'python3-django',
  describe: "Django: startproject's middleware, routing, reverse() x21, a Django template",
};

export interface Sizes {
  downloadBytes: number;
  uploadBytes: number;
  idleConnections: number;
}

const MIB = 1024 * 1024;

export const FULL_SIZES: Sizes = { downloadBytes: 256 * MIB, uploadBytes: 64 * MIB, idleConnections: 10_000 };
export const QUICK_SIZES: Sizes = { downloadBytes: 32 * MIB, uploadBytes: 16 * MIB, idleConnections: 2_000 };

function hello(connections: number): Scenario {
  return {
    name: `hello-c${connections}`,
    describe: `GET / -> 12 bytes text/plain, ${connections} keep-alive connection${connections === 1 ? '' : 's'}`,
    kind: 'load',
    method: 'GET',
    path: '/',
    connections,
    bodyBytes: HELLO.length,
    expectBody: HELLO,
  };
}

/** The catalogue page the framework scenarios load: routing, URL reversing, an autoescaped template. */
const CATALOGUE_PAGE = 42;

function frameworkPage(name: string, framework: Framework): Scenario {
  const body = cataloguePage(CATALOGUE_PAGE);
  const bytes = Buffer.byteLength(body);
  return {
    name,
    describe: `GET /catalogue/${CATALOGUE_PAGE} -> ${bytes} bytes text/html (${framework.describe}), 50 keep-alive connections`,
    kind: 'load',
    method: 'GET',
    path: `/catalogue/${CATALOGUE_PAGE}`,
    connections: 50,
    bodyBytes: bytes,
    expectBody: body,
    framework,
  };
}

export function scenarios(sizes: Sizes): Scenario[] {
  return [
    hello(1),
    hello(50),
    hello(256),
    {
      name: 'json-100k',
      describe: `GET /json -> ${JSON_BYTES} bytes application/json, 50 keep-alive connections`,
      kind: 'load',
      method: 'GET',
      path: '/json',
      connections: 50,
      bodyBytes: JSON_BYTES,
      expectBody: null,
    },
    {
      name: 'download',
      describe: `GET /download/${sizes.downloadBytes} -> ${mib(sizes.downloadBytes)} streamed, one at a time on one connection`,
      kind: 'transfer',
      method: 'GET',
      path: `/download/${sizes.downloadBytes}`,
      connections: 1,
      bodyBytes: sizes.downloadBytes,
      expectBody: null,
    },
    {
      name: 'upload',
      describe: `POST /upload with ${mib(sizes.uploadBytes)} (Content-Length), the app counts the bytes, one at a time`,
      kind: 'transfer',
      method: 'POST',
      path: '/upload',
      connections: 1,
      bodyBytes: sizes.uploadBytes,
      expectBody: String(sizes.uploadBytes),
    },
    {
      name: 'idle',
      describe: `${sizes.idleConnections.toLocaleString('en-US')} keep-alive connections, one GET / each, then held idle: server RSS delta per connection`,
      kind: 'idle',
      method: 'GET',
      path: '/',
      connections: sizes.idleConnections,
      bodyBytes: HELLO.length,
      expectBody: HELLO,
    },
    frameworkPage('flask-page', FLASK),
    frameworkPage('django-page', DJANGO),
    { ...hello(256), name: 'scaling', describe: 'hello-c256 for tsgi on one core and on two (proxy workers auto, runner --workers 2); the load generator shares a core' },
  ];
}

export function mib(bytes: number): string {
  return `${+(bytes / MIB).toFixed(1)} MiB`;
}
