"""An app for test_inline.py that refills one buffer for every request: a response still
corked (connection.py) must not see the next request's bytes."""

reused = bytearray(20000)


def app(environ, start_response):
    if environ['PATH_INFO'] == '/big':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return [b'x' * int(environ['QUERY_STRING'])]
    reused[:] = environ['QUERY_STRING'].encode() * len(reused)
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    return [reused]
