"""MessagePack payloads in the profile of SPEC.md section 11, as protocol/codec.ts checks them.

The bytes are checked first, in one pass without recursion, so every problem is a ProtocolError
with a code, never another kind of exception: the `msgpack` library accepts more than the
profile (extension types, the never-used byte 0xc1 raises its own errors, non-str keys decode
to ints).

The values are then built by the C-accelerated `msgpack` when this interpreter can import it,
by pure_msgpack (standard library only) otherwise, so the worker runs on any Python 3.8+.
TSGI_PURE_MSGPACK=1 forces the fallback (tests run both; the vectors hold both to the same
bytes).
"""

import os

from .errors import ErrorCode, ProtocolError

PURE_ENV = 'TSGI_PURE_MSGPACK'


def _load_msgpack():
    if os.environ.get(PURE_ENV, '') not in ('', '0'):
        return None
    try:
        import msgpack
    except ImportError:
        return None
    return msgpack


_msgpack = _load_msgpack()

if _msgpack is not None:
    # Which implementation serves, for the worker's start-up log line.
    CODEC = 'msgpack %s' % '.'.join(map(str, _msgpack.version))

    def pack(value):
        return _msgpack.packb(value, use_bin_type=True)

    def _decode(payload):
        return _msgpack.unpackb(payload, raw=False, strict_map_key=True, use_list=True)

    def unpack_unchecked(payload):
        """The value, without the profile check, or None when the C msgpack refuses the bytes.
        For a caller that then requires a flat map of str to str (the environ): of what the C
        library accepts beyond the profile (bin, extension types, bytes keys, deep nesting),
        none is a str, and what it refuses (0xc1, trailing or missing bytes, non-str keys)
        goes back to the checked path, which says what is wrong. The check costs 6 of the
        8 µs an environ took to decode (test/bench/PROFILE.md)."""
        try:
            return _msgpack.unpackb(payload, raw=False, strict_map_key=True, use_list=True)
        except Exception:
            return None
else:
    from . import pure_msgpack

    CODEC = 'pure-python'
    pack = pure_msgpack.pack
    _decode = pure_msgpack.decode

    def unpack_unchecked(payload):
        """Without the C msgpack, every payload is checked."""
        return None


def unpack(payload, what, stream=0):
    """Decodes exactly one profile value, or raises PROTOCOL_ERROR."""
    problem = profile_problem(payload)
    if problem is None:
        try:
            return _decode(payload)
        except Exception as err:  # e.g. a str that is not UTF-8
            problem = str(err) or type(err).__name__
    raise ProtocolError(ErrorCode.PROTOCOL_ERROR, '%s: invalid MessagePack (%s)' % (what, problem), stream)


# What each first byte introduces: (fixed size or element count, bytes of explicit length,
# container, map, str); None for bytes outside the profile.
def _describe(token):
    if token <= 0x7F or token >= 0xE0:
        return (0, 0, False, False, False)  # positive and negative fixint
    if token <= 0x8F:
        return (2 * (token & 0x0F), 0, True, True, False)  # fixmap
    if token <= 0x9F:
        return (token & 0x0F, 0, True, False, False)  # fixarray
    if token <= 0xBF:
        return (token & 0x1F, 0, False, False, True)  # fixstr
    return _OTHERS.get(token)


_OTHERS = {
    0xC0: (0, 0, False, False, False),  # nil
    0xC2: (0, 0, False, False, False),  # false
    0xC3: (0, 0, False, False, False),  # true
    0xC4: (0, 1, False, False, False),  # bin 8/16/32
    0xC5: (0, 2, False, False, False),
    0xC6: (0, 4, False, False, False),
    0xCA: (4, 0, False, False, False),  # float 32/64
    0xCB: (8, 0, False, False, False),
    0xCC: (1, 0, False, False, False),  # uint 8..64
    0xCD: (2, 0, False, False, False),
    0xCE: (4, 0, False, False, False),
    0xCF: (8, 0, False, False, False),
    0xD0: (1, 0, False, False, False),  # int 8..64
    0xD1: (2, 0, False, False, False),
    0xD2: (4, 0, False, False, False),
    0xD3: (8, 0, False, False, False),
    0xD9: (0, 1, False, False, True),  # str 8/16/32
    0xDA: (0, 2, False, False, True),
    0xDB: (0, 4, False, False, True),
    0xDC: (0, 2, True, False, False),  # array 16/32
    0xDD: (0, 4, True, False, False),
    0xDE: (0, 2, True, True, False),  # map 16/32
    0xDF: (0, 4, True, True, False),
}

_ITEMS = tuple(_describe(token) for token in range(256))

# Deepest nesting of arrays and maps accepted, as protocol/codec.ts MAX_DEPTH: tsgi's payloads
# nest three levels, and a frame of 0x91 bytes would otherwise nest 65 536 deep and exhaust
# msgpack's recursion.
MAX_DEPTH = 32


def profile_problem(data):
    """What is wrong with `data` as exactly one profile value, or None."""
    data = memoryview(data).cast('B') if not isinstance(data, (bytes, bytearray)) else data
    end = len(data)
    left = []  # values still expected per open container (a map counts 2 per entry)
    is_map = []
    pos = 0
    while True:
        if pos >= end:
            return 'unexpected end of data'
        want_key = bool(left) and is_map[-1] and left[-1] % 2 == 0
        token = data[pos]
        pos += 1
        item = _ITEMS[token]
        if item is None:
            return 'byte 0x%x is outside the profile' % token
        size, length_bytes, container, map_, str_ = item
        if want_key and not str_:
            return 'map key is not a str'
        if length_bytes:
            if pos + length_bytes > end:
                return 'unexpected end of data'
            size = int.from_bytes(data[pos:pos + length_bytes], 'big') * (2 if map_ else 1)
            pos += length_bytes
        if left:
            left[-1] -= 1
        if container:
            if size > 0:
                if len(left) >= MAX_DEPTH:
                    return 'nested deeper than %d levels' % MAX_DEPTH
                left.append(size)
                is_map.append(map_)
        else:
            if pos + size > end:
                return 'unexpected end of data'
            pos += size
        while left and left[-1] == 0:
            left.pop()
            is_map.pop()
        if not left:
            break
    return None if pos == end else '%d bytes after the value' % (end - pos)
