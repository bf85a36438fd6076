"""One request/response on a connection: the body's source (wsgi.input) and the app's sink.

Threads: the connection's reader thread delivers DATA, CREDIT and CANCEL; one app thread sends
the response; the harakiri watchdog may cancel. `self._lock` guards the windows and the state
(`self._cond`, on the same lock, is made only for a stream whose app may wait);
frames go out through the connection, whose write lock also decides whether the stream may
still send (nothing leaves after its CANCEL or its END).
"""

import threading

from .errors import ErrorCode, ProtocolError
from .flow import ReceiveWindow, SendWindow
from .frame import END_STREAM, FrameType
from .input import ClientDisconnected, EmptyInput, WsgiInput
from .messages import encode_cancel, encode_response_head

# A request body's window grows to this many times the announced one while the app reads every
# byte as it arrives, as the JavaScript runner's (runner/serving/stream.ts) and the proxy's
# response windows do: fewer CREDIT round trips, and fewer pauses of the client in the proxy.
REQUEST_WINDOW_GROWTH = 4


class ContractError(Exception):
    """The application broke PEP 3333 (bad status, headers, chunk type...)."""


class Stream:
    def __init__(self, id, conn, send_credit, receive_credit, request_ended, environ):
        self.id = id
        self.conn = conn
        self.environ = environ
        self._lock = threading.Lock()
        # Made when someone must wait (the app for credit or body bytes), under _lock: most
        # requests never wait, and a Condition is a dear object to make for each.
        self._cond = None if request_ended else threading.Condition(self._lock)
        self._send_window = SendWindow(send_credit)
        # Unused for a request without a body (on_data and _consumed stop at _request_ended).
        self._receive_window = None if request_ended else ReceiveWindow(receive_credit, receive_credit >> 1, receive_credit * REQUEST_WINDOW_GROWTH)
        self._request_ended = request_ended
        self._response_ended = False
        self.closed = False
        self.cancelled = False
        # Set under the connection's write lock: no frame may leave for this stream any more.
        self.sending_done = False
        self.input = EmptyInput() if request_ended else WsgiInput(self._consumed, conn.before_wait, self._cond, read_while_waiting=conn.read_while_waiting)

    # ---- frames from the proxy (reader thread) ----

    def on_data(self, payload, end):
        with self._lock:
            if self._request_ended:
                raise ProtocolError(ErrorCode.STREAM_CLOSED, 'DATA after the request ended on stream %d' % self.id)
            self._receive_window.receive(len(payload))
        self.input.deliver(payload)
        if end:
            self._end_request()

    def on_credit(self, increment):
        with self._lock:
            self._send_window.grant(increment, self.id)
            if self._cond is not None:
                self._cond.notify_all()

    def on_cancel(self, reason='the request was cancelled'):
        """The proxy cancelled, or the connection is gone: release every waiter of the app."""
        with self._lock:
            if self.closed:
                return
            self.cancelled = True
            if self._cond is not None:
                self._cond.notify_all()
        self.conn.stop_sending(self)
        self.input.destroy(reason)
        self._close()

    # ---- the app's side ----

    def send_head(self, status, reason, headers, end):
        payload = self._head_payload(status, reason, headers)
        self.conn.send_on_stream(self, FrameType.RESPONSE, END_STREAM if end else 0, payload)
        if end:
            self._end_response()

    def send_head_with(self, status, reason, headers, data):
        """The head with as much of `data` as the credit allows, in one write (one system call
        for a small response); returns the rest, for write()."""
        payload = self._head_payload(status, reason, headers)
        view = memoryview(data).cast('B')
        with self._lock:
            size = min(len(view), max(0, self._send_window.credit), self.conn.peer_max_frame_size)
            self._send_window.spend(size)
        if size == 0:  # no credit yet: the head must not wait for it
            self.conn.send_on_stream(self, FrameType.RESPONSE, 0, payload)
        else:
            self.conn.send_head_and_data(self, payload, view[:size])
        return view[size:]

    def _head_payload(self, status, reason, headers):
        payload = encode_response_head(status, reason, headers)
        # One frame the proxy must refuse would close the connection for every stream on it.
        if len(payload) > self.conn.peer_max_frame_size:
            raise ContractError('response head of %d bytes exceeds the proxy\'s max frame size %d' % (len(payload), self.conn.peer_max_frame_size))
        return payload

    def write(self, data, flush=False):
        """Sends `data` as DATA frames within the proxy's credit, blocking for more credit.
        `flush`: the last frame leaves at once with what was corked before it (flush())."""
        if type(data) is not bytes:
            data = memoryview(data).cast('B')
        while len(data):
            size = self._spend(len(data))
            if size == len(data):
                self.conn.send_data(self, data, flush)
                return
            view = memoryview(data)
            self.conn.send_data(self, view[:size])
            data = view[size:]

    def send_file(self, fd, offset, count):
        """Sends `count` bytes of file `fd` from `offset` with sendfile; returns the bytes sent
        (fewer when the file turned out shorter)."""
        sent = 0
        while sent < count:
            size = self._spend(count - sent)
            done = self.conn.send_file_on_stream(self, fd, offset + sent, size)
            sent += done
            if done < size:
                break
        return sent

    def flush(self):
        """What this thread corked leaves now (nothing to do when it corks nothing)."""
        self.conn.flush_corked()

    def watch_cork(self, on):
        """This thread's writes of a bulk streamed response may wait corked (`on`), watched."""
        self.conn.watch_cork(on)

    def end(self):
        # When the request half has ended, END is the stream's last frame: end_data marks it
        # so under the write lock it takes anyway.
        self.conn.end_data(self, self._request_ended)
        self._end_response()

    def abort(self, reason):
        self.cancel(ErrorCode.APP_ERROR, reason)

    def cancel(self, code, reason):
        """Cancels from this side (app error, deadline): tells the proxy, then stops."""
        if self.closed:
            return
        self.conn.send_on_stream(self, FrameType.CANCEL, 0, encode_cancel(code, reason), last=True)
        self.on_cancel(reason)

    # ---- internals ----

    def _spend(self, wanted):
        """Spends and returns how much of `wanted` may go in one frame, waiting for credit."""
        while True:
            with self._lock:
                if self.cancelled:
                    raise ClientDisconnected('the request was cancelled')
                if self._send_window.credit > 0:
                    return self._take(wanted)
            # An app called on the reader thread reads the CREDIT itself; on any other thread
            # it waits for the reader.
            if not self.conn.read_while_waiting():
                break
        self.conn.before_wait()  # outside the lock: the reader may hand its role over
        with self._lock:
            if self._cond is None:
                self._cond = threading.Condition(self._lock)
            while self._send_window.credit <= 0 and not self.cancelled:
                self._cond.wait()
            if self.cancelled:
                raise ClientDisconnected('the request was cancelled')
            return self._take(wanted)

    def _take(self, wanted):
        """Spends what one frame of `wanted` may carry within the credit (held: _lock, credit > 0)."""
        size = min(wanted, self._send_window.credit, self.conn.peer_max_frame_size)
        self._send_window.spend(size)
        return size

    def _consumed(self, count):
        with self._lock:
            if self.closed or self._request_ended:
                return
            # Nothing left queued: the app reads as fast as the body comes (same lock as the input's).
            increment = self._receive_window.consume(count, not self.input.backlog)
        if increment:
            self.conn.send_credit(self, increment)

    def _end_request(self):
        with self._lock:
            self._request_ended = True
            response_ended = self._response_ended
        self.input.finish()
        if response_ended:
            self._close()

    def _end_response(self):
        with self._lock:
            self._response_ended = True
            request_ended = self._request_ended
        if not request_ended:
            # The app answered without reading the whole body: the proxy may stop sending it.
            self.conn.send_on_stream(self, FrameType.CANCEL, 0, encode_cancel(ErrorCode.NO_ERROR, 'response complete'), last=True)
            self.input.destroy('the response is complete')
            self._close()
            return
        if not self.sending_done:
            self.conn.stop_sending(self)
        self._close()

    def _close(self):
        with self._lock:
            if self.closed:
                return
            self.closed = True
            if self._cond is not None:
                self._cond.notify_all()
        self.conn.stream_closed(self)
