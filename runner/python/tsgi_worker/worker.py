"""One worker: the app, its thread pool and the proxy connections accepted on the shared
listening socket. `drain()` is the graceful stop (GOAWAY everywhere, in-flight requests
finish); `close()` the abrupt one."""

import os
import selectors
import socket
import sys
import threading
import time

from .connection import CORK_DELAY_S, Connection, INLINE_LIMIT_S
from .contract import FileWrapper, run_application
from .log import ErrorsStream
from .messages import DEFAULT_INITIAL_WINDOW, DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_STREAMS
from .metrics import Metrics
from .pool import ThreadPool

BACKLOG = 1024
# How long a worker holding connections lets the others take a new one first (see below).
ACCEPT_DELAY_PER_CONNECTION_S = 0.01
ACCEPT_DELAY_MAX_S = 0.05
# How often the watch looks for an app call that holds a connection's reader too long: every
# INLINE_CHECK_S while apps are called inline, backing off to INLINE_IDLE_CHECK_S while none is,
# so an idle worker is not woken 100 times a second. (Longer would let an app call that starts
# after a quiet spell hold its connection's other streams for that long.) While a bulk streamed
# response corks its blocks, every CORK_DELAY_S instead (connection.py).
INLINE_CHECK_S = INLINE_LIMIT_S
INLINE_IDLE_CHECK_S = 0.1


class Worker:
    def __init__(self, app, config, identity, log):
        self.app = app
        self.log = log
        self.identity = identity
        self.max_streams = config.get('maxStreams') or DEFAULT_MAX_STREAMS
        self.max_frame_size = DEFAULT_MAX_FRAME_SIZE
        self.initial_window = DEFAULT_INITIAL_WINDOW
        self.threads = config.get('threads') or 1
        self.metrics = Metrics()
        self.inline_calls = 0  # app calls started on a reader thread (a count lost to a race is harmless)
        self.pool = ThreadPool(self.threads, log)
        self.environ_defaults = {
            'wsgi.version': (1, 0),
            'wsgi.multithread': self.threads > 1,
            'wsgi.multiprocess': identity['workers'] > 1,
            'wsgi.run_once': False,
            'wsgi.input_terminated': True,
            'wsgi.file_wrapper': FileWrapper,
        }
        self._connections = set()
        self._lock = threading.Lock()
        self._listener = None
        self._stopping = False
        self._wake_r, self._wake_w = os.pipe()
        self._watch_wake = threading.Event()
        # The watch looks every CORK_DELAY_S, so a cork that starts need not wake it.
        self._watch_fast = False

    # ---- the socket ----

    def adopt(self, fd):
        """Listens on the socket the master bound and shares (several workers accept on it)."""
        listener = socket.socket(fileno=fd)
        listener.listen(BACKLOG)
        # Non-blocking: another worker may take a connection this one was woken for.
        listener.setblocking(False)
        self._listener = listener
        threading.Thread(target=self._accept_loop, name='tsgi-accept', daemon=True).start()
        threading.Thread(target=self._watch, name='tsgi-watch', daemon=True).start()

    def cork_started(self):
        """A bulk streamed response corked a frame on an empty queue: the watch must look within
        CORK_DELAY_S."""
        if not self._watch_fast:
            self._watch_wake.set()

    def _watch(self):
        """Hands a connection's reading to a new thread when its reader has been in an app
        for longer than INLINE_LIMIT_S, and sends the corked blocks of a bulk streamed response
        that waited CORK_DELAY_S (connection.py)."""
        period = INLINE_CHECK_S
        seen = 0
        while True:
            if self._watch_wake.wait(period):
                self._watch_wake.clear()
            # Before looking: a cork that starts from here on wakes the next wait, so none is
            # missed between the look and the sleep.
            self._watch_fast = False
            now = time.monotonic()
            busy = self.inline_calls != seen
            seen = self.inline_calls
            corked = False
            for connection in self._live():
                busy = connection.check_inline(now) or busy
                corked = connection.send_stale_cork(now) or corked
            if corked:
                self._watch_fast = True
                period = CORK_DELAY_S
            else:
                period = INLINE_CHECK_S if busy else min(INLINE_IDLE_CHECK_S, period * 2)

    def _accept_loop(self):
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        while not self._stopping:
            for key, _ in selector.select():
                if key.fileobj is self._wake_r or self._stopping:
                    break
                self._yield_to_idler_workers()
                self._accept_one()
        selector.close()
        self._listener.close()

    def _yield_to_idler_workers(self):
        """Every worker sharing the socket is woken for each connection and the quickest takes
        it, so one worker could collect all of the proxy's few, long-lived connections. A worker
        that already holds connections waits a little before taking one: the new connection goes
        to a worker holding fewer (the proxy opens connections until it reaches every worker)."""
        if self.identity['workers'] > 1:
            with self._lock:
                held = len(self._connections)
            if held:
                time.sleep(min(ACCEPT_DELAY_MAX_S, ACCEPT_DELAY_PER_CONNECTION_S * held))

    def _accept_one(self):
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        except OSError as err:  # EMFILE and the like: logged, the loop goes on
            self.log.error('accept failed', err=str(err))
            return
        sock.setblocking(True)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = Connection(sock, self)
        with self._lock:
            if self._stopping:
                sock.close()
                return
            self._connections.add(connection)
        threading.Thread(target=connection.run, name='tsgi-conn', daemon=True).start()

    def stop_accepting(self):
        self._stopping = True
        os.write(self._wake_w, b'x')

    # ---- what connections need ----

    def serve(self, stream):
        """On a pool thread, after ACCEPT: one application call."""
        self.metrics.started(stream)
        environ = stream.environ
        environ.update(self.environ_defaults)
        environ.setdefault('SCRIPT_NAME', '')
        environ.setdefault('QUERY_STRING', '')
        environ.setdefault('wsgi.url_scheme', 'http')
        environ['wsgi.input'] = stream.input
        errors = environ['wsgi.errors'] = ErrorsStream(self.log, environ.get('tsgi.request_id'))
        try:
            if run_application(self.app, environ, stream, self.log) == 'failed':
                self.metrics.failed()
        finally:
            errors.flush()

    def connection_done(self, connection):
        with self._lock:
            self._connections.discard(connection)

    # ---- stopping ----

    @property
    def active_streams(self):
        return sum(c.active_streams for c in self._live())

    def drain(self):
        self.stop_accepting()
        for connection in self._live():
            connection.drain()

    def all_closed(self):
        return not self._live()

    def close(self):
        self.stop_accepting()
        for connection in self._live():
            connection.destroy()

    def _live(self):
        with self._lock:
            return list(self._connections)


def rss_bytes():
    try:
        with open('/proc/self/statm', 'rb') as statm:
            return int(statm.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return 0


def flush_std():
    for out in (sys.stdout, sys.stderr):
        try:
            out.flush()
        except (OSError, ValueError):
            pass
