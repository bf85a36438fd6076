"""The threads that call the application: `--threads N` per worker. Work beyond them waits in
the queue (its streams not yet ACCEPTed, so the proxy may still send them elsewhere if this
worker dies). Daemon threads: a thread stuck in the app must not keep the process alive."""

import queue
import threading


class ThreadPool:
    def __init__(self, size, log):
        self._queue = queue.SimpleQueue()
        self._log = log
        self._busy = 0
        self._idle = threading.Condition()
        for index in range(size):
            threading.Thread(target=self._run, name='tsgi-app-%d' % (index + 1), daemon=True).start()

    def submit(self, fn):
        with self._idle:
            self._busy += 1
        self._queue.put(fn)

    def wait_idle(self, timeout):
        """True once no submitted work is queued or running (False at the timeout)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def _run(self):
        while True:
            fn = self._queue.get()
            try:
                fn()
            except BaseException as err:  # a bug of ours: log it, keep the thread
                self._log.error('internal error while serving a request', err=err)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()
