"""CPU per request of the Python worker's MessagePack work, with each codec: decode_environ of
the environ tsgi-proxy sends for the hello scenario, encode_response_head of the app's answer.

    python3 test/bench/python_codec.py          # both codecs, each in its own interpreter
    TSGI_PURE_MSGPACK=1 python3 test/bench/python_codec.py --one

Reported, never asserted: the median of 5 rounds of process CPU time (time.process_time).
"""

import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'runner', 'python'))

# As proxy/environ.ts builds it for `GET /` from wrk or autocannon through tsgi-proxy.
ENVIRON = {
    'REQUEST_METHOD': 'GET', 'SCRIPT_NAME': '', 'PATH_INFO': '/', 'QUERY_STRING': '', 'REQUEST_URI': '/',
    'SERVER_NAME': 'localhost', 'SERVER_PORT': '8080', 'SERVER_PROTOCOL': 'HTTP/1.1',
    'REMOTE_ADDR': '127.0.0.1', 'REMOTE_PORT': '51234', 'wsgi.url_scheme': 'http',
    'HTTP_HOST': '127.0.0.1:8080', 'HTTP_USER_AGENT': 'wrk', 'HTTP_ACCEPT': '*/*',
    'tsgi.request_id': '0f8c2a1e-5b7d-4c3a-9e61-2d4b8f0a7c15',
}
HEAD = (200, 'OK', [('Content-Type', 'text/plain'), ('Content-Length', '12')])
REQUESTS = 20000
ROUNDS = 5


def one():
    from tsgi_worker import codec, messages

    payload = messages.encode_environ(ENVIRON)
    results = {}
    for name, work in (
        ('profile_problem', lambda: codec.profile_problem(payload)),
        ('decode_environ', lambda: messages.decode_environ(payload, 1)),
        ('encode_response_head', lambda: messages.encode_response_head(*HEAD)),
    ):
        rounds = []
        for _ in range(ROUNDS):
            start = time.process_time()
            for _ in range(REQUESTS):
                work()
            rounds.append((time.process_time() - start) / REQUESTS * 1e6)
        results[name] = statistics.median(rounds)
    total = results['decode_environ'] + results['encode_response_head']
    print('%-14s Python %s, environ %d B: decode %.1f µs (of which the profile check %.1f), head encode %.1f µs; per request %.1f µs' % (
        codec.CODEC, sys.version.split()[0], len(payload), results['decode_environ'], results['profile_problem'], results['encode_response_head'], total))


def main():
    if '--one' in sys.argv:
        one()
        return
    for pure in ('0', '1'):
        subprocess.run([sys.executable, __file__, '--one'], env=dict(os.environ, TSGI_PURE_MSGPACK=pure), check=True)


if __name__ == '__main__':
    main()
