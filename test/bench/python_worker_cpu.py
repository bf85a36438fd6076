"""The Python worker's own CPU per request (from /proc/<pid>/stat), driven directly over its
socket by test/python/client.py: N requests of test/bench/wsgi_app.py, after a warm-up, DEPTH
at a time (default 1: one after the other; 50 sent in one write is what a proxy relaying 50
connections sends). SCENARIO: `hello` (GET /, the default), `json` (GET /json, 100 KiB) or
`download` (N transfers of GET /download/256 MiB, one at a time, credited as the proxy credits a
client that keeps up: half the window at a time, the window doubling up to 4 × 256 KiB). With
`--pin`, the worker runs on CPU 0 and this driver on CPU 1 (steadier figures). Linux only;
reported, never asserted. Run it once per codec:

    TSGI_PURE_MSGPACK=0 python3 test/bench/python_worker_cpu.py 4000
    TSGI_PURE_MSGPACK=1 python3 test/bench/python_worker_cpu.py 4000
    python3 test/bench/python_worker_cpu.py 20000 50
    python3 test/bench/python_worker_cpu.py 4000 50 json --pin
    python3 test/bench/python_worker_cpu.py 5 1 download --pin
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'python'))

import support  # noqa: E402,F401  (the worker package on sys.path)
from client import WorkerProcess  # noqa: E402
from tsgi_worker.frame import FrameType  # noqa: E402
from tsgi_worker.messages import decode_response_head  # noqa: E402

ENVIRON = {
    'SCRIPT_NAME': '', 'QUERY_STRING': '', 'REQUEST_URI': '/', 'REMOTE_ADDR': '127.0.0.1', 'REMOTE_PORT': '51234',
    'wsgi.url_scheme': 'http', 'HTTP_HOST': '127.0.0.1:8080', 'HTTP_USER_AGENT': 'wrk', 'HTTP_ACCEPT': '*/*',
}
WARMUP = 500
DOWNLOAD_BYTES = 256 * 1024 * 1024
WINDOW = 256 * 1024
MAX_WINDOW = 4 * WINDOW  # as proxy/upstream/stream.ts lets a response window grow


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as stat:
        fields = stat.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')  # utime + stime


def start_worker(pin):
    if pin:
        os.sched_setaffinity(0, {0})  # inherited by the worker and every thread it starts
    worker = WorkerProcess('wsgi_app:application', cwd=HERE, extra={'logLevel': 'warn'})
    if pin:
        os.sched_setaffinity(0, {1})
    worker.message('ready')
    return worker


def requests(worker, count, depth, path, expected):
    client = worker.connect()
    environ = dict(ENVIRON, PATH_INFO=path, REQUEST_URI=path)
    for first in range(0, WARMUP + count, depth):
        if first == WARMUP - WARMUP % depth:
            start, cpu = time.monotonic(), cpu_seconds(worker.proc.pid)
        batch = range(first, min(first + depth, WARMUP + count))
        client.sock.sendall(b''.join(client.request_bytes(2 * i + 1, environ) for i in batch))
        for i in batch:
            # No CREDIT needed (a response fits the window), and none sent: a driver that
            # blocks writing while the worker blocks writing would deadlock (a proxy does not).
            head, body, _ = client.response(2 * i + 1, credit=False)
            assert len(body) == expected, len(body)
    count = WARMUP + count - (WARMUP - WARMUP % depth)
    used = cpu_seconds(worker.proc.pid) - cpu
    client.close()
    return count, time.monotonic() - start, used


def download(client, stream):
    """One transfer, credited as the proxy does for a client that keeps up (protocol/flow.ts)."""
    client.request(stream, {'PATH_INFO': '/download/%d' % DOWNLOAD_BYTES})
    received = pending = 0
    size, threshold = WINDOW, WINDOW // 2
    while True:
        frame = client.frame()
        assert frame is not None and frame.stream == stream, frame
        if frame.type == FrameType.ACCEPT:
            continue
        if frame.type == FrameType.RESPONSE:
            assert decode_response_head(frame.payload, stream)['status'] == 200
            continue
        assert frame.type == FrameType.DATA, frame
        received += len(frame.payload)
        pending += len(frame.payload)
        if frame.flags & 1:
            break
        if pending >= threshold:
            increment, pending = pending, 0
            if size < MAX_WINDOW:
                growth = min(size, MAX_WINDOW - size)
                size += growth
                increment += growth
                threshold *= 2
            client.credit(stream, increment)
    assert received == DOWNLOAD_BYTES, received


def downloads(worker, count):
    client = worker.connect()
    download(client, 1)
    start, cpu = time.monotonic(), cpu_seconds(worker.proc.pid)
    for i in range(count):
        download(client, 3 + 2 * i)
    used = cpu_seconds(worker.proc.pid) - cpu
    client.close()
    return count, time.monotonic() - start, used


def main(count, depth, scenario, pin):
    worker = start_worker(pin)
    try:
        if scenario == 'download':
            count, elapsed, used = downloads(worker, count)
            print('download of 256 MiB%s: %d transfers in %.2f s, worker CPU %.2f s, %.1f ms/transfer' % (
                ' (pinned)' if pin else '', count, elapsed, used, used / count * 1e3))
            return
        path, expected = ('/json', 100 * 1024) if scenario == 'json' else ('/', 12)
        count, elapsed, used = requests(worker, count, depth, path, expected)
        print('TSGI_PURE_MSGPACK=%s, %s, %d at a time%s: %d requests in %.2f s, worker CPU %.2f s, %.1f µs/request' % (
            os.environ.get('TSGI_PURE_MSGPACK', ''), scenario, depth, ' (pinned)' if pin else '', count, elapsed, used, used / count * 1e6))
    finally:
        worker.stop()


if __name__ == '__main__':
    args = [arg for arg in sys.argv[1:] if arg != '--pin']
    main(int(args[0]) if len(args) > 0 else 4000, int(args[1]) if len(args) > 1 else 1, args[2] if len(args) > 2 else 'hello', '--pin' in sys.argv)
