"""Incremental frame decoder: `push(chunk)` returns the frames that chunk completed.

As protocol/decoder.ts: the header is checked before any payload byte is buffered, so a peer
can make us hold at most one frame of max frame size; a payload wholly inside one chunk is a
memoryview of it (no copy); after an error the decoder stays failed.
"""

from .errors import ErrorCode, ProtocolError
from .frame import HEADER, HEADER_SIZE, MIN_FRAME_SIZE, Frame, FrameType

_EMPTY = b''


class FrameDecoder:
    def __init__(self, max_frame_size=MIN_FRAME_SIZE):
        self.max_frame_size = max_frame_size
        self._header = bytearray()
        self._current = None  # frame whose payload is being assembled
        self._fill = 0
        self._failure = None

    @property
    def idle(self):
        """True when no partial frame is held."""
        return not self._header and self._current is None

    def push(self, chunk):
        if self._failure is not None:
            raise self._failure
        view = memoryview(chunk)
        frames = []
        try:
            offset = 0
            while offset < len(view):
                offset = self._step(view, offset, frames)
        except ProtocolError as err:
            self._failure = err
            raise
        return frames

    def _step(self, view, offset, frames):
        if self._current is not None:
            return self._fill_payload(view, offset, frames)
        available = len(view) - offset
        if not self._header and available >= HEADER_SIZE:
            length, type_, flags, stream = HEADER.unpack_from(view, offset)
            offset += HEADER_SIZE
        else:
            take = min(HEADER_SIZE - len(self._header), available)
            self._header += view[offset:offset + take]
            offset += take
            if len(self._header) < HEADER_SIZE:
                return offset
            length, type_, flags, stream = HEADER.unpack(self._header)
            self._header = bytearray()
        check_header(type_, stream, length, self.max_frame_size)
        frame = Frame(type_, flags, stream, _EMPTY)
        if length == 0:
            frames.append(frame)
            return offset
        if len(view) - offset >= length:
            frame.payload = view[offset:offset + length]
            frames.append(frame)
            return offset + length
        frame.payload = bytearray(length)
        self._current = frame
        self._fill = 0
        return self._fill_payload(view, offset, frames)

    def _fill_payload(self, view, offset, frames):
        frame = self._current
        take = min(len(frame.payload) - self._fill, len(view) - offset)
        frame.payload[self._fill:self._fill + take] = view[offset:offset + take]
        self._fill += take
        if self._fill == len(frame.payload):
            frames.append(frame)
            self._current = None
        return offset + take


_ON_STREAM_0 = (FrameType.HELLO, FrameType.GOAWAY, FrameType.PING)
_ON_A_STREAM = (FrameType.REQUEST, FrameType.RESPONSE, FrameType.DATA, FrameType.CANCEL, FrameType.CREDIT, FrameType.ACCEPT)


def check_header(type_, stream, length, max_frame_size):
    """The frame rules of SPEC.md section 2 that the header alone decides."""
    if length > max_frame_size:
        raise ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'frame of %d bytes exceeds max frame size %d' % (length, max_frame_size))
    if type_ in _ON_STREAM_0 and stream != 0:
        raise ProtocolError(ErrorCode.PROTOCOL_ERROR, '%s frame on stream %d: must be on stream 0' % (FrameType(type_).name, stream))
    if type_ == FrameType.PING and length != 8:
        raise ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'PING payload must be 8 bytes, got %d' % length)
    if type_ == FrameType.CREDIT and length != 4:
        raise ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'CREDIT payload must be 4 bytes, got %d' % length)
    if type_ in _ON_A_STREAM and stream == 0:
        raise ProtocolError(ErrorCode.PROTOCOL_ERROR, '%s frame on stream 0: must be on a stream' % FrameType(type_).name)
    if type_ == FrameType.ACCEPT and length != 0:
        raise ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'ACCEPT payload must be empty, got %d bytes' % length)
