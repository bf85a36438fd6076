"""The threads that call the application: `--threads N` per worker, as N slots. A connection's
reader thread calls the app itself when a slot is free and nothing waits (run_inline: no
handoff to another thread); otherwise work waits in the queue for a pool thread and a slot (its
streams not yet ACCEPTed, so the proxy may still send them elsewhere if this worker dies).
Daemon threads: a thread stuck in the app must not keep the process alive."""

import queue
import threading


class ThreadPool:
    def __init__(self, size, log):
        self._queue = queue.SimpleQueue()
        self._log = log
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiting = 0  # threads in a wait on _cond: a finished call wakes them only if any
        self._free = size  # slots: app calls that may start now, on any thread
        self._queued = 0  # submitted, not yet holding a slot
        self._busy = 0  # submitted or inline, not yet finished
        for index in range(size):
            threading.Thread(target=self._run, name='tsgi-app-%d' % (index + 1), daemon=True).start()

    def submit(self, fn):
        with self._lock:
            self._busy += 1
            self._queued += 1
        self._queue.put(fn)

    def run_inline(self, fn):
        """Runs `fn` on the calling thread if a slot is free and no submitted work waits for
        one (it would be overtaken); False without running it otherwise."""
        with self._lock:
            if self._queued or not self._free:
                return False
            self._free -= 1
            self._busy += 1
        self._call(fn)
        return True

    def wait_idle(self, timeout):
        """True once no submitted or inline work is queued or running (False at the timeout)."""
        with self._lock:
            self._waiting += 1
            try:
                return self._cond.wait_for(lambda: self._busy == 0, timeout)
            finally:
                self._waiting -= 1

    def _run(self):
        while True:
            fn = self._queue.get()
            with self._lock:
                while not self._free:
                    self._waiting += 1
                    self._cond.wait()
                    self._waiting -= 1
                self._free -= 1
                self._queued -= 1
            self._call(fn)

    def _call(self, fn):
        try:
            fn()
        except BaseException as err:  # a bug of ours: log it, keep the thread
            self._log.error('internal error while serving a request', err=err)
        finally:
            with self._lock:
                self._free += 1
                self._busy -= 1
                if self._waiting:
                    self._cond.notify_all()
