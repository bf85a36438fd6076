"""The tsgi frame: a fixed 10-byte header followed by `length` payload bytes.

  0       1       2       3       4       5       6       7       8       9
+-------+-------+-------+-------+-------+-------+-------+-------+-------+-------+
|        payload length         | type  | flags |          stream id            |
|        (u32, big-endian)      | (u8)  | (u8)  |       (u32, big-endian)       |
+-------+-------+-------+-------+-------+-------+-------+-------+-------+-------+

protocol/SPEC.md is normative; protocol/frame.ts draws the same header.
"""

import enum
import struct

HEADER = struct.Struct('>IBBI')
HEADER_SIZE = HEADER.size  # 10

END_STREAM = 0x01  # REQUEST, RESPONSE, DATA: the sender's half is over
ACK = 0x01  # PING: this is the answer

MIN_FRAME_SIZE = 16 * 1024
MAX_FRAME_SIZE_LIMIT = 16 * 1024 * 1024
MAX_WINDOW = 0x7FFFFFFF
MAX_STREAM_ID = 0xFFFFFFFF

_U32 = struct.Struct('>I')


class FrameType(enum.IntEnum):
    HELLO = 0x01  # stream 0, both ways, first
    REQUEST = 0x02  # proxy -> runner, the environ
    RESPONSE = 0x03  # runner -> proxy, the head
    DATA = 0x04  # raw body bytes, within the receiver's window
    CREDIT = 0x05  # u32 window increment
    CANCEL = 0x06  # {code, reason}: abandons one stream
    GOAWAY = 0x07  # stream 0, {lastStream, code, reason}
    PING = 0x08  # stream 0, 8 opaque bytes, answered with ACK
    ACCEPT = 0x09  # runner -> proxy, empty: the app is about to run


class Frame:
    __slots__ = ('type', 'flags', 'stream', 'payload')

    def __init__(self, type, flags, stream, payload):
        self.type = type
        self.flags = flags
        self.stream = stream
        self.payload = payload

    def __repr__(self):
        return 'Frame(%r, %r, %r, %r)' % (self.type, self.flags, self.stream, bytes(self.payload))


def encode_header(type, flags, stream, length):
    return HEADER.pack(length, type, flags, stream)


def encode_frame(type, flags, stream, payload=b''):
    return HEADER.pack(len(payload), type, flags, stream) + payload


def encode_credit(stream, increment):
    return HEADER.pack(4, FrameType.CREDIT, 0, stream) + _U32.pack(increment)


def read_u32(data, offset=0):
    return _U32.unpack_from(data, offset)[0]
