"""The corked blocks of a bulk streamed response (tsgi_worker/connection.py watch_cork,
send_stale_cork) and the worker's watch that sends them (worker.py _watch): they wait for the
app's next blocks, and leave once they are CORK_DELAY_S old. Driven with the clock given."""

import os
import socket
import threading
import time
import unittest
from types import SimpleNamespace

import support  # noqa: F401  (puts the package on sys.path)

from tsgi_worker.connection import BULK_CORK_LIMIT, CORK_DELAY_S, CORK_IDLE_S, CORK_LIMIT, Connection
from tsgi_worker.decoder import FrameDecoder
from tsgi_worker.frame import HEADER_SIZE, MAX_FRAME_SIZE_LIMIT, FrameType
from tsgi_worker.log import Logger
from tsgi_worker.worker import Worker


class Host:
    def __init__(self):
        self.log = Logger('error')
        self.corks = 0

    def cork_started(self):
        self.corks += 1


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
        self.conn.send_data(self.stream, b'a' * 65536)
        self.assertEqual(self.host.corks, 1, 'a cork that starts tells the watch')
        self.conn.send_data(self.stream, b'b' * 65536)
        self.assertEqual(self.host.corks, 1, 'once per cork, not per frame')
        corked_at = time.monotonic()
        self.assertTrue(self.conn.send_stale_cork(corked_at - 1), 'younger than CORK_DELAY_S: look again soon')
        self.assertEqual(self.received(), [], 'and still corked')
        self.assertTrue(self.conn.send_stale_cork(corked_at + CORK_DELAY_S), 'sent, and the stream corked just now: look again soon')
        frames = self.received()
        self.assertEqual([(f.type, bytes(f.payload[:1]), len(f.payload)) for f in frames], [(FrameType.DATA, b'a', 65536), (FrameType.DATA, b'b', 65536)])
        self.conn.send_data(self.stream, b'c' * 65536)
        self.assertEqual(self.host.corks, 2, 'the next cork tells the watch again')

    def test_a_watched_stream_corks_up_to_a_window(self):
        """A bulk stream's blocks leave a whole window (the proxy's largest) at a time, where
        other corks leave past CORK_LIMIT: each send wakes the proxy, which takes the CPU."""
        block = b'a' * 65536
        fitting = lambda limit: limit // (len(block) + HEADER_SIZE)
        self.corking()
        for _ in range(fitting(CORK_LIMIT) + 1):
            self.conn.send_data(self.stream, block)
        self.assertEqual(len(self.received()), fitting(CORK_LIMIT) + 1, 'unwatched: past CORK_LIMIT they left')
        self.conn.watch_cork(True)
        for _ in range(fitting(BULK_CORK_LIMIT)):
            self.conn.send_data(self.stream, block)
        self.assertGreater(fitting(BULK_CORK_LIMIT), 3 * fitting(CORK_LIMIT))
        self.assertEqual(self.received(), [], 'watched: up to a window they wait, for one sendmsg')

    def test_a_stream_that_keeps_corking_keeps_the_watch_looking(self):
        self.corking()
        self.conn.watch_cork(True)
        before = time.monotonic()
        self.conn.send_data(self.stream, b'a' * 65536)
        after = time.monotonic()
        self.conn.flush_corked()  # the app's own flush: nothing waits now
        self.assertTrue(self.conn.send_stale_cork(before), 'corked just now: look again within CORK_DELAY_S, no wake per cork')
        self.assertFalse(self.conn.send_stale_cork(after + CORK_IDLE_S), 'no cork for CORK_IDLE_S: back off')

    def test_a_writing_thread_is_not_waited_for(self):
        self.corking()
        self.conn.watch_cork(True)
        self.conn.send_data(self.stream, b'a' * 65536)
        answers = []
        with self.conn._write_lock:
            # From another thread, as the watch: a blocking acquire would hang it, not this test.
            watch = threading.Thread(target=lambda: answers.append(self.conn.send_stale_cork(time.monotonic() + 1)), daemon=True)
            watch.start()
            watch.join(10)
        self.assertEqual(answers, [True], 'it went on at once, to look again later')
        self.assertEqual(self.received(), [])

    def test_unwatched_corks_are_left_to_their_thread(self):
        self.corking()
        self.conn.send_data(self.stream, b'a' * 65536)
        self.assertEqual(self.host.corks, 0)
        self.assertFalse(self.conn.send_stale_cork(time.monotonic() + 10))
        self.assertEqual(self.received(), [], 'a dispatch cork ends with its read, not by the watch')

    def test_another_thread_s_blocks_are_not_watched(self):
        # An app on a pool thread does not cork: its blocks leave at once, nothing to watch.
        self.conn.watch_cork(True)
        self.conn.send_data(self.stream, b'a' * 65536)
        self.assertEqual(len(self.received()), 1)
        self.assertEqual(self.host.corks, 0)
        self.assertFalse(self.conn.send_stale_cork(time.monotonic() + 10))

    def test_the_watch_stops_with_the_stream_or_the_cork(self):
        self.corking()
        self.conn.watch_cork(True)
        self.conn.watch_cork(False)
        self.conn.send_data(self.stream, b'a' * 65536)
        self.assertFalse(self.conn.send_stale_cork(time.monotonic() + 10))
        self.conn.watch_cork(True)
        self.conn._uncork()  # handed over (take_over): this thread no longer corks
        self.assertFalse(self.conn.send_stale_cork(time.monotonic() + 10))

    def test_only_its_own_thread_ends_the_watch(self):
        # A stream taken over ends later on its old thread while a new reader streams another.
        self.corking()
        self.conn.watch_cork(True)
        ended = threading.Thread(target=self.conn.watch_cork, args=(False,))
        ended.start()
        ended.join()
        self.conn.send_data(self.stream, b'a' * 65536)
        self.assertTrue(self.conn.send_stale_cork(time.monotonic() - 1), 'still watched')


class Stop(Exception):
    pass


class Wake:
    """The watch's Event: records the period of each wait, and ends the loop after `looks`."""

    def __init__(self, looks):
        self.periods = []
        self.looks = looks
        self.is_set = False

    def wait(self, period):
        self.periods.append(period)
        if len(self.periods) > self.looks:
            raise Stop()
        was, self.is_set = self.is_set, False
        return was

    def set(self):
        self.is_set = True

    def clear(self):
        self.is_set = False


class WatchLoopTest(unittest.TestCase):
    def watch(self, looks):
        """The worker's watch over one connection whose send_stale_cork answers `looks` in turn."""
        worker = Worker(None, {}, {'workers': 1}, Logger('error'))
        self.addCleanup(os.close, worker._wake_r)
        self.addCleanup(os.close, worker._wake_w)
        wake = worker._watch_wake = Wake(len(looks))
        answers = iter(looks)
        connection = type('Watched', (), {'check_inline': lambda self, now: False, 'send_stale_cork': lambda self, now: next(answers)})()
        worker._connections.add(connection)
        with self.assertRaises(Stop):
            worker._watch()
        return worker, wake.periods

    def test_every_cork_delay_while_blocks_wait_then_backing_off(self):
        _, periods = self.watch([True, True, False, False])
        self.assertEqual(periods[1:], [CORK_DELAY_S, CORK_DELAY_S, 2 * CORK_DELAY_S, 4 * CORK_DELAY_S])

    def test_a_cork_wakes_the_watch_unless_it_looks_every_cork_delay(self):
        for waiting in (True, False):
            worker, _ = self.watch([waiting])
            worker._watch_wake = wake = Wake(0)
            worker.cork_started()
            self.assertEqual(wake.is_set, not waiting, 'woken only when not looking every CORK_DELAY_S anyway')


if __name__ == '__main__':
    unittest.main()
