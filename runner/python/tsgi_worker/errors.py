"""Wire error codes (SPEC.md section 9), as protocol/errors.ts numbers them: never renumber."""

import enum


class ErrorCode(enum.IntEnum):
    NO_ERROR = 0
    PROTOCOL_ERROR = 1
    INTERNAL_ERROR = 2
    FLOW_CONTROL_ERROR = 3
    FRAME_SIZE_ERROR = 4
    STREAM_CLOSED = 5
    REFUSED_STREAM = 6
    CANCEL = 7
    APP_ERROR = 8
    TIMEOUT = 9
    LIMIT_EXCEEDED = 10
    UNSUPPORTED_VERSION = 11
    INVALID_RESPONSE = 12


def error_code_name(code):
    try:
        return ErrorCode(code).name
    except ValueError:
        return 'UNKNOWN(%d)' % code


class ProtocolError(Exception):
    """A violation found while decoding or checking frames.

    `code` goes on the wire; `stream` is non-zero when only that stream is affected (a CANCEL),
    0 when the connection must close (a GOAWAY).
    """

    def __init__(self, code, message, stream=0):
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.stream = stream
