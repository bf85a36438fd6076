import { resolve } from 'node:path';
import type { RequestListener } from 'node:http';
import { pathToFileURL } from 'node:url';
import type { Application } from './app.js';
import { AppLoadError } from '../errors.js';
import type { FetchHandler } from './fetch-app.js';
import type { Contract } from '../options.js';


export interface LoadedApp {
  app: Application;
  /** `file.js:export` as given, for HELLO and logs. */
  spec: string;
  /** The calling convention it is hosted with: forced, or detected from the export. */
  contract: Exclude<Contract, 'auto'>;
}

/** Splits `path/to/file.js[:exportName]`; the default export when no name is given. */
export function parseAppSpec(spec: string): { file: string; exportName: string } {
  const colon = spec.lastIndexOf(':');
  // A colon followed by an identifier names an export; anything else is part of the path.
  if (colon > 0 && /^[A-Za-z_$][\w$]*$/.test(spec.slice(colon + 1))) {
    return { file: spec.slice(0, colon), exportName: spec.slice(colon + 1) };
  }
  return { file: spec, exportName: 'default' };
}

export async function loadApp(spec: string, cwd = process.cwd(), contract: Contract = 'auto'): Promise<LoadedApp> {
  const { file, exportName } = parseAppSpec(spec);
  const url = pathToFileURL(resolve(cwd, file)).href;
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new AppLoadError(`cannot load ${file}: ${(err as Error).message}`, { cause: err });
  }
  const exported = module[exportName];
  if (!isCallable(exported) && !hasFetch(exported)) {
    const found = Object.keys(module).join(', ') || 'none';
    throw new AppLoadError(`${file} has no function export "${exportName}" (exports: ${found}); an app is a function or an object with a fetch method`);
  }
  const chosen = contract === 'auto' ? detectContract(exported) : contract;
  return { app: await adapt(exported, chosen, `${file}:${exportName}`), spec, contract: chosen };
}

/**
 * The `auto` rule: an object or function with a callable `fetch` is a fetch handler (Hono's
 * app, `export default { fetch }`); a function declared with exactly one parameter is a fetch
 * handler `(request) => Response`; one with exactly three is a Node listener in the Express /
 * Connect style `(req, res, next)`; any other function is a WSGI app (environ, startResponse).
 * A plain `(req, res)` listener has a WSGI app's arity, so it needs `--contract node`.
 */
export function detectContract(exported: unknown): Exclude<Contract, 'auto'> {
  if (hasFetch(exported)) return 'fetch';
  if (isCallable(exported) && exported.length === 1) return 'fetch';
  if (isCallable(exported) && exported.length === 3) return 'node';
  return 'wsgi';
}

/**
 * The fetch and Node adapters are imported only for an app that needs them: they bring
 * node:http and the Web request classes, ~1 MiB of a worker that hosts a WSGI-style app.
 */
async function adapt(exported: unknown, contract: Exclude<Contract, 'auto'>, where: string): Promise<Application> {
  switch (contract) {
    case 'fetch': {
      const handler = fetchHandler(exported, where);
      const { fromFetchHandler } = await import('./fetch-app.js');
      return fromFetchHandler(handler);
    }
    case 'wsgi':
      if (!isCallable(exported)) throw new AppLoadError(`${where} is not a function, so not a WSGI app (it has a fetch method: try --contract fetch)`);
      return exported as Application;
    case 'node': {
      if (!isCallable(exported)) throw new AppLoadError(`${where} is not a function, so not a (req, res) listener`);
      const { fromNodeListener } = await import('./node-app.js');
      return fromNodeListener(exported as RequestListener);
    }
  }
}

/** `{ fetch }` is called as a method (Hono's fetch is bound, a plain object's may use `this`). */
function fetchHandler(exported: unknown, where: string): FetchHandler {
  if (hasFetch(exported)) {
    const target = exported;
    return (request, environ) => target.fetch(request, environ);
  }
  if (isCallable(exported)) return exported as FetchHandler;
  throw new AppLoadError(`${where} is neither a function nor an object with a fetch method`);
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
function isCallable(value: unknown): value is Function {
  return typeof value === 'function';
}

function hasFetch(value: unknown): value is { fetch: FetchHandler } {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { fetch?: unknown }).fetch === 'function';
}
