"""The corked blocks of a bulk streamed response (tsgi_worker/connection.py watch_cork,
send_stale_cork): they wait for the app's next blocks, and the worker's watch sends them once
they are CORK_DELAY_S old. Driven here as the watch drives it, with the clock given."""

import socket
import threading
import time
import unittest
from types import SimpleNamespace

import support  # noqa: F401  (puts the package on sys.path)

from tsgi_worker.connection import CORK_DELAY_S, Connection
from tsgi_worker.decoder import FrameDecoder
from tsgi_worker.frame import MAX_FRAME_SIZE_LIMIT, FrameType
from tsgi_worker.log import Logger


class Host:
    def __init__(self):
        self.log = Logger('error')
        self.wakes = 0

    def wake_watch(self):
        self.wakes += 1


class CorkWatchTest(unittest.TestCase):
    def setUp(self):
        self.ours, self.proxy = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.proxy.setblocking(False)
        self.host = Host()
        self.conn = Connection(self.ours, self.host)
        self.stream = SimpleNamespace(id=1, sending_done=False)

    def tearDown(self):
        self.ours.close()
        self.proxy.close()

    def received(self):
        try:
            data = self.proxy.recv(1 << 20)
        except BlockingIOError:
            return []
        return FrameDecoder(MAX_FRAME_SIZE_LIMIT).push(data)

    def corking(self):
        """This thread corks, as the reader does while it runs an app inline."""
        self.conn._cork(threading.get_ident())

    def test_stale_blocks_leave_and_fresh_ones_wait(self):
        self.corking()
        self.conn.watch_cork(True)
        self.assertEqual(self.host.wakes, 1, 'the watch is woken to look every CORK_DELAY_S')
        self.conn.send_data(self.stream, b'a' * 65536)
        self.conn.send_data(self.stream, b'b' * 65536)
        corked_at = time.monotonic()
        self.assertTrue(self.conn.send_stale_cork(corked_at - 1), 'watched')
        self.assertEqual(self.received(), [], 'younger than CORK_DELAY_S: still corked')
        self.assertTrue(self.conn.send_stale_cork(corked_at + CORK_DELAY_S))
        frames = self.received()
        self.assertEqual([(f.type, bytes(f.payload[:1]), len(f.payload)) for f in frames], [(FrameType.DATA, b'a', 65536), (FrameType.DATA, b'b', 65536)])

    def test_unwatched_corks_are_left_to_their_thread(self):
        self.corking()
        self.conn.send_data(self.stream, b'a' * 65536)
        self.assertFalse(self.conn.send_stale_cork(time.monotonic() + 10))
        self.assertEqual(self.received(), [], 'a dispatch cork ends with its read, not by the watch')

    def test_another_thread_s_blocks_are_not_watched(self):
        # An app on a pool thread does not cork: its blocks leave at once, nothing to watch.
        self.conn.watch_cork(True)
        self.assertEqual(self.host.wakes, 0)
        self.assertFalse(self.conn.send_stale_cork(time.monotonic()))

    def test_the_watch_stops_with_the_stream_or_the_cork(self):
        self.corking()
        self.conn.watch_cork(True)
        self.conn.watch_cork(False)
        self.assertFalse(self.conn.send_stale_cork(time.monotonic()))
        self.conn.watch_cork(True)
        self.conn._uncork()  # handed over (take_over): the thread no longer corks
        self.assertFalse(self.conn.send_stale_cork(time.monotonic()))


if __name__ == '__main__':
    unittest.main()
