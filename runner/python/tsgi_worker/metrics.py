"""A worker's request counters, read by the heartbeat (see runner/serving/metrics.ts for their meaning)
and by the harakiri watchdog."""

import threading
import time

# Longest list of in-flight requests a heartbeat carries.
REPORTED_IN_FLIGHT = 32


def now_ms():
    return int(time.time() * 1000)


class Metrics:
    def __init__(self):
        self.requests = 0
        self.exceptions = 0
        self.harakiri = 0
        self._total_ms = 0
        self._live = {}  # stream -> its start (ms since the epoch), in start order
        self._lock = threading.Lock()

    def started(self, stream):
        # Only the start time per request; the record the heartbeat and the harakiri watchdog
        # read is made when they ask (_record).
        with self._lock:
            self._live[stream] = now_ms()
        if stream.closed:
            # Cancelled between its ACCEPT and here: finished() may have run before the insert.
            with self._lock:
                self._live.pop(stream, None)

    def finished(self, stream):
        with self._lock:
            started_at = self._live.pop(stream, None)
            if started_at is None:
                return  # refused or cancelled before it started
            self.requests += 1
            self._total_ms += now_ms() - started_at

    def failed(self):
        with self._lock:
            self.exceptions += 1

    def timed_out(self):
        with self._lock:
            self.harakiri += 1

    def expired(self, deadline_ms):
        """The streams in flight for longer than `deadline_ms`, with their records."""
        limit = now_ms() - deadline_ms
        with self._lock:
            late = [(stream, started_at) for stream, started_at in self._live.items() if started_at <= limit]
        return [(stream, _record(stream, started_at)) for stream, started_at in late]

    def in_flight(self):
        """The oldest requests in flight, and always the newest."""
        with self._lock:
            live = list(self._live.items())
        if len(live) > REPORTED_IN_FLIGHT:
            live = live[:REPORTED_IN_FLIGHT - 1] + live[-1:]
        return [_record(stream, started_at) for stream, started_at in live]

    def counters(self, rss):
        with self._lock:
            return {
                'requests': self.requests,
                'inFlight': len(self._live),
                'exceptions': self.exceptions,
                'harakiri': self.harakiri,
                'rss': rss,
                'avgLatencyMs': 0 if self.requests == 0 else round(self._total_ms / self.requests, 2),
            }


def _record(stream, started_at):
    environ = stream.environ
    return {
        'reqId': environ.get('tsgi.request_id', ''),
        'method': environ.get('REQUEST_METHOD', ''),
        'path': environ.get('PATH_INFO', ''),
        'startedAt': started_at,
    }
