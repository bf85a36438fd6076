"""A Python worker process under tsgi-runner's master (runner/supervision/master.ts).

Loads the app (a failure is reported so the master stops instead of respawning forever),
listens on the socket the master bound (fd 4), beats on the IPC channel (fd 3) every `beatMs`,
asks to be recycled past maxRequests or reloadOnRssBytes, enforces harakiri with a watchdog
thread, and stops when told: `drain` (or SIGTERM) gracefully, `quit` (or the master gone) now.
"""

import json
import os
import queue
import random
import signal
import sys
import threading
import time

from .app_loader import AppLoadError, load_app
from .codec import CODEC
from .errors import ErrorCode
from .ipc import MasterChannel
from .log import Logger
from .worker import Worker, flush_std, rss_bytes

# As runner/exit.ts.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_APP_LOAD = 3
EXIT_LISTEN = 4
EXIT_TIMEOUT = 5
IPC_FD = 3
LISTEN_FD = 4
# The heartbeat's period when the config does not say (runner/supervision/ipc.ts, beatPeriodMs).
DEFAULT_BEAT_MS = 100
# How long a fast stop waits for the cancelled apps' close() before the process goes.
FORCED_STOP_GRACE_S = 1.0


def read_config(environ):
    config = json.loads(environ.get('TSGI_WORKER_CONFIG') or '{}')
    if not isinstance(config, dict) or not isinstance(config.get('app'), str):
        raise ValueError('TSGI_WORKER_CONFIG must be a JSON object with an "app" string')
    return config


def main():
    config = read_config(os.environ)
    index = int(os.environ.get('TSGI_RUNNER_WORKER') or 0)
    count = int(os.environ.get('TSGI_RUNNER_WORKERS') or 1)
    log = Logger(config.get('logLevel', 'info'), {'name': 'tsgi-runner', 'worker': index})
    log_codec(log)
    stops = queue.SimpleQueue()
    install_signals(stops)
    master = MasterChannel(IPC_FD)
    master.listen(lambda message: message['t'] in ('drain', 'quit') and stops.put(message['t']), lambda: stops.put('quit'))
    try:
        app = load_app(config['app'])
    except AppLoadError as err:
        log.fatal(str(err), err=err.__cause__ or err)
        master.send({'t': 'boot-failed', 'message': str(err)})
        return EXIT_APP_LOAD
    identity = {'pid': os.getpid(), 'worker': index, 'workers': count, 'app': config['app']}
    worker = Worker(app, config, identity, log)
    try:
        worker.adopt(LISTEN_FD)
    except OSError as err:
        log.fatal('cannot listen on the socket the master bound (fd %d): %s' % (LISTEN_FD, err), socket=config.get('socket'))
        return EXIT_LISTEN
    master.send({'t': 'ready'})
    log.debug('worker ready', socket=config.get('socket'), threads=worker.threads)
    start_beat(worker, master, config)
    if config.get('harakiriMs'):
        start_watchdog(worker, master, log, config['harakiriMs'])
    return wait_for_stop(worker, stops, config.get('gracefulTimeoutMs') or 30000)


def log_codec(log):
    """Which MessagePack implementation this worker runs, once: the pure-Python fallback at
    info level, since installing msgpack for this interpreter makes each request cheaper."""
    if CODEC == 'pure-python':
        log.info('MessagePack codec', codec=CODEC, python=sys.executable, hint='install msgpack for this interpreter for the C codec')
    else:
        log.debug('MessagePack codec', codec=CODEC, python=sys.executable)


def install_signals(stops):
    """SIGTERM drains (systemd signals every process of the unit); SIGINT, SIGQUIT, SIGHUP,
    SIGTTIN and SIGTTOU are the master's to act on (a terminal sends them to the group)."""
    signal.signal(signal.SIGTERM, lambda signum, frame: stops.put('drain'))
    for name in ('SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGTTIN', 'SIGTTOU'):
        signal.signal(getattr(signal, name), signal.SIG_IGN)


def wait_for_stop(worker, stops, graceful_ms):
    first = next_stop(stops, None)
    if first == 'quit':
        return quit(worker)
    worker.drain()
    deadline = time.monotonic() + graceful_ms / 1000
    while not worker.all_closed():
        left = deadline - time.monotonic()
        if left <= 0:
            worker.close()
            worker.pool.wait_idle(FORCED_STOP_GRACE_S)
            return EXIT_TIMEOUT
        if next_stop(stops, min(left, 0.05)) == 'quit':
            return quit(worker)
    return EXIT_OK


def next_stop(stops, timeout):
    """The next stop request; polled in short waits so signal handlers run promptly."""
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        wait = 0.2 if end is None else min(0.2, end - time.monotonic())
        if wait <= 0:
            return None
        try:
            return stops.get(timeout=wait)
        except queue.Empty:
            continue


def quit(worker):
    cut = worker.active_streams > 0
    worker.close()
    # Let the cancelled apps' close() run before the process goes.
    worker.pool.wait_idle(FORCED_STOP_GRACE_S)
    return EXIT_TIMEOUT if cut else EXIT_OK


def start_beat(worker, master, config):
    max_requests = config.get('maxRequests') or 0
    jitter = config.get('maxRequestsJitter') or 0
    recycle_after = max_requests + random.randint(0, jitter) if max_requests > 0 else 0
    rss_limit = config.get('reloadOnRssBytes') or 0
    period_s = (config.get('beatMs') or DEFAULT_BEAT_MS) / 1000

    def beat():
        asked = False
        while True:
            time.sleep(period_s)
            rss = rss_bytes()
            metrics = worker.metrics
            master.send({'t': 'beat', 'counters': metrics.counters(rss), 'inFlight': metrics.in_flight()})
            if asked:
                continue
            reason = None
            if recycle_after and metrics.requests >= recycle_after:
                reason = 'served %d requests' % metrics.requests
            elif rss_limit and rss > rss_limit:
                reason = 'rss %d MB' % round(rss / 1048576)
            if reason:
                asked = True
                master.send({'t': 'recycle', 'reason': reason})

    threading.Thread(target=beat, name='tsgi-beat', daemon=True).start()


def start_watchdog(worker, master, log, deadline_ms):
    """Harakiri: a Python thread stuck in the app cannot be stopped, so the requests past the
    deadline are cancelled with TIMEOUT (the proxy answers 504) and the master is asked to kill
    this worker and start another."""

    def watch():
        period = min(0.1, deadline_ms / 4000)
        while True:
            time.sleep(period)
            expired = [(stream, record) for stream, record in worker.metrics.expired(deadline_ms) if not stream.closed]
            if not expired:
                continue
            for stream, record in expired:
                log.warn('harakiri: request deadline passed, cancelling it', deadlineMs=deadline_ms, **{k: record[k] for k in ('reqId', 'method', 'path')})
                worker.metrics.timed_out()
                stream.cancel(ErrorCode.TIMEOUT, 'harakiri: no response within %d ms' % deadline_ms)
            master.send({'t': 'harakiri', 'requests': [record for _, record in expired]})

    threading.Thread(target=watch, name='tsgi-harakiri', daemon=True).start()


def run():
    try:
        code = main()
    except Exception as err:
        sys.stderr.write('tsgi worker failed: %s: %s\n' % (type(err).__name__, err))
        code = EXIT_FAILURE
    flush_std()
    # Threads stuck in the app must not keep the process alive.
    os._exit(code)
