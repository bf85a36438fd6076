/**
 * The config pipeline: text → tokens → syntax tree → checked scopes → ProxyConfig.
 * Paths in the config (unix sockets) are kept as written, as nginx does; `include` paths are
 * relative to the including file (include.ts).
 */
import { readFileSync } from 'node:fs';
import { buildConfig } from './build.js';
import { ConfigError } from './errors.js';
import { parseText } from './parser.js';
import type { ProxyConfig } from './types.js';
import { validate } from './validate.js';

/** `file` only names the source in errors and in the result. Throws ConfigError. */
export function parseConfig(text: string, file: string): ProxyConfig {
  return buildConfig(validate(parseText(text, file), file), file);
}

/** Reads and parses a config file. Throws ConfigError, also when the file cannot be read. */
export function loadConfig(file: string): ProxyConfig {
  return parseConfig(readConfigFile(file), file);
}

function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code;
    throw new ConfigError('E_FILE', `cannot read config file (${reason})`, { file, line: 0, column: 0 });
  }
}
