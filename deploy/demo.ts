/**
 * `npm start`: the demo in one command — a runner hosting deploy/examples/app.js on a Unix
 * socket and the proxy in front of it on http://127.0.0.1:8080. Ctrl-C (or SIGTERM) stops
 * both gracefully; the runner removes its socket on the way out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { proxyEnvironment } from '../proxy/node-options.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SOCKET = '/tmp/tsgi-demo.sock';

function start(cli: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  // Own process group: the terminal's Ctrl-C reaches us once, and we stop the children in order.
  return spawn(process.execPath, [`${root}dist/${cli}`, ...args], { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

const runner = start('runner/cli.js', ['--socket', `unix:${SOCKET}`, 'deploy/examples/app.js']);
const proxy = start('proxy/cli.js', ['-c', 'deploy/examples/tsgi.conf'], proxyEnvironment());
process.stdout.write('tsgi demo: http://127.0.0.1:8080/  (also /echo, /stream, /environ) — Ctrl-C to stop\n');

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  proxy.kill('SIGTERM');
  await exited(proxy);
  runner.kill('SIGTERM');
  await exited(runner);
  process.exit(0);
}

// Whatever ends this process, the children do not outlive it.
process.on('exit', () => {
  for (const child of [proxy, runner]) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
});
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
// If either child dies on its own, the demo is broken: stop the other and report.
for (const child of [runner, proxy]) {
  child.once('exit', (code) => {
    if (stopping) return;
    process.stderr.write(`tsgi demo: a process exited unexpectedly (code ${code}); stopping\n`);
    void stop().then(() => process.exit(1));
  });
}
