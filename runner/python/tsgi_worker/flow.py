"""Credit-based flow control for one stream and direction (SPEC.md section 5), as
protocol/flow.ts: the sender spends credit on DATA payload bytes; the receiver gives it back
only once the bytes were consumed (the app read them)."""

from .errors import ErrorCode, ProtocolError
from .frame import MAX_WINDOW


class SendWindow:
    def __init__(self, available):
        self.credit = available

    def spend(self, n):
        self.credit -= n

    def grant(self, increment, stream):
        if increment == 0:
            raise ProtocolError(ErrorCode.PROTOCOL_ERROR, 'CREDIT increment of 0', stream)
        if self.credit + increment > MAX_WINDOW:
            raise ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, 'CREDIT overflows the window', stream)
        self.credit += increment


class ReceiveWindow:
    def __init__(self, remaining, threshold, max_size=None):
        self.remaining = remaining
        self._pending = 0
        # The window granted in all; it may grow to max_size for a consumer that keeps up.
        self._size = remaining
        self._max_size = remaining if max_size is None else max_size
        # A threshold above the window would never be reached: the sender would wait forever.
        self._threshold = max(1, min(threshold, remaining))

    def receive(self, n):
        if n > self.remaining:
            raise ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, 'DATA of %d bytes exceeds the window of %d' % (n, self.remaining))
        self.remaining -= n

    def consume(self, n, keeping_up=False):
        """`n` bytes were consumed; returns the increment to send now, or 0 to wait.
        `keeping_up`: they were taken as they came, so the window doubles (up to max_size) and
        the batches with it, as protocol/flow.ts does: fewer CREDIT round trips."""
        self._pending += n
        if self._pending < self._threshold:
            return 0
        increment = self._pending
        self._pending = 0
        if keeping_up and self._size < self._max_size:
            growth = min(self._size, self._max_size - self._size)
            self._size += growth
            increment += growth
            self._threshold *= 2
        self.remaining += increment
        return increment
