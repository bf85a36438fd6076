#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';
import { WORKER_ENV } from './supervision/ipc.js';

// The master only supervises: it forks, reads heartbeats and logs. V8's optimizing compiler
// would page in ~3.5 MiB of the node binary's machine code the first time something turns hot
// (loading pino is enough), for code that runs ten times a second at most. So the master runs
// without it, set before anything else loads. A worker is forked with the command line's node
// flags (process.execArgv), which this does not change: it keeps the optimizer it serves with.
if (process.env[WORKER_ENV] === undefined) setFlagsFromString('--no-opt');

await import('./main.js');
