/** The Python e2e tests' shared pieces: the interpreter, a runner + proxy group, small clients. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fetchBuffer, type RequestOptions } from './http.js';
import { FIXTURES, simpleConfig, startProxy, startRunner, tempDir, type Teardown } from './processes.js';

/** Debian's interpreter, which has python3-msgpack (the pyenv python3 on PATH does not). */
export const PYTHON = process.env.TSGI_TEST_PYTHON ?? '/usr/bin/python3';
export const PYTHON_APPS = join(FIXTURES, 'python');

/** Why the Python tests cannot run here, or null. */
export function pythonMissing(): string | null {
  const probe = spawnSync(PYTHON, ['-c', 'import msgpack'], { encoding: 'utf8' });
  return probe.status === 0 ? null : `${PYTHON} cannot import msgpack (apt-get install python3-msgpack)`;
}

/** tsgi-runner --python with `app` from test/fixtures/python, and a proxy in front of it. */
export async function pythonGroup(t: Teardown, app: string, args: string[], python = PYTHON) {
  const dir = tempDir(t);
  const socket = join(dir, 'app.sock');
  const runner = await startRunner(t, { app, socket, args: ['--python', '--python-executable', python, '--chdir', PYTHON_APPS, ...args] });
  const proxy = await startProxy(t, dir, simpleConfig(socket, { server: 'client_max_body_size 2g;' }));
  return { dir, socket, runner, proxy };
}

export type JsonValue = Record<string, unknown> & { strings: Record<string, string> };

export async function fetchJson(url: string, options: RequestOptions = {}): Promise<{ status: number; value: JsonValue }> {
  const reply = await fetchBuffer(url, options);
  return { status: reply.status, value: JSON.parse(reply.body.toString()) as JsonValue };
}
