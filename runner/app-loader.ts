import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Application } from './app.js';

/** Why an app could not be loaded; the runner exits with a distinct code for it. */
export class AppLoadError extends Error {
  override readonly name = 'AppLoadError';
}

export interface LoadedApp {
  app: Application;
  /** `file.js:export` as given, for HELLO and logs. */
  spec: string;
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

export async function loadApp(spec: string, cwd = process.cwd()): Promise<LoadedApp> {
  const { file, exportName } = parseAppSpec(spec);
  const url = pathToFileURL(resolve(cwd, file)).href;
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new AppLoadError(`cannot load ${file}: ${(err as Error).message}`, { cause: err });
  }
  const app = module[exportName];
  if (typeof app !== 'function') {
    const found = Object.keys(module).join(', ') || 'none';
    throw new AppLoadError(`${file} has no function export "${exportName}" (exports: ${found})`);
  }
  return { app: app as Application, spec };
}
