"""The Python side of the benchmark (uWSGI and gunicorn behind nginx): the endpoints of
endpoints.ts, byte for byte.

    GET  /              200 text/plain "Hello World!"
    GET  /json          200 application/json, JSON_BYTES bytes (same rule as jsonBody())
    GET  /download/N    200 application/octet-stream, N bytes of a..z, streamed in chunks
    POST /upload        200 text/plain, the count of request body bytes read
"""
import re

HELLO = b"Hello World!"
JSON_BYTES = 100 * 1024
CHUNK_BYTES = 64 * 1024
MAX_DOWNLOAD = 4 * 1024 ** 3
CHUNK = bytes(97 + (i % 26) for i in range(CHUNK_BYTES))
DOWNLOAD = re.compile(r"^/download/(\d{1,10})$")


def json_body():
    head, tail, end = '{"items":[', '],"pad":"', '"}'
    items = []
    length = len(head) + len(tail) + len(end)
    i = 0
    while True:
        item = '{"id":%d,"name":"item-%d","tags":["alpha","beta"],"score":%d}' % (i, i, (i * 37) % 1000)
        added = len(item) + (1 if items else 0)
        if length + added > JSON_BYTES - 64:
            break
        items.append(item)
        length += added
        i += 1
    return (head + ",".join(items) + tail + "x" * (JSON_BYTES - length) + end).encode("ascii")


JSON = json_body()


def stream(n):
    full, rest = divmod(n, CHUNK_BYTES)
    for _ in range(full):
        yield CHUNK
    if rest:
        yield CHUNK[:rest]


def count_body(environ):
    stream_in = environ["wsgi.input"]
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    total = 0
    while remaining > 0:
        chunk = stream_in.read(min(CHUNK_BYTES, remaining))
        if not chunk:
            break
        total += len(chunk)
        remaining -= len(chunk)
    return total


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    method = environ["REQUEST_METHOD"]
    if path == "/" and method == "GET":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "12")])
        return [HELLO]
    if path == "/json" and method == "GET":
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(JSON)))])
        return [JSON]
    match = DOWNLOAD.match(path)
    if match and method == "GET" and int(match.group(1)) <= MAX_DOWNLOAD:
        n = int(match.group(1))
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(n))])
        return stream(n)
    if path == "/upload" and method == "POST":
        body = str(count_body(environ)).encode("ascii")
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]
