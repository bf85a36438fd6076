"""`environ['wsgi.input']`: the request body as a blocking file-like object.

DATA payloads land in a queue from the connection's reader thread (the app's own thread when it
was called on the reader: then it reads them itself); bytes are handed back to the
proxy as credit only when the app reads them, so a slow reader holds at most one window and the
upload waits for it. Reads end at the body's end (END_STREAM), chunked uploads included, which
is what `wsgi.input_terminated: True` promises.
"""

import collections
import threading


class ClientDisconnected(OSError):
    """The stream was cancelled (the client left, the deadline passed) while the app used it."""


class WsgiInput:
    def __init__(self, consumed, before_wait=None, cond=None, ended=False, read_while_waiting=None):
        """`cond`: the stream's condition, shared (the stream never holds it while it calls
        this object, nor this object while it calls `consumed`); `ended`: an empty body;
        `read_while_waiting`: called, without the lock, while the app has no bytes to take: an
        app on the connection's reader thread reads the next frames itself (True), where any
        other thread must wait for the reader (False)."""
        self._chunks = collections.deque()  # bytes-like, the first one read from self._pos
        self._pos = 0
        self._cond = cond or threading.Condition(threading.Lock())
        self._ended = ended
        self._error = None
        self._consumed = consumed  # called with a byte count once the app has taken it
        self._before_wait = before_wait  # called, without the lock, before the app would wait
        self._read_while_waiting = read_while_waiting

    @property
    def backlog(self):
        """Chunks delivered and not yet read (the caller holds the condition)."""
        return len(self._chunks)

    # ---- the connection's side ----

    def deliver(self, chunk):
        if len(chunk) == 0:
            return
        with self._cond:
            if self._error is None:
                self._chunks.append(chunk)
                self._cond.notify_all()

    def finish(self):
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def destroy(self, reason='the request was cancelled'):
        with self._cond:
            if self._error is None:
                self._error = ClientDisconnected(reason)
            self._chunks.clear()
            self._cond.notify_all()

    # ---- the app's side (PEP 3333) ----

    def read(self, size=-1):
        if size is None or size < 0:
            return self._read_all()
        parts = []
        want = size
        while want > 0:
            piece = self._take(want, False)
            if piece is None:
                break
            parts.append(piece)
            want -= len(piece)
        return parts[0] if len(parts) == 1 else b''.join(parts)

    def readline(self, limit=-1):
        if limit is None:
            limit = -1
        parts = []
        while limit != 0:
            piece = self._take(limit, True)
            if piece is None:
                break
            parts.append(piece)
            if limit > 0:
                limit -= len(piece)
            if piece.endswith(b'\n'):
                break
        return parts[0] if len(parts) == 1 else b''.join(parts)

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self):
        """Apps may close wsgi.input; the stream owns it, so this does nothing."""

    # ---- internals ----

    def _read_all(self):
        parts = []
        while True:
            piece = self._take(-1, False)
            if piece is None:
                return b''.join(parts)
            parts.append(piece)

    def _empty(self):
        """Nothing to take yet: no bytes, no end, no cancel."""
        return not self._chunks and not self._ended and self._error is None

    def _take(self, limit, line):
        """Up to `limit` bytes (-1: the rest of one chunk), stopping after a newline when
        `line`; blocks until there are bytes, the end, or a cancel. None at the end."""
        # An app on the reader thread reads its body's frames itself rather than hand the
        # reading to a new thread and wait to be woken for each one: two thread switches per
        # DATA frame fewer. (Unlocked reads: a hint, checked again under the lock below.)
        while self._read_while_waiting is not None and self._empty():
            if not self._read_while_waiting():
                break
        if self._before_wait is not None and self._empty():
            self._before_wait()
        with self._cond:
            while self._empty():
                self._cond.wait()
            if self._error is not None:
                raise self._error
            if not self._chunks:
                return None
            head = self._chunks[0]
            start = self._pos
            stop = len(head) if limit < 0 else min(len(head), start + limit)
            if line:
                if isinstance(head, memoryview):
                    # Searched once per chunk as bytes (memoryview has no find), then by offset.
                    head = self._chunks[0] = head.tobytes()
                newline = head.find(b'\n', start, stop)
                if newline >= 0:
                    stop = newline + 1
            piece = bytes(head[start:stop]) if start or stop < len(head) or not isinstance(head, bytes) else head
            if stop == len(head):
                self._chunks.popleft()
                self._pos = 0
            else:
                self._pos = stop
        self._consumed(len(piece))
        return piece


class EmptyInput:
    """`wsgi.input` of a request without a body (REQUEST with END_STREAM): at its end from the
    start, so it needs no queue and no condition; reads raise once the stream was cancelled,
    as WsgiInput's do."""

    __slots__ = ('_error',)

    def __init__(self):
        self._error = None

    def deliver(self, chunk):
        """Never called: DATA after the request's end is refused before it gets here."""

    def finish(self):
        pass

    def destroy(self, reason='the request was cancelled'):
        if self._error is None:
            self._error = ClientDisconnected(reason)

    def read(self, size=-1):
        if self._error is not None:
            raise self._error
        return b''

    def readline(self, limit=-1):
        return self.read()

    def readlines(self, hint=-1):
        self.read()
        return []

    def __iter__(self):
        return self

    def __next__(self):
        self.read()
        raise StopIteration

    def close(self):
        """Apps may close wsgi.input; the stream owns it, so this does nothing."""
