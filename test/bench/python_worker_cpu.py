"""The Python worker's own CPU per request (from /proc/<pid>/stat), driven directly over its
socket by test/python/client.py: N `GET /` of test/bench/wsgi_app.py, after 500 to warm up,
DEPTH at a time (default 1: one after the other; 50 sent in one write is what a proxy
relaying 50 connections sends). Linux only; reported, never asserted. Run it once per codec:

    TSGI_PURE_MSGPACK=0 python3 test/bench/python_worker_cpu.py 4000
    TSGI_PURE_MSGPACK=1 python3 test/bench/python_worker_cpu.py 4000
    python3 test/bench/python_worker_cpu.py 20000 50
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'python'))

import support  # noqa: E402,F401  (the worker package on sys.path)
from client import WorkerProcess  # noqa: E402

ENVIRON = {
    'SCRIPT_NAME': '', 'QUERY_STRING': '', 'REQUEST_URI': '/', 'REMOTE_ADDR': '127.0.0.1', 'REMOTE_PORT': '51234',
    'wsgi.url_scheme': 'http', 'HTTP_HOST': '127.0.0.1:8080', 'HTTP_USER_AGENT': 'wrk', 'HTTP_ACCEPT': '*/*',
}
WARMUP = 500


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as stat:
        fields = stat.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')  # utime + stime


def main(count, depth):
    worker = WorkerProcess('wsgi_app:application', cwd=HERE, extra={'logLevel': 'warn'})
    try:
        worker.message('ready')
        client = worker.connect()
        for first in range(0, WARMUP + count, depth):
            if first == WARMUP - WARMUP % depth:
                start, cpu = time.monotonic(), cpu_seconds(worker.proc.pid)
            batch = range(first, min(first + depth, WARMUP + count))
            client.sock.sendall(b''.join(client.request_bytes(2 * i + 1, ENVIRON) for i in batch))
            for i in batch:
                head, body, _ = client.response(2 * i + 1)
                assert body == b'Hello World!', body
        count = WARMUP + count - (WARMUP - WARMUP % depth)
        used = cpu_seconds(worker.proc.pid) - cpu
        print('TSGI_PURE_MSGPACK=%s, %d at a time: %d requests in %.2f s, worker CPU %.2f s, %.0f µs/request' % (
            os.environ.get('TSGI_PURE_MSGPACK', ''), depth, count, time.monotonic() - start, used, used / count * 1e6))
        client.close()
    finally:
        worker.stop()


if __name__ == '__main__':
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4000, int(sys.argv[2]) if len(sys.argv) > 2 else 1)
