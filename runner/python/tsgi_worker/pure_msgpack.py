"""MessagePack in pure Python, for interpreters without the `msgpack` package: exactly the
profile of SPEC.md section 11, nothing more.

`pack` produces what msgpack.packb(value, use_bin_type=True) produces for a profile value (the
smallest encoding; bytes as bin, str as str; floats as float 64), so the shared vectors match
byte for byte. `decode` assumes what codec.profile_problem has already established: exactly one
value, every length inside the payload, str keys, at most MAX_DEPTH levels. Left to it are the
values themselves; a str that is not UTF-8 raises UnicodeDecodeError, which codec.unpack turns
into a ProtocolError as it does msgpack's errors.

Both recurse once per level of nesting: the depth is bounded (checked before decoding, counted
while packing), and a recursive call is cheaper in CPython than an explicit stack.
"""

import struct

# The worker's payloads nest three levels; its own values never approach this.
MAX_PACK_DEPTH = 32

# One compiled struct per fixed-size value: (struct, size in bytes) per token.
_FIXED = {
    0xCA: (struct.Struct('>f'), 4),
    0xCB: (struct.Struct('>d'), 8),
    0xCC: (struct.Struct('>B'), 1),
    0xCD: (struct.Struct('>H'), 2),
    0xCE: (struct.Struct('>I'), 4),
    0xCF: (struct.Struct('>Q'), 8),
    0xD0: (struct.Struct('>b'), 1),
    0xD1: (struct.Struct('>h'), 2),
    0xD2: (struct.Struct('>i'), 4),
    0xD3: (struct.Struct('>q'), 8),
}
# Explicit lengths of bin, str, array and map: (length struct, its size, kind).
_BIN, _STR, _ARRAY, _MAP = range(4)
_SIZED = {
    0xC4: (struct.Struct('>B'), 1, _BIN),
    0xC5: (struct.Struct('>H'), 2, _BIN),
    0xC6: (struct.Struct('>I'), 4, _BIN),
    0xD9: (struct.Struct('>B'), 1, _STR),
    0xDA: (struct.Struct('>H'), 2, _STR),
    0xDB: (struct.Struct('>I'), 4, _STR),
    0xDC: (struct.Struct('>H'), 2, _ARRAY),
    0xDD: (struct.Struct('>I'), 4, _ARRAY),
    0xDE: (struct.Struct('>H'), 2, _MAP),
    0xDF: (struct.Struct('>I'), 4, _MAP),
}
_CONSTANTS = {0xC0: None, 0xC2: False, 0xC3: True}


def decode(payload):
    """The one profile value in `payload` (already checked by codec.profile_problem)."""
    data = payload if type(payload) is bytes else bytes(payload)
    return _decode(data, 0)[0]


def _decode(data, pos):
    """(value, position after it). The branches are ordered by how often tsgi's payloads use
    them: an environ is a fixmap of short strs."""
    token = data[pos]
    pos += 1
    if 0xA0 <= token <= 0xBF:  # fixstr
        end = pos + (token & 0x1F)
        return data[pos:end].decode('utf-8'), end
    if token <= 0x7F:  # positive fixint
        return token, pos
    if token <= 0x8F:  # fixmap
        return _decode_map(data, pos, token & 0x0F)
    if token <= 0x9F:  # fixarray
        return _decode_array(data, pos, token & 0x0F)
    if token >= 0xE0:  # negative fixint
        return token - 0x100, pos
    sized = _SIZED.get(token)
    if sized is not None:
        length_struct, length_size, kind = sized
        count = length_struct.unpack_from(data, pos)[0]
        pos += length_size
        if kind == _STR:
            end = pos + count
            return data[pos:end].decode('utf-8'), end
        if kind == _MAP:
            return _decode_map(data, pos, count)
        if kind == _ARRAY:
            return _decode_array(data, pos, count)
        end = pos + count
        return data[pos:end], end
    fixed = _FIXED.get(token)
    if fixed is not None:
        return fixed[0].unpack_from(data, pos)[0], pos + fixed[1]
    return _CONSTANTS[token], pos  # profile_problem let through no other byte


def _decode_map(data, pos, count):
    value = {}
    for _ in range(count):
        token = data[pos]
        if 0xA0 <= token <= 0xBF:  # the usual key: a short str, decoded here without a call
            end = pos + 1 + (token & 0x1F)
            key = data[pos + 1:end].decode('utf-8')
            pos = end
        else:
            key, pos = _decode(data, pos)
        value[key], pos = _decode(data, pos)
    return value, pos


def _decode_array(data, pos, count):
    items = []
    append = items.append
    for _ in range(count):
        item, pos = _decode(data, pos)
        append(item)
    return items, pos


# Prebuilt headers: one byte for fixstr, fixmap and fixarray of every small size.
_FIXSTR = [bytes((0xA0 | n,)) for n in range(32)]
_FIXMAP = [bytes((0x80 | n,)) for n in range(16)]
_FIXARRAY = [bytes((0x90 | n,)) for n in range(16)]
_U8 = struct.Struct('>BB').pack
_U16 = struct.Struct('>BH').pack
_U32 = struct.Struct('>BI').pack
_U64 = struct.Struct('>BQ').pack
_I8 = struct.Struct('>Bb').pack
_I16 = struct.Struct('>Bh').pack
_I32 = struct.Struct('>Bi').pack
_I64 = struct.Struct('>Bq').pack
_F64 = struct.Struct('>Bd').pack


def pack(value):
    """The bytes msgpack.packb(value, use_bin_type=True) gives for a profile value. Raises
    TypeError for a value outside the profile (a map key that is not a str, an object),
    OverflowError for an int beyond 64 bits, ValueError past MAX_PACK_DEPTH levels."""
    out = []
    _pack(value, out.append, 0)
    return b''.join(out)


def _pack(value, write, depth):
    kind = type(value)
    if kind is str:
        data = value.encode('utf-8')
        size = len(data)
        if size < 32:  # header names and values, map keys: the common case without a call
            write(_FIXSTR[size])
        else:
            _pack_length(size, _FIXSTR, 32, 0xD9, 0xDA, 0xDB, write)
        write(data)
    elif kind is int:
        _pack_int(value, write)
    elif kind is dict:
        if depth >= MAX_PACK_DEPTH:
            raise ValueError('nested deeper than %d levels' % MAX_PACK_DEPTH)
        _pack_length(len(value), _FIXMAP, 16, None, 0xDE, 0xDF, write)
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError('map key %r is not a str' % (key,))
            _pack(key, write, depth + 1)
            _pack(item, write, depth + 1)
    elif kind is list or kind is tuple:
        if depth >= MAX_PACK_DEPTH:
            raise ValueError('nested deeper than %d levels' % MAX_PACK_DEPTH)
        _pack_length(len(value), _FIXARRAY, 16, None, 0xDC, 0xDD, write)
        for item in value:
            _pack(item, write, depth + 1)
    elif value is None:
        write(b'\xc0')
    elif kind is bool:
        write(b'\xc3' if value else b'\xc2')
    elif kind is float:
        write(_F64(0xCB, value))
    elif kind is bytes or kind is bytearray or kind is memoryview:
        data = bytes(value)
        _pack_length(len(data), (), 0, 0xC4, 0xC5, 0xC6, write)
        write(data)
    else:
        _pack_subclass(value, write, depth)


def _pack_subclass(value, write, depth):
    """Subclasses (an IntEnum, a str subclass) as their base type, as msgpack does."""
    for base in (bool, int, float, str, bytes, bytearray, dict, list, tuple):
        if isinstance(value, base):
            _pack(base(value), write, depth)
            return
    raise TypeError('cannot serialize %r object' % type(value).__name__)


def _pack_length(size, fixed, fixed_limit, head8, head16, head32, write):
    if size < fixed_limit:
        write(fixed[size])
    elif size <= 0xFF and head8 is not None:
        write(_U8(head8, size))
    elif size <= 0xFFFF:
        write(_U16(head16, size))
    elif size <= 0xFFFFFFFF:
        write(_U32(head32, size))
    else:
        raise ValueError('%d items or bytes are more than MessagePack can size' % size)


def _pack_int(value, write):
    # msgpack writes a non-negative int as uint, a negative one as int, each in the fewest bytes.
    if value >= 0:
        if value <= 0x7F:
            write(bytes((value,)))
        elif value <= 0xFF:
            write(_U8(0xCC, value))
        elif value <= 0xFFFF:
            write(_U16(0xCD, value))
        elif value <= 0xFFFFFFFF:
            write(_U32(0xCE, value))
        elif value <= 0xFFFFFFFFFFFFFFFF:
            write(_U64(0xCF, value))
        else:
            raise OverflowError('int %d is beyond 64 bits' % value)
    elif value >= -32:
        write(bytes((value + 0x100,)))
    elif value >= -0x80:
        write(_I8(0xD0, value))
    elif value >= -0x8000:
        write(_I16(0xD1, value))
    elif value >= -0x80000000:
        write(_I32(0xD2, value))
    elif value >= -0x8000000000000000:
        write(_I64(0xD3, value))
    else:
        raise OverflowError('int %d is beyond 64 bits' % value)
