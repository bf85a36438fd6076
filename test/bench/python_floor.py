"""The floor of any Python worker behind tsgi-proxy: a runner that speaks just enough of the
protocol (protocol/SPEC.md) to answer every REQUEST with a 12-byte "Hello World!", from bytes
encoded once at start, without decoding the environ, building a WSGI environ or calling an app.
It reads and writes as the real worker does (`poll`, then `recv`; one `sendmsg` per read), one
thread per connection. What the real worker spends above this per request is its own Python;
what this spends is the interpreter's loop and the system calls, which no Python worker can
avoid. Run it where the bench's proxy expects a runner, pinned as the bench pins:

    taskset -c 0 /usr/bin/python3 test/bench/python_floor.py /tmp/floor/r.sock

PROFILE.md ("The floor of a Python worker") has what it measured. Linux or macOS; no WSGI.
"""

import os
import select
import socket
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'runner', 'python'))

from tsgi_worker.frame import ACK, END_STREAM, HEADER, HEADER_SIZE, FrameType, encode_frame  # noqa: E402
from tsgi_worker.messages import encode_hello, encode_response_head  # noqa: E402

BODY = b'Hello World!'
HEAD = encode_response_head(200, 'OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(BODY)))])
OURS = encode_frame(FrameType.HELLO, 0, 0, encode_hello({
    'version': 1, 'role': 'runner', 'maxFrameSize': 256 * 1024, 'initialWindow': 256 * 1024,
    'pid': os.getpid(), 'worker': 0, 'workers': 1, 'app': 'python_floor', 'software': 'python_floor',
}))


def answer(stream):
    """RESPONSE then DATA with END_STREAM: the frames the worker sends for a 12-byte body."""
    return (HEADER.pack(len(HEAD), FrameType.RESPONSE, 0, stream) + HEAD
            + HEADER.pack(len(BODY), FrameType.DATA, END_STREAM, stream) + BODY)


def serve(conn):
    pending = bytearray()
    poller = select.poll()
    poller.register(conn, select.POLLIN)
    while True:
        poller.poll()
        data = conn.recv(256 * 1024)
        if not data:
            return
        pending += data
        out = []
        pos = 0
        while len(pending) - pos >= HEADER_SIZE:
            length, type_, flags, stream = HEADER.unpack_from(pending, pos)
            if len(pending) - pos - HEADER_SIZE < length:
                break
            payload = bytes(pending[pos + HEADER_SIZE:pos + HEADER_SIZE + length])
            pos += HEADER_SIZE + length
            if type_ == FrameType.REQUEST:
                out.append(answer(stream))
            elif type_ == FrameType.HELLO:
                out.append(OURS)
            elif type_ == FrameType.PING and not flags & ACK:
                out.append(encode_frame(FrameType.PING, ACK, 0, payload))
        del pending[:pos]
        if out:
            conn.sendmsg(out)


def main(path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == '__main__':
    main(sys.argv[1])
