"""PEP 3333's server side for one request, as runner/apps/contract.ts does it for JavaScript apps:
start_response rules (status, headers, exc_info), headers held back until the first non-empty
chunk, the legacy write(), a 500 for an error before the head and an aborted stream after it,
and the result's close() called exactly once whatever happens."""

import os
import re
import stat
from time import monotonic

from .connection import CORK_DELAY_S
from .input import ClientDisconnected
from .stream import ContractError

SERVER_ERROR_BODY = b'Internal Server Error\n'
# A streamed body is a bulk one once this much of it went out: from then on a block the app
# made in less than CORK_DELAY_S may wait corked for the next ones (AppCall.stream_blocks).
BULK_BYTES = 256 * 1024
# A final status: 1xx would leave the client waiting for a head that never comes.
STATUS = re.compile(r'([2-5]\d\d)(?: (.*))?\Z', re.S)
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# Field values (and the reason): visible ASCII, space, tab and obs-text; never CR, LF, NUL.
FIELD_VALUE = re.compile(r'[\t\x20-\x7e\x80-\xff]*\Z')
BYTES = (bytes, bytearray, memoryview)


class FileWrapper:
    """`wsgi.file_wrapper`: iterating reads blocks; the worker recognises it and sends the file
    with sendfile() instead when the object is a regular file."""

    def __init__(self, filelike, block_size=8192):
        self.filelike = filelike
        self.block_size = block_size
        if hasattr(filelike, 'close'):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.block_size)
        if data:
            return data
        raise StopIteration


def request_fields(environ):
    return {'reqId': environ.get('tsgi.request_id'), 'method': environ.get('REQUEST_METHOD'), 'path': environ.get('PATH_INFO')}


def run_application(app, environ, stream, log):
    """Returns 'ok', or 'failed' when the app raised (the client got a 500 or an abort)."""
    call = AppCall(stream, environ, log)
    result = None
    outcome = 'ok'
    try:
        result = app(environ, call.start_response)
        call.iterate(result)
    except Exception as err:
        outcome = 'failed' if not stream.cancelled else 'ok'
        call.fail(err)
    finally:
        close_result(result, environ, log)
    return outcome


def close_result(result, environ, log):
    close = getattr(result, 'close', None)
    if close is None:
        return
    try:
        close()
    except Exception as err:
        log.error('application close() failed', err=err, **request_fields(environ))


class AppCall:
    def __init__(self, stream, environ, log):
        self.stream = stream
        self.environ = environ
        self.log = log
        self.head = None
        self.head_sent = False
        self.ended = False  # END or a 500 went out: a late write() must not reach the stream

    def start_response(self, status, headers, exc_info=None):
        if exc_info:
            try:
                # PEP 3333: with exc_info once the head went out, re-raise; before, replace it.
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # no traceback cycle through this frame
        elif self.head is not None:
            raise ContractError('start_response() called a second time without exc_info')
        self.head = parse_head(status, headers)
        return self.write

    def write(self, data):
        """The legacy write(): the head first, then the bytes, before it returns."""
        if self.head is None:
            raise ContractError('write() called before start_response()')
        self.send(data, True)

    def iterate(self, result):
        if isinstance(result, FileWrapper) and self._send_file(result):
            return self.finish()
        if type(result) in (list, tuple):
            # Every chunk exists already: they may leave together, corked (connection.py).
            for chunk in result:
                if self.stream.cancelled:
                    return
                self.send(chunk)
        else:
            return self.stream_blocks(iter(result))
        if not self.stream.cancelled:
            self.finish()

    def stream_blocks(self, iterator):
        """A streamed result, block by block, then its end (unless the stream was cancelled).

        PEP 3333: no block may wait while the app makes the next one, unless another thread
        keeps it moving. So each block leaves at once, until the body is a bulk one (BULK_BYTES
        out, and the app made this block in under CORK_DELAY_S): then blocks made that fast may
        wait corked for the next ones, and leave a few at a time, in one system call and one read
        of the proxy's (a 256 MiB download of 64 KiB blocks: 4,096 sendmsg calls otherwise). A
        block that waits longer than CORK_DELAY_S is sent by the worker's watch thread."""
        streamed = 0
        watched = False
        try:
            while True:
                if self.stream.cancelled:
                    return
                asked = monotonic()
                try:
                    chunk = next(iterator)
                except StopIteration:
                    break
                bulk = streamed >= BULK_BYTES and monotonic() - asked < CORK_DELAY_S
                if bulk and not watched:
                    watched = True
                    self.stream.watch_cork(True)
                self.send(chunk, not bulk)
                streamed += len(chunk)
            if not self.stream.cancelled:
                self.finish()
        finally:
            if watched:
                self.stream.watch_cork(False)
                # The last blocks, END set on the last, leave now: not after close() and
                # whatever else the reader thread does before it uncorks.
                self.stream.flush()

    def send(self, data, flush=False):
        """One block of the body; `flush`: it leaves now, with anything corked before it."""
        if not isinstance(data, BYTES):
            raise ContractError('body chunks must be bytes, got %s' % type(data).__name__)
        if len(data) == 0:
            if flush:
                self.stream.flush()
            return
        if self.stream.cancelled:
            raise ClientDisconnected('the request was cancelled')
        if self.ended:
            raise ContractError('write() called after the response ended')
        if self.head is None:
            raise ContractError('the application sent body data before calling start_response()')
        if self.head_sent:
            self.stream.write(data, flush)
            return
        status, reason, headers = self.head
        rest = self.stream.send_head_with(status, reason, headers, data)
        # Marked sent only once the stream took it: a head it refuses (too large) is still a 500.
        self.head_sent = True
        if len(rest):
            self.stream.write(rest, flush)
        elif flush:
            self.stream.flush()

    def finish(self):
        if self.head is None:
            raise ContractError('the application returned without calling start_response()')
        self.ended = True
        if self.head_sent:
            self.stream.end()
        else:
            self._send_head(True)

    def _send_head(self, end):
        status, reason, headers = self.head
        # Marked sent only once the stream took it: a head it refuses (too large) is still a 500.
        self.stream.send_head(status, reason, headers, end)
        self.head_sent = True

    def _send_file(self, wrapper):
        """sendfile() from the file's position to its end; False when it is not a regular file
        (then the wrapper is iterated like any result)."""
        try:
            fd = wrapper.filelike.fileno()
            info = os.fstat(fd)
            offset = wrapper.filelike.tell()
        except (AttributeError, OSError, ValueError):
            return False
        if not stat.S_ISREG(info.st_mode) or self.head is None:
            return False
        count = max(0, info.st_size - offset)
        length = declared_length(self.head[2])
        if length is not None:
            # PEP 3333: never more than the Content-Length the app declared.
            count = min(count, length)
        if count == 0:
            return True
        if not self.head_sent:
            self._send_head(False)
        sent = self.stream.send_file(fd, offset, count)
        wrapper.filelike.seek(offset + sent)
        return True

    def fail(self, err):
        if self.stream.cancelled:
            return
        self.ended = True
        self.log.error('application error', err=err, headSent=self.head_sent, **request_fields(self.environ))
        if self.head_sent:
            self.stream.abort(str(err) or type(err).__name__)
            return
        headers = [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', str(len(SERVER_ERROR_BODY))]]
        self.head_sent = True
        try:
            self.stream.send_head(500, 'Internal Server Error', headers, False)
            self.stream.write(SERVER_ERROR_BODY)
            self.stream.end()
        except ClientDisconnected:
            pass


def declared_length(headers):
    for name, value in headers:
        if name.lower() == 'content-length' and value.isdigit():
            return int(value)
    return None


def parse_head(status, headers):
    match = STATUS.match(status) if isinstance(status, str) else None
    if match is None or not FIELD_VALUE.match(match.group(2) or ''):
        raise ContractError('invalid status %r: expected "NNN Reason" with NNN in 200..599' % (status,))
    if not isinstance(headers, list):
        raise ContractError('response headers must be a list of (name, value) tuples, got %s' % type(headers).__name__)
    out = []
    for pair in headers:
        try:
            known = pair in _VALID_PAIRS
        except TypeError:  # unhashable (a list, or holding one): checked below
            known = False
        if known:
            out.append(list(pair))
            continue
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ContractError('invalid header %r: expected a (name, value) tuple' % (pair,))
        name, value = pair
        if not isinstance(name, str) or not TOKEN.match(name):
            raise ContractError('invalid header name %r' % (name,))
        if not isinstance(value, str) or not FIELD_VALUE.match(value):
            raise ContractError('invalid value for header %s: %r' % (name, value))
        out.append([name, value])
        if type(pair) is tuple and type(name) is str and type(value) is str:
            _remember(pair)  # only exact tuples of exact str: equal means valid
    return int(match.group(1)), match.group(2) or '', out


# Header (name, value) tuples of exactly str that passed the checks: an app sends the same
# ones again and again (Content-Type, Cache-Control...), and two regular expressions per header
# were a tenth of the worker's time per request. Bounded: emptied when full.
_VALID_PAIRS = set()
VALID_PAIRS_MAX = 4096


def _remember(pair):
    if len(_VALID_PAIRS) >= VALID_PAIRS_MAX:
        _VALID_PAIRS.clear()
    _VALID_PAIRS.add(pair)
