"""The worker's end of one proxy connection: handshake, stream dispatch, flow control, drain.

A reader thread decodes the frames of each read and dispatches them all; then it calls the app
for the streams they opened itself, one after the other, while the pool has a free slot
(`--threads`) and nothing queued, and hands them to the pool's threads otherwise. Serving on
the reader saves two thread switches per request; the frames it writes meanwhile are corked
and leave in one write at the end of the read (a read of 20 requests: one system call where
there were 60); payloads above COPY_LIMIT are corked by reference, not copied. An app call
that runs out of credit, or that waits for body bytes, keeps the reader role and reads the
connection itself until the CREDIT or the DATA comes (`read_while_waiting`: no other thread to
wake per frame). An app call that has not read for longer than INLINE_LIMIT_S (checked by the
worker's inline watch) makes the reader hand its role to a new thread (`take_over`): frames
keep being read while an app is slow, as before.

Every write goes through `_write_lock`, which keeps frames whole when several threads send, and
is held while a stream's "no more frames" mark is set, so nothing leaves after its CANCEL or
END. A write by any other thread than the corking reader first sends what is corked, so frames
keep their order. A protocol violation closes the connection with a GOAWAY carrying the error
code. A drain takes two steps (SPEC.md section 4, Goaway), as in runner/serving/connection.ts.
"""

import os
import select
import socket
import threading
import time
from threading import get_ident

from .errors import ErrorCode, ProtocolError, error_code_name
from .decoder import FrameDecoder
from .frame import ACK, END_STREAM, HEADER, HEADER_SIZE, MAX_STREAM_ID, MIN_FRAME_SIZE, FrameType, encode_credit, encode_frame, encode_header, read_u32
from .input import ClientDisconnected
from .messages import (
    PROTOCOL_VERSION,
    decode_cancel,
    decode_environ,
    decode_hello,
    encode_cancel,
    encode_goaway,
    encode_hello,
)
from .stream import Stream

SOFTWARE = 'tsgi-runner-python/0.1.0'
# Bytes asked of the socket per read: one frame of the default size. Not more: recv(n)
# mallocs n bytes and shrinks them to what came, and above glibc's mmap threshold (128 KiB
# until a larger block is freed) that is an mmap, mremap and munmap on every read. The C
# msgpack happened to raise the threshold (its packb buffer is 1 MiB); without it, 256 KiB
# reads tripled the worker's CPU per request (test/bench/PROFILE.md).
RECV_SIZE = 64 * 1024
# The send buffer asked for a Unix socket: the whole window a proxy grants one stream that
# keeps up (4 x 256 KiB, proxy/upstream/stream.ts) fits, so a download's sendmsg does not block
# each time the proxy has read a frame or two (with the default 208 KiB, one in two did: a
# sleep and a wake-up per 128 KiB, half the switches of a 256 MiB download). The kernel caps
# it at net.core.wmem_max and counts its own overhead in it. TCP keeps its autotuning.
SEND_BUFFER = 1024 * 1024
# Above this a payload is written after its header (sendmsg) instead of copied next to it.
COPY_LIMIT = 16 * 1024
# A draining connection with no stream left waits this long for the proxy to close it: a REQUEST
# that still arrives must be refused (REFUSED_STREAM, so the proxy retries it), not hit a close.
DRAIN_LINGER_S = 1.0
# The first GOAWAY of a drain is followed by a PING; its answer proves the proxy has read the
# GOAWAY. A proxy that does not answer within this long gets the final GOAWAY anyway.
DRAIN_FENCE_S = 2.0
# The PING payload of that fence (as the JavaScript worker's).
DRAIN_FENCE = b'drainack'
# An app call on the reader thread longer than this hands the reading to a new thread (the
# worker's inline watch checks every INLINE_CHECK_S), so frames for the other streams and
# PINGs wait at most about the sum of both.
INLINE_LIMIT_S = 0.01
# An inline app thread that waits for credit or body bytes reads the connection itself
# (read_while_waiting), in waits of at most this long, so that a cancel from this side
# (harakiri) is seen as soon.
READ_WAIT_MS = 50
# Corked bytes above this are sent at once (the payloads above COPY_LIMIT among them are
# referenced, not copied): one sendmsg for a few 100 KiB responses.
CORK_LIMIT = 256 * 1024
# The same for a bulk streamed response's blocks (watched, below): the largest window the
# proxy grants a stream (4 x 256 KiB, proxy/upstream/stream.ts) in one sendmsg. Four sends of
# 256 KiB each woke the proxy, which took the CPU from the worker four times as often; one of
# 1 MiB made a Python download ~10 % faster (test/bench/PROFILE.md, item 29). What waits is
# referenced, not copied, and a stream cannot cork more than its credit.
BULK_CORK_LIMIT = 1024 * 1024
# The blocks of a bulk streamed response (contract.py) wait corked for the app's next ones at
# most about this long: then the worker's watch sends them (send_stale_cork). PEP 3333 lets a
# server keep a block moving from another thread while the app makes the next one; with the
# GIL that thread runs within the interpreter's switch interval (5 ms) in any case.
CORK_DELAY_S = 0.001
# While such a stream corked something this recently, the watch keeps looking every CORK_DELAY_S
# even when nothing waits at the moment (a download corks every ~0.2 ms: waking the watch for
# each cork cost a futex call and a switch per 256 KiB). A stream stalled longer (its client
# slow, credit awaited) lets the watch back off; its next cork wakes it (cork_started).
CORK_IDLE_S = 0.01
# The methods whose retry by the proxy does not depend on ACCEPT (proxy/upstream/retry.ts
# IDEMPOTENT): their ACCEPT may stay corked until the response goes out. For the others it
# leaves before the app is called, so a worker that dies in the app never looks as if it had
# not started the request.
IDEMPOTENT = frozenset(('GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE'))


def raise_send_buffer(sock):
    """SEND_BUFFER for the socket, unless it has as much already: the kernel grants twice the
    request capped at wmem_max first, so asking would shrink a buffer an operator raised with
    net.core.wmem_default (runner/serving/send-buffer.ts does the same)."""
    try:
        with open('/proc/sys/net/core/wmem_max') as f:
            granted = 2 * min(SEND_BUFFER, int(f.read()))
    except (OSError, ValueError):
        granted = 2 * 212992  # assumed stock (no such file in some containers): a raised buffer stays
    try:
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) < granted:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
    except OSError:
        pass  # the default stays


class Connection:
    def __init__(self, sock, host):
        self.sock = sock
        if sock.family == socket.AF_UNIX:
            raise_send_buffer(sock)
        self.host = host  # the worker: app, pool, log, metrics, identity, limits
        self.log = host.log
        self.decoder = FrameDecoder()
        self.peer = None
        self.peer_max_frame_size = MIN_FRAME_SIZE
        self.streams = {}
        self.last_stream = 0
        # GOAWAY sent: the proxy opens no new stream here (those already on their way are served).
        self.draining = False
        # The final GOAWAY sent (lastStream = the last REQUEST received): later REQUESTs are refused.
        self.refusing = False
        self.closed = False
        self.done = threading.Event()
        self._lock = threading.Lock()  # streams, last_stream, draining, refusing, closed, timers
        self._drain_reason = ''
        self._hello_sent = False
        self._fence = None
        self._write_lock = threading.Lock()
        self._broken = False  # the socket failed or was closed: nothing more is written
        self._linger = None
        # Under _write_lock: the thread whose writes are corked (the reader during a read's
        # dispatch and inline app calls), the corked frames, and where in them the last DATA
        # header is, as (stream id, bytearray, offset), so the stream's END can be set on it in place.
        self._corker = None
        self._queue = []  # corked parts, in order: bytearrays of copied frames, referenced payloads
        self._tail = None  # the bytearray at the end of _queue that frames are copied into
        self._queued = 0  # bytes in _queue
        self._last_data = None
        # The thread streaming a bulk response whose blocks it corks (watch_cork), and since
        # when the oldest frame corked has waited.
        self._cork_owner = None
        self._corked_at = 0.0
        # Under _lock: the reader thread's token (a new one after take_over), the streams of
        # its read not served yet, and since when it runs an app (None: it does not).
        self._reader = None
        self._ready = []
        self._inline_since = None
        self._inline_thread = None
        # Under _lock: the inline app thread is reading (read_while_waiting): no take_over.
        self._reading_inline = False
        self._poll = select.poll()
        self._poll.register(sock, select.POLLIN)

    # ---- lifecycle ----

    def run(self):
        """The reader thread: until EOF, an error, a connection error, or take_over (then a
        new reader thread goes on and this one ends)."""
        me = object()
        with self._lock:
            self._reader = me
        wait = self._poll.poll
        data = b''
        try:
            while not self.closed:
                # Wait in poll for input, then read: a thread blocked in recv() on a Unix
                # socket is also woken each time the proxy reads what this side wrote (the
                # socket's write-space wake-up), a second sleep and wake per request at c=1.
                # After a full read more is likely waiting (an upload): no poll then.
                if len(data) < RECV_SIZE:
                    wait()
                data = self.sock.recv(RECV_SIZE)
                if not data:
                    break
                if not self._receive(data, me):
                    return
        except OSError as err:
            self.log.debug('connection error', err=str(err))
        finally:
            if self._reader is me:
                self._on_close()

    @property
    def active_streams(self):
        with self._lock:
            return len(self.streams)

    def drain(self, reason='shutting down', announced=False):
        """Graceful: no new streams, the open ones finish, then the socket is closed.

        In two steps, as HTTP/2 servers shut down (RFC 9113 section 6.8): a GOAWAY with the
        highest stream id tells the proxy to open no more streams here while every REQUEST it
        sent before reading it is still served; the answer to the PING that follows proves
        nothing more is on its way, and the final GOAWAY names the last stream. So a drain
        refuses no request the proxy sent in good faith (one whose body the proxy has begun to
        send could not be retried). `announced`: the proxy itself sent GOAWAY, so it opens no
        stream anyway: one step.
        """
        with self._lock:
            if self.draining or self.closed:
                return
            self.draining = True
            self._drain_reason = reason
            handshaken = self._hello_sent
            if not announced and not handshaken:
                # Before the handshake a GOAWAY would read as a refused handshake: _on_hello
                # announces the drain after our HELLO; a proxy that never sends its HELLO is
                # refused after the fence time.
                self._fence = self._timer(DRAIN_FENCE_S, self._refuse_new_streams)
        if announced:
            self._refuse_new_streams()
        elif handshaken:
            self._announce_drain()

    def _announce_drain(self):
        """The first GOAWAY (no stream refused yet) and the PING whose answer ends the fence."""
        # Under the write lock: the final GOAWAY (whose sender sets `refusing` first) cannot
        # go out before this one.
        with self._write_lock:
            with self._lock:
                if self.refusing or self.closed:
                    return
                if self._fence is not None:
                    self._fence.cancel()
                self._fence = self._timer(DRAIN_FENCE_S, self._refuse_new_streams)
            self._write(FrameType.GOAWAY, 0, 0, encode_goaway(MAX_STREAM_ID, ErrorCode.NO_ERROR, self._drain_reason))
            self._write(FrameType.PING, 0, 0, DRAIN_FENCE)

    def _refuse_new_streams(self):
        """The final GOAWAY: streams up to the last REQUEST received finish, later ones are refused."""
        with self._lock:
            if self.refusing or self.closed:
                return
            self.refusing = True
            if self._fence is not None:
                self._fence.cancel()
            # Taken with `refusing` set, under the lock _on_request holds: every stream up to
            # it has been admitted, every later one will be refused.
            last = self.last_stream
            idle = not self.streams
        self.send_frame(FrameType.GOAWAY, 0, 0, encode_goaway(last, ErrorCode.NO_ERROR, self._drain_reason))
        if idle:
            self._close_when_idle()

    def _timer(self, seconds, action):
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        timer.start()
        return timer

    def destroy(self):
        """Abrupt: cancel every stream (their apps are released) and drop the socket."""
        for stream in self._open_streams():
            stream.on_cancel('the worker is stopping')
        self._shutdown(socket.SHUT_RDWR)

    # ---- writing ----

    def send_frame(self, type_, flags, stream_id, payload=b''):
        with self._write_lock:
            self._write(type_, flags, stream_id, payload)

    def send_on_stream(self, stream, type_, flags, payload, last=False):
        """A frame on `stream` unless it may send no more; `last` marks it the final one."""
        with self._write_lock:
            if stream.sending_done:
                if type_ == FrameType.DATA:
                    raise ClientDisconnected('the request was cancelled')
                return False
            if last:
                stream.sending_done = True
            self._write(type_, flags, stream.id, payload)
            return True

    def send_data(self, stream, payload, flush=False):
        """One DATA frame of the response (the credit is spent): corked when this thread corks,
        else written at once, header and payload in one system call. `flush`: written at once
        in any case, after what is corked."""
        with self._write_lock:
            if stream.sending_done or self._broken:
                raise ClientDisconnected('the request was cancelled' if stream.sending_done else 'the connection was lost')
            if not flush and self._corker == get_ident():
                self._cork_frame(FrameType.DATA, 0, stream.id, payload, True)
                return
            try:
                self._send_parts([HEADER.pack(len(payload), FrameType.DATA, 0, stream.id), payload])
            except OSError:
                self._broken = True
                raise ClientDisconnected('the connection was lost')

    def send_head_and_data(self, stream, head, data):
        """RESPONSE and the first DATA in one write (or both corked)."""
        with self._write_lock:
            if stream.sending_done or self._broken:
                raise ClientDisconnected('the request was cancelled')
            if self._corker == get_ident():
                self._cork_frame(FrameType.RESPONSE, 0, stream.id, head, False)
                self._cork_frame(FrameType.DATA, 0, stream.id, data, True)
                return
            try:
                self._send_parts([encode_frame(FrameType.RESPONSE, 0, stream.id, head) + HEADER.pack(len(data), FrameType.DATA, 0, stream.id), data])
            except OSError:
                self._broken = True
                raise ClientDisconnected('the connection was lost')

    def send_credit(self, stream, increment):
        with self._write_lock:
            if not stream.sending_done and not self._broken:
                try:
                    self._send_parts([encode_credit(stream.id, increment)])
                except OSError:
                    self._broken = True

    def send_accept(self, stream):
        """ACCEPT, just before the app is called; False when the stream may send no more."""
        with self._write_lock:
            if stream.sending_done:
                return False
            self._write(FrameType.ACCEPT, 0, stream.id, b'')
            if self._queue and stream.environ['REQUEST_METHOD'] not in IDEMPOTENT:
                self._flush_locked()
            return True

    def end_data(self, stream, final=False):
        """The end of the response: END_STREAM set on its last DATA frame while that is still
        corked (as the JavaScript runner does), else an empty DATA frame carrying it. `final`:
        nothing more may leave for the stream (its request half has ended too)."""
        with self._write_lock:
            if stream.sending_done:
                return
            stream.sending_done = final
            last = self._last_data
            if last is not None and last[0] == stream.id and not self._broken:
                last[1][last[2] + 5] |= END_STREAM
                self._last_data = None
                return
            self._write(FrameType.DATA, END_STREAM, stream.id, b'')

    def send_file_on_stream(self, stream, fd, offset, size):
        """DATA of `size` bytes read by the kernel from file `fd` (no copy through Python)."""
        with self._write_lock:
            if stream.sending_done or self._broken:
                raise ClientDisconnected('the request was cancelled')
            sent = 0
            try:
                self._send_parts([encode_header(FrameType.DATA, 0, stream.id, size)])
                while sent < size:
                    done = os.sendfile(self.sock.fileno(), fd, offset + sent, size - sent)
                    if done == 0:
                        break
                    sent += done
            except OSError:
                self._broken = True
                raise ClientDisconnected('the connection was lost')
            if sent < size:
                # The header promised `size` bytes; the stream can no longer be framed.
                self._broken = True
                self.log.error('file shrank while being sent; closing the connection', reqId=stream.environ.get('tsgi.request_id'))
                self._shutdown_locked(socket.SHUT_RDWR)
                raise ClientDisconnected('the file shrank while being sent')
            return sent

    def stop_sending(self, stream):
        with self._write_lock:
            stream.sending_done = True

    def _write(self, type_, flags, stream_id, payload):
        """One frame (under _write_lock): corked when this thread corks, else written at once."""
        if self._broken:
            if type_ == FrameType.DATA:
                raise ClientDisconnected('the connection was lost')
            return
        if self._corker == get_ident():
            self._cork_frame(type_, flags, stream_id, payload, type_ == FrameType.DATA)
            return
        if len(payload) <= COPY_LIMIT:
            parts = [encode_frame(type_, flags, stream_id, bytes(payload))]
        else:
            parts = [encode_header(type_, flags, stream_id, len(payload)), payload]
        try:
            self._send_parts(parts)
        except OSError:
            self._broken = True
            if type_ == FrameType.DATA:
                raise ClientDisconnected('the connection was lost')

    def _cork_frame(self, type_, flags, stream_id, payload, data):
        """Adds a frame to what is corked (under _write_lock, by the corking thread): headers and
        small payloads are copied together; a larger payload the app cannot change any more (bytes,
        or a view of bytes) is kept by reference and goes out with the rest in one sendmsg."""
        # A watched bulk stream's cork: its clock starts with its first frame, and it may grow
        # to a window (BULK_CORK_LIMIT).
        watched = self._cork_owner is not None and self._cork_owner == self._corker
        if not self._queue and watched:
            self._cork_clock_starts()
        tail = self._tail
        if tail is None:
            tail = self._tail = bytearray()
            self._queue.append(tail)
        if data:
            self._last_data = (stream_id, tail, len(tail))
        size = len(payload)
        tail += HEADER.pack(size, type_, flags, stream_id)
        if size <= COPY_LIMIT:
            tail += payload
        else:
            if type(payload) is not bytes and not (type(payload) is memoryview and type(payload.obj) is bytes):
                payload = bytes(payload)
            self._queue.append(payload)
            self._tail = None
        self._queued += size + HEADER_SIZE
        if self._queued > (BULK_CORK_LIMIT if watched else CORK_LIMIT):
            self._flush_locked()

    def _send_parts(self, parts):
        """Writes what is corked, then `parts`, in one system call when the kernel takes them all
        (under _write_lock; OSError goes to the caller)."""
        if self._queue:
            parts = self._take_queue() + parts
        if len(parts) == 1:
            self.sock.sendall(parts[0])
            return
        total = 0
        for part in parts:
            total += len(part)
        sent = self.sock.sendmsg(parts)
        if sent < total:
            self._send_rest(parts, sent)

    def _send_rest(self, parts, sent):
        """What a sendmsg left unsent (the kernel took `sent` bytes of `parts`)."""
        views = [memoryview(part).cast('B') for part in parts]
        while views:
            while sent:
                if sent >= len(views[0]):
                    sent -= len(views.pop(0))
                else:
                    views[0] = views[0][sent:]
                    sent = 0
            if views:
                sent = self.sock.sendmsg(views)

    def _take_queue(self):
        queue = self._queue
        self._queue = []
        self._tail = None
        self._queued = 0
        self._last_data = None
        return queue

    def _flush_locked(self):
        """Sends what is corked (under _write_lock)."""
        if not self._queue:
            return
        parts = self._take_queue()
        if self._broken:
            return
        try:
            self._send_parts(parts)
        except OSError:
            self._broken = True

    def flush_corked(self):
        """Sends what is corked if the calling thread is the one corking."""
        if self._queue and self._corker == get_ident():
            with self._write_lock:
                if self._corker == get_ident():
                    self._flush_locked()

    def watch_cork(self, on):
        """The calling thread streams a bulk response whose blocks it corks (`on`), or no longer:
        while it does, the watch sends what waits longer than CORK_DELAY_S. Only the corker
        corks; on any other thread the blocks leave at once and there is nothing to watch."""
        me = get_ident()
        # Under the write lock, as _cork_frame reads the owner: a thread taken over that ends
        # its stream late must not clear a new reader's.
        with self._write_lock:
            if on and self._corker == me:
                self._cork_owner = me
                if self._queue:  # corked before it was watched: counted from now
                    self._cork_clock_starts()
            elif not on and self._cork_owner == me:
                self._cork_owner = None

    def _cork_clock_starts(self):
        """A watched stream's queue starts waiting (under _write_lock): the watch must look
        within CORK_DELAY_S."""
        self._corked_at = time.monotonic()
        self.host.cork_started()

    def send_stale_cork(self, now):
        """The watch: a bulk stream's corked frames leave once they are CORK_DELAY_S old. True
        while the watch should look again within CORK_DELAY_S, as long as the stream corked
        within CORK_IDLE_S (a watch that backed off after each of its own sends was woken by
        the next cork: a switch each time the worker had waited for the CPU); otherwise its
        next cork wakes the watch."""
        owner = self._cork_owner
        if owner is None or owner != self._corker:  # none, or handed over (take_over): its blocks leave at once now
            return False
        if self._queue and now - self._corked_at >= CORK_DELAY_S:
            # A thread writing now sends the queue with its own frames; the watch must not wait
            # behind it (it watches every connection).
            if not self._write_lock.acquire(blocking=False):
                return True
            try:
                if self._queue and now - self._corked_at >= CORK_DELAY_S:
                    self._flush_locked()
            finally:
                self._write_lock.release()
        return now - self._corked_at < CORK_IDLE_S

    def _cork(self, thread):
        # Without the write lock: a thread writing meanwhile compares `_corker` with itself
        # only, and only the corker adds to `_queue` (under the lock). So a read of CREDIT frames
        # never waits for an app thread's send in progress.
        self._corker = thread

    def _uncork(self):
        """Ends the cork, sending what it holds. By the corker itself, without the lock when it
        corked nothing (no other thread adds to `_queue`); by another thread (take_over from the
        inline watch), under the lock, so a frame the corker adds meanwhile is not stranded."""
        if not self._queue and self._corker == get_ident():
            self._corker = None
            return
        with self._write_lock:
            self._corker = None
            self._flush_locked()

    # ---- receiving ----

    def _receive(self, data, me):
        """One read: every frame dispatched, then the streams it opened served. False when this
        thread is no longer the reader (take_over)."""
        self._cork(get_ident())
        try:
            self._dispatch(data)
            return self._serve_ready(me)
        finally:
            if self._reader is me:
                self._uncork()

    def _dispatch(self, data):
        try:
            frames = self.decoder.push(data)
        except ProtocolError as err:
            return self._fail(err)
        for frame in frames:
            try:
                self._on_frame(frame)
            except ProtocolError as err:
                if err.stream:
                    self._stream_error(err)
                    continue
                return self._fail(err)
            except Exception as err:  # our bug: close this connection, keep the process
                self.log.error('internal error while handling a frame', err=err)
                return self._fail(ProtocolError(ErrorCode.INTERNAL_ERROR, 'internal error in the runner'))

    def _serve_ready(self, me):
        """The streams this read opened, on this thread while the pool has a free slot, else
        queued for the pool. False when this thread lost the reader role meanwhile."""
        pool = self.host.pool
        while True:
            with self._lock:
                if self._reader is not me:
                    return False
                if not self._ready:
                    return True
                stream = self._ready.pop(0)
                self._inline_since = time.monotonic()
                self.host.inline_calls += 1
                self._inline_thread = get_ident()
            served = pool.run_inline(lambda: self._serve(stream))
            with self._lock:
                if self._reader is me:
                    self._inline_since = self._inline_thread = None
                if served:
                    continue
                rest, self._ready = self._ready, []
            for queued in [stream, *rest]:
                self._submit(queued)

    def _submit(self, stream):
        self.host.pool.submit(lambda: self._serve(stream))

    def check_inline(self, now):
        """The inline watch: an app call on the reader running past INLINE_LIMIT_S is handed
        over. True while an app call runs on the reader."""
        since = self._inline_since
        if since is not None and now - since > INLINE_LIMIT_S:
            self.take_over(self._inline_thread)
        return since is not None

    def read_while_waiting(self):
        """Called by a stream's app thread that has no credit left, or no body bytes to read. On
        the reader thread (an app called inline) the thread reads and dispatches the next frames
        itself, so a CREDIT or a DATA frame wakes no other thread: True after one read (or
        READ_WAIT_MS without one; the caller checks its credit, its bytes and its cancel
        again). False when this thread is not the reader: then the caller waits for the
        reader (before_wait)."""
        me = get_ident()
        with self._lock:
            if self._inline_thread != me or self.closed:
                return False
            self._reading_inline = True
        try:
            return self._read_inline()
        finally:
            # Only now, with the read's frames dispatched: a take-over while they were being
            # handled would let a new reader dispatch the next bytes before them (a body's
            # chunks out of order, two threads in one decoder).
            with self._lock:
                self._reading_inline = False
                # Reading is progress: the inline watch counts from here.
                if self._inline_thread == me:
                    self._inline_since = time.monotonic()

    def _read_inline(self):
        # The streams opened by the read that started this app go to the pool before it waits,
        # as take_over would hand them: they must not wait for this app's next frame, which a
        # slow upload may not send for a long time.
        self._hand_ready_to_pool()
        try:
            self.flush_corked()  # a PING answer must not wait for the credit
            if not self._poll.poll(READ_WAIT_MS):
                return True
            data = self.sock.recv(RECV_SIZE)
        except OSError as err:
            self.log.debug('connection error', err=str(err))
            data = b''
        if not data:
            # The proxy closed the connection: what the reader does at EOF, once.
            with self._lock:
                self._reader = None
                self._inline_since = self._inline_thread = None
            self._on_close()
            return True
        self._dispatch(data)
        self._hand_ready_to_pool()
        self.flush_corked()
        return True

    def _hand_ready_to_pool(self):
        """The streams opened and not yet served go to the pool: this thread is in an app."""
        with self._lock:
            rest, self._ready = self._ready, []
        for stream in rest:
            self._submit(stream)

    def before_wait(self):
        """Called by a stream's app thread before it waits for credit or body bytes: the reader
        must not wait for what only the reader can bring."""
        if self._inline_thread == get_ident():
            self.take_over(get_ident())

    def take_over(self, thread):
        """A new reader thread for this connection while `thread`, the reader, is in an app:
        what it corked leaves now, the rest of its read's streams go to the pool."""
        with self._lock:
            if self._inline_thread != thread or thread is None or self.closed or self._reading_inline:
                return  # (a thread reading inline is the reader still, and reads)
            self._reader = None
            self._inline_since = self._inline_thread = None
            rest, self._ready = self._ready, []
        self._uncork()
        for stream in rest:
            self._submit(stream)
        threading.Thread(target=self.run, name='tsgi-conn', daemon=True).start()

    def _stream_error(self, err):
        with self._lock:
            stream = self.streams.get(err.stream)
        if stream is not None:
            stream.cancel(err.code, err.message)
        else:
            self.send_frame(FrameType.CANCEL, 0, err.stream, encode_cancel(err.code, err.message))

    def _fail(self, err):
        self.log.warn('protocol error, closing connection', code=error_code_name(err.code), err=err.message)
        self.send_frame(FrameType.GOAWAY, 0, 0, encode_goaway(self.last_stream, err.code, err.message))
        self.closed = True
        for stream in self._open_streams():
            stream.on_cancel('protocol error')
        self._shutdown(socket.SHUT_WR)

    def _on_frame(self, frame):
        if self.peer is None:
            return self._on_hello(frame)
        type_ = frame.type
        if type_ == FrameType.REQUEST:
            return self._on_request(frame)
        if type_ == FrameType.DATA:
            stream = self._stream(frame)
            if stream is not None:
                stream.on_data(frame.payload, bool(frame.flags & END_STREAM))
            return
        if type_ == FrameType.CREDIT:
            stream = self._stream(frame)
            if stream is not None:
                stream.on_credit(read_u32(frame.payload))
            return
        if type_ == FrameType.CANCEL:
            cancel = decode_cancel(frame.payload, frame.stream)
            with self._lock:
                stream = self.streams.get(frame.stream)
            if stream is not None:
                stream.on_cancel('the proxy cancelled the request (%s)' % error_code_name(cancel['code']))
            return
        if type_ == FrameType.PING:
            if not frame.flags & ACK:
                self.send_frame(FrameType.PING, ACK, 0, bytes(frame.payload))
            elif self.draining and bytes(frame.payload) == DRAIN_FENCE:
                self._refuse_new_streams()
            return
        if type_ == FrameType.GOAWAY:
            if self.draining:
                return self._refuse_new_streams()
            return self.drain('peer sent GOAWAY', announced=True)
        if type_ in (FrameType.HELLO, FrameType.RESPONSE):
            raise ProtocolError(ErrorCode.PROTOCOL_ERROR, 'unexpected %s from the proxy' % FrameType(type_).name)
        # Unknown frame types are skipped (SPEC.md section 2, rule 4).

    def _on_hello(self, frame):
        if frame.type != FrameType.HELLO:
            raise ProtocolError(ErrorCode.PROTOCOL_ERROR, 'expected HELLO, got frame type %d' % frame.type)
        hello = decode_hello(frame.payload)
        if hello['version'] != PROTOCOL_VERSION:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED_VERSION,
                'protocol version %d is not supported (this runner speaks %d)' % (hello['version'], PROTOCOL_VERSION),
            )
        if hello['role'] != 'proxy':
            raise ProtocolError(ErrorCode.PROTOCOL_ERROR, 'HELLO role must be "proxy"')
        self.peer = hello
        self.peer_max_frame_size = hello['maxFrameSize']
        self.decoder.max_frame_size = self.host.max_frame_size
        ours = {
            'version': PROTOCOL_VERSION,
            'role': 'runner',
            'maxFrameSize': self.host.max_frame_size,
            'initialWindow': self.host.initial_window,
            'maxStreams': self.host.max_streams,
        }
        ours.update(self.host.identity)
        ours['software'] = SOFTWARE
        ours['accepts'] = True
        self.send_frame(FrameType.HELLO, 0, 0, encode_hello(ours))
        with self._lock:
            self._hello_sent = True
            announce = self.draining and not self.refusing
        if announce:
            self._announce_drain()

    def _stream(self, frame):
        """The open stream a DATA/CREDIT is for; None for a closed one (stragglers are ignored)."""
        with self._lock:
            stream = self.streams.get(frame.stream)
        if stream is None and frame.stream > self.last_stream:
            raise ProtocolError(ErrorCode.PROTOCOL_ERROR, '%s on stream %d, which was never opened' % (FrameType(frame.type).name, frame.stream))
        return stream

    def _on_request(self, frame):
        if frame.stream <= self.last_stream:
            raise ProtocolError(ErrorCode.PROTOCOL_ERROR, 'REQUEST on stream %d, not above %d' % (frame.stream, self.last_stream))
        try:
            environ, bad = decode_environ(frame.payload, frame.stream), None
        except ProtocolError as err:
            environ, bad = None, err
        # One lock for the id, the check and the admission: the final GOAWAY (_refuse_new_streams)
        # names every stream admitted before it and none refused after it.
        with self._lock:
            self.last_stream = frame.stream
            refuse = 'runner is draining' if self.refusing else None
            if refuse is None and len(self.streams) >= self.host.max_streams:
                refuse = 'over max streams (%d)' % self.host.max_streams
            if refuse is None and bad is None:
                ended = bool(frame.flags & END_STREAM)
                stream = Stream(frame.stream, self, self.peer['initialWindow'], self.host.initial_window, ended, environ)
                self.streams[frame.stream] = stream
                # Not ACCEPTed yet: it waits for the end of this read's dispatch and a free
                # slot, and a stream lost before then never ran.
                self._ready.append(stream)
        if refuse is not None:
            self.send_frame(FrameType.CANCEL, 0, frame.stream, encode_cancel(ErrorCode.REFUSED_STREAM, refuse))
            return
        if bad is not None:
            raise bad

    def _serve(self, stream):
        """On the reader or a pool thread: ACCEPT, then the application (SPEC.md section 4)."""
        if not self.send_accept(stream):
            return  # cancelled while it waited for a thread
        self.host.serve(stream)

    # ---- streams closing ----

    def stream_closed(self, stream):
        with self._lock:
            self.streams.pop(stream.id, None)
            idle = self.refusing and not self.streams
        self.host.metrics.finished(stream)
        if idle:
            self._close_when_idle()

    def _open_streams(self):
        with self._lock:
            return list(self.streams.values())

    def _close_when_idle(self):
        with self._lock:
            if self._linger is not None or self.closed:
                return
            self._linger = threading.Timer(DRAIN_LINGER_S, self._shutdown, (socket.SHUT_WR,))
            self._linger.daemon = True
        self._linger.start()

    def _shutdown(self, how):
        with self._write_lock:
            self._flush_locked()
            self._shutdown_locked(how)

    def _shutdown_locked(self, how):
        try:
            self.sock.shutdown(how)
        except OSError:
            pass

    def _on_close(self):
        with self._lock:
            self.closed = True
            for timer in (self._linger, self._fence):
                if timer is not None:
                    timer.cancel()
        for stream in self._open_streams():
            stream.on_cancel('the connection was lost')
        with self._write_lock:
            # Under the write lock: no thread may write to a descriptor number reused elsewhere.
            self._broken = True
            self.sock.close()
        self.done.set()
        self.host.connection_done(self)
