"""A proxy's end of the protocol for tests: a real socket, frames written and read with the
package's codec, and a worker process started the way runner/supervision/master.ts starts it (fd 3 = the
IPC channel, fd 4 = the bound, not yet listening socket)."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

from support import PACKAGE_ROOT, ROOT

from tsgi_worker.decoder import FrameDecoder
from tsgi_worker.frame import MAX_FRAME_SIZE_LIMIT, FrameType, encode_credit, encode_frame
from tsgi_worker.messages import decode_cancel, decode_hello, decode_response_head, encode_environ, encode_hello

FIXTURES = os.path.join(ROOT, 'test', 'fixtures', 'python')
MAIN = os.path.join(PACKAGE_ROOT, 'tsgi_worker', '__main__.py')


class WorkerProcess:
    """One worker under a fake master: its IPC messages are read here."""

    def __init__(self, app, threads=1, extra=None, workers=1, cwd=FIXTURES, index=1, share=None, python_args=()):
        """`share`: another WorkerProcess whose bound socket this one listens on too."""
        self.dir = tempfile.mkdtemp(prefix='tsgi-py-')
        self.path = share.path if share else os.path.join(self.dir, 'w.sock')
        listener = share.listener.dup() if share else socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if not share:
            listener.bind(self.path)
        self.ipc, child_ipc = socket.socketpair()
        config = {'app': app, 'threads': threads, 'logLevel': 'debug'}
        config.update(extra or {})
        env = dict(os.environ, TSGI_RUNNER_WORKER=str(index), TSGI_RUNNER_WORKERS=str(workers), TSGI_WORKER_CONFIG=json.dumps(config), NODE_CHANNEL_FD='3')
        fds = {3: child_ipc.fileno(), 4: listener.fileno()}
        self.proc = subprocess.Popen(
            [sys.executable, *python_args, MAIN], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            preexec_fn=lambda: _place_fds(fds), close_fds=False,
        )
        child_ipc.close()
        self.listener = listener  # kept for workers that share it
        self._ipc_buffer = b''
        self.messages = []
        self.log_lines = []
        # Read stdout all along: a full pipe would block the worker's logging.
        threading.Thread(target=self._read_logs, daemon=True).start()

    def _read_logs(self):
        with self.proc.stdout:
            for line in self.proc.stdout:
                if line.startswith(b'{'):
                    self.log_lines.append(json.loads(line))

    def message(self, kind, timeout=10):
        """The next IPC message of type `kind` (others are kept in self.messages)."""
        end = time.monotonic() + timeout
        while True:
            for m in self.messages:
                if m['t'] == kind:
                    self.messages.remove(m)
                    return m
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError('no %s message from the worker' % kind)
            self.ipc.settimeout(left)
            data = self.ipc.recv(65536)
            if not data:
                raise AssertionError('IPC closed before a %s message' % kind)
            self._ipc_buffer += data
            *lines, self._ipc_buffer = self._ipc_buffer.split(b'\n')
            self.messages.extend(json.loads(line) for line in lines if line)

    def send(self, message):
        self.ipc.sendall(json.dumps(message).encode() + b'\n')

    def connect(self, window=262144):
        return Client(self.path, window)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait(10)
        self.ipc.close()
        self.listener.close()
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)
        return code



def _place_fds(fds):
    # In the child between fork and exec: dup the inherited sockets onto fds 3 and 4.
    temp = {target: os.dup(fd) for target, fd in fds.items()}
    for target, fd in temp.items():
        os.dup2(fd, target)
        os.close(fd)


class Client:
    def __init__(self, path, window=262144):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.decoder = FrameDecoder(MAX_FRAME_SIZE_LIMIT)
        self.pending = []
        self.window = window
        self.send(FrameType.HELLO, 0, 0, encode_hello({'version': 1, 'role': 'proxy', 'maxFrameSize': 65536, 'initialWindow': window}))
        self.hello = decode_hello(self.expect(FrameType.HELLO).payload)

    def send(self, type_, flags, stream, payload=b''):
        self.sock.sendall(encode_frame(type_, flags, stream, payload))

    def request(self, stream, environ, body=None):
        self.sock.sendall(self.request_bytes(stream, environ, body is None))
        if body is not None:
            self.send(FrameType.DATA, 1, stream, body)

    def request_bytes(self, stream, environ, ended=True):
        """A REQUEST frame (END_STREAM when `ended`: no body), for several in one write."""
        base = {'REQUEST_METHOD': 'GET', 'PATH_INFO': '/', 'SERVER_NAME': 'test', 'SERVER_PORT': '80', 'SERVER_PROTOCOL': 'HTTP/1.1', 'tsgi.request_id': 'r%d' % stream}
        base.update(environ)
        return encode_frame(FrameType.REQUEST, 1 if ended else 0, stream, encode_environ(base))

    def credit(self, stream, increment):
        self.sock.sendall(encode_credit(stream, increment))

    def frame(self):
        while not self.pending:
            data = self.sock.recv(262144)
            if not data:
                return None
            self.pending.extend(self.decoder.push(data))
        return self.pending.pop(0)

    def expect(self, type_, stream=None):
        frame = self.frame()
        assert frame is not None, 'connection closed while expecting %s' % FrameType(type_).name
        assert frame.type == type_ and (stream is None or frame.stream == stream), 'expected %s, got %r' % (FrameType(type_).name, frame)
        return frame

    def frames_until(self, stream, type_):
        """Every frame up to the first of `type_` on `stream`, as (type, stream, flags, payload)."""
        seen = []
        while True:
            frame = self.frame()
            seen.append((frame.type, frame.stream, frame.flags, bytes(frame.payload)))
            if frame.stream == stream and frame.type == type_:
                return seen

    def window_of_data(self):
        """DATA payload bytes until a whole window came (no credit given): how many."""
        received = 0
        while received < self.window:
            frame = self.frame()
            if frame.type == FrameType.DATA:
                received += len(frame.payload)
        return received

    def response(self, stream, credit=True):
        """Frames of `stream` until it ends: (head, body, cancel or None). Others are kept."""
        head, body, cancel = None, bytearray(), None
        kept = []
        while True:
            frame = self.frame()
            if frame is None:
                break
            if frame.stream != stream:
                kept.append(frame)
                continue
            if frame.type == FrameType.RESPONSE:
                head = decode_response_head(frame.payload, stream)
                if frame.flags & 1:
                    break
            elif frame.type == FrameType.DATA:
                body += frame.payload
                if credit and len(frame.payload):
                    self.credit(stream, len(frame.payload))
                if frame.flags & 1:
                    break
            elif frame.type == FrameType.CANCEL:
                cancel = decode_cancel(frame.payload, stream)
                if head is not None or cancel['code'] != 0:
                    break
        self.pending[:0] = kept
        return head, bytes(body), cancel

    def close(self):
        self.sock.close()
