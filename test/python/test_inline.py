"""Serving on the connection's reader thread (connection.py): with `--threads 1` every request
is served there while nothing waits, so everything the reader does besides must still happen
while an app runs or waits: credit and body bytes reach it, PINGs and CANCELs are answered, a
slow app hands the reading over. The Worker tests run again with one thread (InlineWorker)."""

import os
import time
import unittest

from client import WorkerProcess
import test_worker
from tsgi_worker.frame import FrameType
from tsgi_worker.messages import encode_cancel, encode_environ


class InlineWorker(test_worker.Worker):
    """Every test of Worker, on a worker with one thread: all of them served inline."""

    @classmethod
    def setUpClass(cls):
        cls.worker = WorkerProcess('worker_apps:app', threads=1)
        cls.worker.message('ready')

    def test_threads_overlap(self):
        self.skipTest('needs four threads')


class Inline(unittest.TestCase):
    def setUp(self):
        self.worker = WorkerProcess('worker_apps:app', threads=1)
        self.worker.message('ready')
        self.client = self.worker.connect()

    def tearDown(self):
        self.client.close()
        self.worker.stop()

    def test_the_last_data_frame_carries_the_end(self):
        self.client.request(1, {})
        seen = self.client.frames_until(1, FrameType.DATA)
        self.assertEqual([(t, f) for t, _, f, _ in seen], [(FrameType.ACCEPT, 0), (FrameType.RESPONSE, 0), (FrameType.DATA, 1)])
        self.assertEqual(seen[-1][3], b'hello', 'no empty DATA frame for the end')

    def test_a_bulk_stream_s_block_does_not_wait_for_the_next(self):
        """Past 256 KiB, blocks made back to back may leave corked a few at a time; the one
        before the app's pause still leaves during the pause, not with the block after it."""
        # A window for the whole body: no CREDIT from here, whose read would send what is corked.
        client = self.worker.connect(window=1024 * 1024)
        try:
            client.request(1, {'PATH_INFO': '/bulk-then-pause', 'QUERY_STRING': '2'})
            body = bytearray()
            while not body.endswith(b'tail'):
                frame = client.frame()
                if frame.type == FrameType.DATA and frame.stream == 1:
                    body += frame.payload
            self.assertEqual(len(body), 8 * 65536 + 4)
            # Sent now, the PING is answered before the app's 'end' (2 s later): 'tail' came
            # during the pause. The order says it, not a time bound.
            client.send(FrameType.PING, 0, 0, b'bulkpaus')
            self.assertEqual(bytes(client.expect(FrameType.PING).payload), b'bulkpaus')
            self.assertEqual(client.response(1)[1], b'end')
        finally:
            client.close()

    def test_a_slow_app_does_not_stop_the_reading(self):
        self.client.request(1, {'PATH_INFO': '/sleep', 'QUERY_STRING': '1'})
        self.client.expect(FrameType.ACCEPT, 1)  # corked, then sent when the reading is handed over
        self.client.send(FrameType.PING, 0, 0, b'87654321')
        # The next frame is the PING's answer, not the RESPONSE the app sends after its 1 s
        # sleep: the order says it, where a time bound would depend on the machine's load.
        self.client.expect(FrameType.PING)
        self.assertEqual(self.client.response(1)[1], b'slept')

    def test_cancel_reaches_an_app_running_on_the_reader(self):
        self.client.request(1, {'PATH_INFO': '/sleep', 'QUERY_STRING': '0.5'})
        self.client.expect(FrameType.ACCEPT, 1)
        self.client.send(FrameType.CANCEL, 0, 1, encode_cancel(7, 'client left'))
        self.client.request(3, {})
        seen = self.client.frames_until(3, FrameType.DATA)
        self.assertFalse([f for f in seen if f[1] == 1], 'nothing more on the cancelled stream')
        self.assertEqual(seen[-1][3], b'hello')

    def test_requests_of_one_read_are_all_answered(self):
        self.client.sock.sendall(b''.join(self.client.request_bytes(stream, {}) for stream in range(1, 80, 2)))
        for stream in range(1, 80, 2):
            self.assertEqual(self.client.response(stream)[1], b'hello')

    def test_an_inline_app_out_of_credit_reads_the_connection_itself(self):
        """Out of credit, the app's thread reads the frames: a PING is answered meanwhile, a
        REQUEST goes to the pool, and the CREDIT lets the response go on."""
        self.client.request(1, {'PATH_INFO': '/big', 'QUERY_STRING': '600000'})
        received = self.client.window_of_data()
        self.assertEqual(received, self.client.window, 'not a byte beyond the credit')
        self.client.send(FrameType.PING, 0, 0, b'12345678')
        self.assertEqual(bytes(self.client.expect(FrameType.PING).payload), b'12345678')
        self.client.request(3, {})
        self.client.credit(1, 600000 - received)
        head, body, _ = self.client.response(1)
        self.assertEqual(len(body), 600000 - received)
        self.assertEqual(self.client.response(3)[1], b'hello')

    def test_an_inline_app_waiting_for_its_body_reads_the_connection_itself(self):
        """Waiting for body bytes, the app's thread reads the frames itself: a PING is answered
        meanwhile, the DATA reaches the app, and no reader thread was started beside it. The
        inline watch may still rightly take the reading over from an app that this machine
        left unscheduled for 10 ms (INLINE_LIMIT_S): of three uploads, one suffices. Before,
        every one of them started a reader."""
        readers = []
        for stream in (1, 3, 5):
            self.client.send(FrameType.REQUEST, 0, stream, encode_environ({'REQUEST_METHOD': 'POST', 'PATH_INFO': '/readers', 'tsgi.request_id': 'r%d' % stream}))
            self.client.expect(FrameType.ACCEPT, stream)
            self.client.send(FrameType.PING, 0, 0, b'bodywait')
            self.assertEqual(bytes(self.client.expect(FrameType.PING).payload), b'bodywait')
            self.client.send(FrameType.DATA, 0, stream, b'x' * 60000)
            self.client.send(FrameType.DATA, 1, stream, b'y' * 10)
            size, count = self.client.response(stream)[1].split()
            self.assertEqual(size, b'60010')
            readers.append(int(count))
        self.assertEqual(min(readers), 1, 'reader threads seen by each app: %r' % readers)

    def test_a_slow_request_does_not_hold_the_rest_of_its_read(self):
        """The reader is taken over in the slow one: the others of its read go to the pool
        and wait for the thread (threads 1), in order, and are all served."""
        first = self.client.request_bytes(1, {'PATH_INFO': '/sleep', 'QUERY_STRING': '0.3'})
        self.client.sock.sendall(first + b''.join(self.client.request_bytes(stream, {}) for stream in range(3, 20, 2)))
        self.assertEqual(self.client.response(1)[1], b'slept')
        for stream in range(3, 20, 2):
            self.assertEqual(self.client.response(stream)[1], b'hello')


class InlineWithAThreadFree(unittest.TestCase):
    """A worker with two threads: one for the app on the reader, one free."""

    def setUp(self):
        self.worker = WorkerProcess('worker_apps:app', threads=2)
        self.addCleanup(self.worker.stop)
        self.worker.message('ready')
        self.client = self.worker.connect()
        self.addCleanup(self.client.close)

    def test_a_request_read_with_an_upload_does_not_wait_for_its_body(self):
        """REQUEST 3 came in the read that started an upload waiting for its body: it goes to
        the free thread at once, not once the upload's next frame comes (the client's socket
        gives up after 10 s)."""
        upload = self.client.request_bytes(1, {'REQUEST_METHOD': 'POST', 'PATH_INFO': '/echo'}, ended=False)
        self.client.sock.sendall(upload + self.client.request_bytes(3, {}))
        self.assertEqual(self.client.response(3)[1], b'hello')
        self.client.send(FrameType.DATA, 1, 1, b'late body')
        self.assertEqual(self.client.response(1)[1], b'late body')


class Corked(unittest.TestCase):
    """Responses of one read leave together: large payloads by reference, as long as the app
    cannot change them any more."""

    def setUp(self):
        self.worker = WorkerProcess('reuse_app:app', threads=1, cwd=os.path.dirname(os.path.abspath(__file__)))
        self.worker.message('ready')
        self.client = self.worker.connect()

    def tearDown(self):
        self.client.close()
        self.worker.stop()

    def test_a_large_list_result_ends_on_its_last_data_frame(self):
        self.client.request(1, {'PATH_INFO': '/big', 'QUERY_STRING': '200000'})
        sizes = []
        while True:
            frame = self.client.frame()
            if frame.type == FrameType.DATA:
                sizes.append(len(frame.payload))
                if frame.flags & 1:
                    break
        self.assertEqual(sum(sizes), 200000)
        self.assertTrue(all(0 < size <= 65536 for size in sizes), sizes)

    def test_a_corked_response_keeps_its_bytes_when_the_app_reuses_its_buffer(self):
        self.client.sock.sendall(b''.join(self.client.request_bytes(stream, {'PATH_INFO': '/reused', 'QUERY_STRING': letter}) for stream, letter in ((1, 'a'), (3, 'b'), (5, 'c'))))
        for stream, letter in ((1, b'a'), (3, b'b'), (5, b'c')):
            self.assertEqual(self.client.response(stream)[1], letter * 20000)


class InlineHarakiri(unittest.TestCase):
    """A worker with one thread and a 300 ms harakiri, fresh for each test."""

    def setUp(self):
        self.worker = WorkerProcess('worker_apps:app', threads=1, extra={'harakiriMs': 300})
        self.addCleanup(self.worker.stop)
        self.worker.message('ready')
        self.client = self.worker.connect()
        self.addCleanup(self.client.close)

    def test_a_stuck_inline_app_is_cancelled_and_the_rest_waits_unaccepted(self):
        self.client.request(1, {'PATH_INFO': '/sleep', 'QUERY_STRING': '5'})
        self.client.request(3, {})
        seen = [(type_, stream) for type_, stream, _, _ in self.client.frames_until(1, FrameType.CANCEL)]
        self.assertIn((FrameType.ACCEPT, 1), seen)
        self.assertNotIn((FrameType.ACCEPT, 3), seen, 'the queued stream has not started')
        self.assertEqual([r['reqId'] for r in self.worker.message('harakiri')['requests']], ['r1'])

    def test_an_inline_app_waiting_for_credit_is_cancelled_and_its_thread_freed(self):
        self.client.request(1, {'PATH_INFO': '/big', 'QUERY_STRING': '1000000'})
        started = time.monotonic()
        self.client.frames_until(1, FrameType.CANCEL)
        self.assertLess(time.monotonic() - started, 5, 'cancelled by the 300 ms harakiri, not left waiting for credit')
        self.client.request(3, {})
        self.assertEqual(self.client.response(3)[1], b'hello')

    def test_an_inline_app_waiting_for_its_body_is_cancelled_and_its_thread_freed(self):
        self.client.send(FrameType.REQUEST, 0, 1, encode_environ({'REQUEST_METHOD': 'POST', 'PATH_INFO': '/echo', 'tsgi.request_id': 'r1'}))
        started = time.monotonic()
        self.client.frames_until(1, FrameType.CANCEL)
        self.assertLess(time.monotonic() - started, 5, 'cancelled by the 300 ms harakiri, not left waiting for the body')
        self.client.request(3, {})
        self.assertEqual(self.client.response(3)[1], b'hello')


if __name__ == '__main__':
    unittest.main()
