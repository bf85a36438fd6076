/**
 * The runner's command line (runner/options.ts) and how it finds the application
 * (runner/apps/app-loader.ts): defaults, every option, and the errors an operator gets.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import t from 'tap';
import { loadApp, parseAppSpec } from '../../runner/apps/app-loader.js';
import { AppLoadError, UsageError } from '../../runner/errors.js';
import type { Application, Chunk } from '../../runner/apps/app.js';
import { USAGE, parseRunnerArgs, type RunnerOptions } from '../../runner/options.js';
import { FIXTURES } from '../helpers/root.js';

function options(argv: string[]): RunnerOptions {
  const parsed = parseRunnerArgs(argv);
  if (parsed.kind !== 'run') throw new Error(`expected a run, got ${parsed.kind}`);
  return parsed.options;
}

t.test('python apps', async (t) => {
  const o = options(['--python', '--python-executable', '/usr/bin/python3', '--chdir', '/srv/app', '--threads', '4', 'pkg.wsgi:application']);
  t.match(o, { python: true, pythonExecutable: '/usr/bin/python3', chdir: '/srv/app', threads: 4, app: 'pkg.wsgi:application' });
  t.equal(options(['--python', 'app:create_app()']).app, 'app:create_app()');
  t.throws(() => options(['--python', 'app.py']), /MODULE:CALLABLE/);
  t.throws(() => options(['--python', 'app:app', 'other:app']), /exactly one MODULE:CALLABLE/);
  t.throws(() => options(['--python', '--contract', 'fetch', 'app:app']), /--contract is for JavaScript/);
  t.throws(() => options(['--python', '--threads', '0', 'app:app']), /--threads: expected an integer in 1\.\.1024/);
  t.throws(() => options(['--chdir', '/srv', 'app.js']), /--chdir needs --python/);
  t.throws(() => options(['--threads', '2', 'app.js']), /--threads needs --python/);
});

t.test('contracts', async (t) => {
  for (const kind of ['auto', 'wsgi', 'fetch', 'node']) t.equal(options(['--contract', kind, 'app.js']).contract, kind);
  t.throws(() => options(['--contract', 'express', 'app.js']), /--contract: expected one of auto, wsgi, fetch, node, got "express"/);
});

t.test('TCP stays on loopback unless --allow-remote', async (t) => {
  for (const socket of ['127.0.0.1:9000', '[::1]:9000', 'localhost:9000']) t.equal(options(['-s', socket, 'app.js']).address.kind, 'tcp', socket);
  t.throws(() => options(['-s', '0.0.0.0:9000', 'app.js']), /--socket: 0\.0\.0\.0 is not a loopback address.*--allow-remote/);
  t.throws(() => options(['--stats', '10.0.0.1:9191', 'app.js']), /--stats: 10\.0\.0\.1 is not a loopback/);
  t.match(options(['--allow-remote', '-s', '0.0.0.0:9000', 'app.js']), { allowRemote: true, address: { kind: 'tcp', host: '0.0.0.0', port: 9000 } });
});

/** What an empty command line (but the APP) gives. */
const DEFAULTS: RunnerOptions = {
  app: 'app.js',
  contract: 'auto',
  python: false,
  pythonExecutable: process.env.TSGI_PYTHON ?? 'python3',
  chdir: null,
  threads: 1,
  allowRemote: false,
  address: { kind: 'unix', path: 'tsgi.sock' },
  mode: 0o660,
  maxStreams: 1024,
  gracefulTimeoutMs: 30_000,
  logLevel: 'info',
  workers: 1,
  harakiriMs: 0,
  maxRequests: 0,
  maxRequestsJitter: 0,
  reloadOnRssBytes: 0,
  stats: null,
  chown: null,
  uid: null,
  gid: null,
};

t.test('defaults', async (t) => {
  t.same(options(['app.js']), DEFAULTS);
});

t.test('process management options', async (t) => {
  t.equal(options(['-w', '4', 'a.js']).workers, 4);
  t.equal(options(['--workers', 'auto', 'a.js']).workers, availableParallelism(), 'auto = one per core');
  t.equal(options(['--workers=512', 'a.js']).workers, 512);
  t.equal(options(['--harakiri', '3', 'a.js']).harakiriMs, 3000);
  const recycling = options(['--max-requests', '1000', '--max-requests-jitter', '50', '--reload-on-rss', '256', 'a.js']);
  t.equal(recycling.maxRequests, 1000);
  t.equal(recycling.maxRequestsJitter, 50);
  t.equal(recycling.reloadOnRssBytes, 256 * 1024 * 1024);
  for (const option of ['--workers', '--harakiri', '--max-requests', '--max-requests-jitter', '--reload-on-rss']) {
    t.match(USAGE, option, `the usage text documents ${option}`);
  }
  t.same(options(['--stats', '127.0.0.1:9191', 'a.js']).stats, { kind: 'tcp', host: '127.0.0.1', port: 9191 });
  t.same(options(['--stats', 'unix:/run/tsgi/stats.sock', 'a.js']).stats, { kind: 'unix', path: '/run/tsgi/stats.sock' });
  t.match(USAGE, '--stats');
  const owned = options(['--chown', 'www-data:tsgi', '--uid', 'nobody', '--gid', '65534', 'a.js']);
  t.same(owned.chown, { user: 'www-data', group: 'tsgi' });
  t.equal(owned.uid, 'nobody');
  t.equal(owned.gid, '65534');
  t.same(options(['--chown', ':tsgi', 'a.js']).chown, { user: null, group: 'tsgi' }, 'group only');
  t.same(options(['--chown', '1000:', 'a.js']).chown, { user: '1000', group: null }, 'user only');
  for (const option of ['--chown', '--uid', '--gid']) t.match(USAGE, option);
});

t.test('every option', async (t) => {
  t.same(
    options(['--socket', 'unix:/run/tsgi/app.sock', '--chmod', '600', '--max-streams', '8', '--graceful-timeout', '5', '--log-level', 'debug', 'srv/app.js:handler']),
    {
      ...DEFAULTS,
      app: 'srv/app.js:handler',
      address: { kind: 'unix', path: '/run/tsgi/app.sock' },
      mode: 0o600,
      maxStreams: 8,
      gracefulTimeoutMs: 5000,
      logLevel: 'debug',
    },
  );
  t.same(options(['-s', '127.0.0.1:9000', 'a.js']).address, { kind: 'tcp', host: '127.0.0.1', port: 9000 }, '-s, TCP');
  t.same(options(['--socket=[::1]:9001', 'a.js']).address, { kind: 'tcp', host: '::1', port: 9001 }, '--opt=value, IPv6');
  t.same(options(['a.js', '--max-streams', '1']).maxStreams, 1, 'options after the APP');
  t.equal(options(['--chmod', '0666', 'a.js']).mode, 0o666, 'a leading 0 is accepted');
  t.equal(options(['--chmod', '000', 'a.js']).mode, 0);
  t.equal(options(['--graceful-timeout', '0', 'a.js']).gracefulTimeoutMs, 0, 'no grace at all');
  t.equal(options(['--graceful-timeout', '86400', 'a.js']).gracefulTimeoutMs, 86_400_000);
  t.equal(options(['--max-streams', '4294967295', 'a.js']).maxStreams, 0xffffffff);
  for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) {
    t.equal(options(['--log-level', level, 'a.js']).logLevel, level);
  }
  t.same(parseRunnerArgs(['-h']), { kind: 'help' });
  t.same(parseRunnerArgs(['--help', 'a.js']), { kind: 'help' });
  t.same(parseRunnerArgs(['-v']), { kind: 'version' });
  t.same(parseRunnerArgs(['--version']), { kind: 'version' });
  for (const option of ['--socket', '--chmod', '--max-streams', '--graceful-timeout', '--log-level']) {
    t.match(USAGE, option, `the usage text documents ${option}`);
  }
});

t.test('bad command lines are UsageErrors that say what is wrong', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [[], /exactly one APP/],
    [['a.js', 'b.js'], /exactly one APP/],
    [['--nope', 'a.js'], /--nope/],
    [['-x', 'a.js'], /-x/],
    [['a.js', '--socket'], /--socket/],
    [['--help=yes'], /help/],
    [['--socket', 'nowhere', 'a.js'], /--socket: .*"nowhere"/],
    [['--socket', 'unix:', 'a.js'], /--socket: .*empty socket path/],
    [['--socket', 'host:0', 'a.js'], /--socket: invalid port in "host:0"/],
    [['--socket', 'host:65536', 'a.js'], /--socket: invalid port/],
    [['--chmod', '999', 'a.js'], /--chmod: expected an octal mode like 660, got "999"/],
    [['--chmod', 'rw-rw----', 'a.js'], /--chmod: .*"rw-rw----"/],
    [['--chmod', '66', 'a.js'], /--chmod: .*"66"/],
    [['--chmod', '10660', 'a.js'], /--chmod: .*"10660"/],
    [['--chmod', '', 'a.js'], /--chmod/],
    [['--max-streams', '0', 'a.js'], /--max-streams: expected an integer in 1\.\.4294967295, got "0"/],
    [['--max-streams=-1', 'a.js'], /--max-streams: .*"-1"/],
    [['--max-streams', '1.5', 'a.js'], /--max-streams: .*"1\.5"/],
    [['--max-streams', 'many', 'a.js'], /--max-streams: .*"many"/],
    [['--max-streams', '1e3', 'a.js'], /--max-streams: .*"1e3"/],
    [['--max-streams', '4294967296', 'a.js'], /--max-streams: .*"4294967296"/],
    [['--max-streams', '', 'a.js'], /--max-streams/],
    [['--graceful-timeout', '86401', 'a.js'], /--graceful-timeout: expected an integer in 0\.\.86400, got "86401"/],
    [['--graceful-timeout', '30s', 'a.js'], /--graceful-timeout: .*"30s"/],
    [['--graceful-timeout', ' 5', 'a.js'], /--graceful-timeout/],
    [['--log-level', 'verbose', 'a.js'], /--log-level: expected one of fatal, .*, got "verbose"/],
    [['--log-level', 'INFO', 'a.js'], /--log-level: .*"INFO"/],
    [['--workers', '0', 'a.js'], /--workers: expected an integer in 1\.\.512, got "0"/],
    [['--workers', '513', 'a.js'], /--workers: .*"513"/],
    [['-w', 'many', 'a.js'], /--workers: .*"many"/],
    [['--harakiri', '-1', 'a.js'], /--harakiri/],
    [['--harakiri', '1.5', 'a.js'], /--harakiri: .*"1\.5"/],
    [['--max-requests', 'x', 'a.js'], /--max-requests: .*"x"/],
    [['--max-requests-jitter', '10', 'a.js'], /--max-requests-jitter needs --max-requests/],
    [['--reload-on-rss', '1G', 'a.js'], /--reload-on-rss: .*"1G"/],
    [['--stats', 'nowhere', 'a.js'], /--stats: .*"nowhere"/],
    [['--chown', 'nobody', 'a.js'], /--chown: expected USER:GROUP/],
    [['--chown', ':', 'a.js'], /--chown: expected USER:GROUP/],
    [['--chown', 'a:b:c', 'a.js'], /--chown: expected USER:GROUP/],
    [['--chown', 'bad name:x', 'a.js'], /--chown: expected a user name or uid, got "bad name"/],
    [['--uid', '-1', 'a.js'], /--uid/],
    [['--uid', 'root;rm', 'a.js'], /--uid: expected a user name or uid/],
    [['--gid', '', 'a.js'], /--gid: expected a group name or gid/],
  ];
  for (const [argv, message] of cases) {
    t.throws(() => parseRunnerArgs(argv), UsageError, `${JSON.stringify(argv)} is a UsageError`);
    try {
      parseRunnerArgs(argv);
    } catch (err) {
      t.match((err as Error).message, message, `${JSON.stringify(argv)}: ${(err as Error).message}`);
    }
  }
});

t.test('parseAppSpec', async (t) => {
  t.same(parseAppSpec('a.js'), { file: 'a.js', exportName: 'default' });
  t.same(parseAppSpec('a.js:handler'), { file: 'a.js', exportName: 'handler' });
  t.same(parseAppSpec('./srv/a.mjs:$app_2'), { file: './srv/a.mjs', exportName: '$app_2' });
  t.same(parseAppSpec('dir:with:colon/a.js'), { file: 'dir:with:colon/a.js', exportName: 'default' });
  t.same(parseAppSpec('dir:with:colon/a.js:app'), { file: 'dir:with:colon/a.js', exportName: 'app' });
  t.same(parseAppSpec('/abs/path/a.js'), { file: '/abs/path/a.js', exportName: 'default' });
  t.same(parseAppSpec('a.js:'), { file: 'a.js:', exportName: 'default' }, 'an empty export name is part of the path');
  t.same(parseAppSpec('a.js:1st'), { file: 'a.js:1st', exportName: 'default' }, 'not an identifier: part of the path');
});

t.test('loadApp', async (t) => {
  const call = (app: Application) => {
    let status = '';
    const result = app({}, (s) => {
      status = s;
      return async () => {};
    }) as Chunk[];
    return { status, result };
  };

  t.test('the default export, by absolute path', async (t) => {
    const spec = join(FIXTURES, 'runner-hello.js');
    const loaded = await loadApp(spec);
    t.equal(loaded.spec, spec);
    t.same(call(loaded.app), { status: '200 OK', result: ['default'] });
  });

  t.test('a named export, relative to cwd', async (t) => {
    const cwd = dirname(FIXTURES);
    const loaded = await loadApp('fixtures/runner-hello.js:handler', cwd);
    t.equal(loaded.spec, 'fixtures/runner-hello.js:handler');
    t.same(call(loaded.app), { status: '200 OK', result: ['handler'] });
  });

  t.test('relative to process.cwd() by default', async (t) => {
    const spec = relative(process.cwd(), join(FIXTURES, 'runner-hello.js')) + ':handler';
    const loaded = await loadApp(spec);
    t.same(call(loaded.app).result, ['handler']);
  });

  const failures: Array<[string, string, RegExp]> = [
    ['a missing file', 'runner-does-not-exist.js', /cannot load .*runner-does-not-exist\.js/],
    ['no such export', 'runner-hello.js:nothere', /runner-hello\.js has no function export "nothere" \(exports: .*handler/],
    ['an export that is not a function', 'runner-hello.js:notAFunction', /no function export "notAFunction"/],
    ['no default export', 'runner-no-default.js', /no function export "default" \(exports: only\)/],
    ['a module that throws at import', 'runner-throws.js', /cannot load runner-throws\.js: boom at import time/],
  ];
  for (const [name, spec, message] of failures) {
    t.test(name, async (t) => {
      const err = await loadApp(spec, FIXTURES).then(
        () => null,
        (e: unknown) => e,
      );
      t.type(err, AppLoadError, 'an AppLoadError');
      t.match((err as Error).message, message);
    });
  }

  t.test('a module that does not parse', async (t) => {
    // Written at run time: an unparsable file kept in the repository would trip other tools.
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-app-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n');
    writeFileSync(join(dir, 'broken.js'), 'export default function (environ, startResponse {\n');
    const err = await loadApp('broken.js', dir).catch((e: unknown) => e);
    t.type(err, AppLoadError);
    t.match((err as Error).message, /^cannot load broken\.js: /);
    t.match((err as AppLoadError).cause, { name: 'SyntaxError' }, 'the cause is the SyntaxError');
  });

  t.test('the import error is kept as the cause', async (t) => {
    const err = (await loadApp('runner-throws.js', FIXTURES).catch((e: unknown) => e)) as AppLoadError;
    t.type(err, AppLoadError);
    t.match(err.cause, { message: 'boom at import time' });
  });
});
