#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';
import { WORKER_ENV } from './supervision/ipc.js';
import { masterV8Flags } from './supervision/master-flags.js';

// Before anything else loads: what loading does is what would turn the compilers on.
if (process.env[WORKER_ENV] === undefined) {
  const flags = masterV8Flags(process.execArgv, process.env.NODE_OPTIONS);
  if (flags) setFlagsFromString(flags);
}

await import('./main.js');
