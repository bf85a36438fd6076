"""Structured payloads (HELLO, REQUEST, RESPONSE, CANCEL, GOAWAY), checked as
protocol/messages.ts checks them: every shape problem is a ProtocolError with its code."""

from .codec import pack, unpack, unpack_unchecked
from .errors import ErrorCode, ProtocolError
from .frame import MAX_FRAME_SIZE_LIMIT, MAX_STREAM_ID, MAX_WINDOW, MIN_FRAME_SIZE

PROTOCOL_VERSION = 1
DEFAULT_MAX_FRAME_SIZE = 64 * 1024
DEFAULT_INITIAL_WINDOW = 256 * 1024
DEFAULT_MAX_STREAMS = 1024
DEFAULT_MAX_ENVIRON_KEYS = 512


def _fail(message, stream=0):
    raise ProtocolError(ErrorCode.PROTOCOL_ERROR, message, stream)


def _as_map(value, what, stream=0):
    if not isinstance(value, dict):
        _fail('%s payload must be a map' % what, stream)
    return value


def _uint(value, what, low, high, stream=0):
    # bool is an int subclass in Python; MessagePack true is not a number.
    if type(value) is not int or value < low or value > high:
        _fail('%s must be an integer in %d..%d' % (what, low, high), stream)
    return value


def decode_hello(payload):
    value = _as_map(unpack(payload, 'HELLO'), 'HELLO')
    hello = {
        'version': _uint(value.get('version'), 'HELLO.version', 0, 0xFFFF),
        'role': value.get('role') if value.get('role') in ('proxy', 'runner') else _fail('HELLO.role must be "proxy" or "runner"'),
        'maxFrameSize': _uint(value.get('maxFrameSize'), 'HELLO.maxFrameSize', MIN_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT),
        'initialWindow': _uint(value.get('initialWindow'), 'HELLO.initialWindow', 0, MAX_WINDOW),
    }
    for key, low, high in (('maxStreams', 1, MAX_STREAM_ID), ('pid', 0, MAX_STREAM_ID), ('worker', 0, 0xFFFF), ('workers', 0, 0xFFFF), ('connections', 1, 0xFFFF)):
        if key in value:
            hello[key] = _uint(value[key], 'HELLO.' + key, low, high)
    for key in ('app', 'software'):
        if isinstance(value.get(key), str):
            hello[key] = value[key]
    if value.get('accepts') is True:
        hello['accepts'] = True
    return hello


def encode_hello(hello):
    return pack(hello)


def decode_environ(payload, stream, max_keys=DEFAULT_MAX_ENVIRON_KEYS):
    """REQUEST payload: str keys to str values (latin-1 "native strings"), bounded in count."""
    value = unpack_unchecked(payload)
    if type(value) is not dict:
        value = _as_map(unpack(payload, 'REQUEST', stream), 'REQUEST', stream)
    if len(value) > max_keys:
        raise ProtocolError(ErrorCode.LIMIT_EXCEEDED, 'environ has more than %d keys' % max_keys, stream)
    for key, item in value.items():
        if type(item) is not str or type(key) is not str:
            _fail('environ value of %r is not a string' % key if type(key) is str else 'environ key %r is not a string' % (key,), stream)
    if not isinstance(value.get('REQUEST_METHOD'), str) or not isinstance(value.get('PATH_INFO'), str):
        _fail('environ lacks REQUEST_METHOD or PATH_INFO', stream)
    return value


def encode_environ(environ):
    return pack(environ)


def decode_response_head(payload, stream):
    value = _as_map(unpack(payload, 'RESPONSE', stream), 'RESPONSE', stream)
    status = _uint(value.get('status'), 'RESPONSE.status', 0, 999, stream)
    reason = value.get('reason') if isinstance(value.get('reason'), str) else ''
    headers = value.get('headers')
    if not isinstance(headers, list):
        _fail('RESPONSE.headers must be an array', stream)
    for pair in headers:
        if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], str) or not isinstance(pair[1], str):
            _fail('RESPONSE.headers must hold [name, value] string pairs', stream)
    return {'status': status, 'reason': reason, 'headers': headers}


def encode_response_head(status, reason, headers):
    return pack({'status': status, 'reason': reason, 'headers': headers})


def decode_cancel(payload, stream):
    value = _as_map(unpack(payload, 'CANCEL', stream), 'CANCEL', stream)
    return {
        'code': _uint(value.get('code'), 'CANCEL.code', 0, MAX_STREAM_ID, stream),
        'reason': value.get('reason') if isinstance(value.get('reason'), str) else '',
    }


def encode_cancel(code, reason):
    return pack({'code': int(code), 'reason': reason})


def decode_goaway(payload):
    value = _as_map(unpack(payload, 'GOAWAY'), 'GOAWAY')
    return {
        'lastStream': _uint(value.get('lastStream'), 'GOAWAY.lastStream', 0, MAX_STREAM_ID),
        'code': _uint(value.get('code'), 'GOAWAY.code', 0, MAX_STREAM_ID),
        'reason': value.get('reason') if isinstance(value.get('reason'), str) else '',
    }


def encode_goaway(last_stream, code, reason):
    return pack({'lastStream': last_stream, 'code': int(code), 'reason': reason})
