"""The worker as a process, driven over its real socket and IPC channel like the master and
the proxy drive it: handshake, requests, flow control, errors, limits, stops."""

import os
import socket
import time
import unittest

from client import WorkerProcess
from tsgi_worker.decoder import FrameDecoder
from tsgi_worker.frame import MAX_FRAME_SIZE_LIMIT, FrameType, encode_frame
from tsgi_worker.messages import decode_cancel, decode_goaway, encode_cancel, encode_environ, encode_goaway, encode_hello


class Worker(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.worker = WorkerProcess('worker_apps:app', threads=4)
        cls.worker.message('ready')

    @classmethod
    def tearDownClass(cls):
        cls.worker.stop()

    def setUp(self):
        self.client = self.worker.connect()

    def tearDown(self):
        self.client.close()

    def test_hello_identity(self):
        hello = self.client.hello
        self.assertEqual(hello['role'], 'runner')
        self.assertEqual(hello['pid'], self.worker.proc.pid)
        self.assertEqual((hello['worker'], hello['workers'], hello['app']), (1, 1, 'worker_apps:app'))
        self.assertIs(hello['accepts'], True)

    def test_accept_then_response(self):
        self.client.request(1, {})
        self.client.expect(FrameType.ACCEPT, 1)
        head, body, cancel = self.client.response(1)
        self.assertEqual(head['status'], 200)
        self.assertEqual(body, b'hello')
        self.assertIsNone(cancel)

    def test_upload_beyond_the_window_needs_credit(self):
        data = os.urandom(1_000_000)
        self.client.send(FrameType.REQUEST, 0, 1, encode_environ({'REQUEST_METHOD': 'POST', 'PATH_INFO': '/echo', 'tsgi.request_id': 'up'}))
        sent = credit = 0
        while sent < len(data):
            size = min(65536, len(data) - sent, self.client.window + credit - sent)
            if size <= 0:  # the window is spent: only the app's reading brings credit
                frame = self.client.frame()
                if frame.type == FrameType.CREDIT and frame.stream == 1:
                    credit += int.from_bytes(frame.payload, 'big')
                continue
            self.client.send(FrameType.DATA, 0, 1, data[sent:sent + size])
            sent += size
        self.client.send(FrameType.DATA, 1, 1, b'')
        self.assertGreater(credit, 0, 'credit came back as the app read')
        head, body, _ = self.client.response(1)
        self.assertEqual(head['status'], 200)
        self.assertEqual(body, data)

    def test_download_within_credit(self):
        self.client.request(1, {'PATH_INFO': '/big', 'QUERY_STRING': '3000000'})
        head, body, _ = self.client.response(1)
        self.assertEqual(len(body), 3000000)

    def test_no_data_beyond_the_window(self):
        self.client.request(1, {'PATH_INFO': '/big', 'QUERY_STRING': '1000000'})
        received = self.client.window_of_data()
        self.assertEqual(received, self.client.window, 'one window, not a byte more')
        self.client.sock.settimeout(0.3)
        with self.assertRaises(OSError, msg='then nothing until credit comes'):
            self.client.frame()
        self.client.sock.settimeout(10)
        self.client.credit(1, 1000000)
        _, body, _ = self.client.response(1, credit=False)
        self.assertEqual(received + len(body), 1000000)

    def test_error_before_head_is_a_500(self):
        self.client.request(1, {'PATH_INFO': '/fail-before'})
        head, body, _ = self.client.response(1)
        self.assertEqual(head['status'], 500)
        self.assertEqual(body, b'Internal Server Error\n')

    def test_bad_status_is_a_500(self):
        self.client.request(1, {'PATH_INFO': '/bad-status'})
        head, _, _ = self.client.response(1)
        self.assertEqual(head['status'], 500)

    def test_head_over_the_proxys_frame_size_is_a_500(self):
        self.client.request(1, {'PATH_INFO': '/huge-head'})
        head, body, _ = self.client.response(1)
        self.assertEqual(head['status'], 500)
        self.assertEqual(body, b'Internal Server Error\n')

    def test_error_after_head_cancels_with_app_error(self):
        self.client.request(1, {'PATH_INFO': '/fail-after'})
        head, body, cancel = self.client.response(1)
        self.assertEqual(head['status'], 200)
        self.assertEqual(body, b'partial')
        self.assertEqual(cancel['code'], 8)

    def test_close_called_once(self):
        self.client.request(1, {'PATH_INFO': '/closes'})
        before = int(self.client.response(1)[1])
        self.client.request(3, {'PATH_INFO': '/counted'})
        self.assertEqual(self.client.response(3)[1], b'ab')
        # close() runs once the last bytes went out, so it may come just after the answer:
        # asked again until it shows (by the clock, so a busy machine is slower, not wrong).
        stream, closes, end = 5, before, time.monotonic() + 10
        while closes == before and time.monotonic() < end:
            self.client.request(stream, {'PATH_INFO': '/closes'})
            closes = int(self.client.response(stream)[1])
            stream += 2
            if closes == before:
                time.sleep(0.02)
        self.assertEqual(closes, before + 1)
        # A negative check: a window in which a second close() would show.
        time.sleep(0.2)
        self.client.request(stream, {'PATH_INFO': '/closes'})
        self.assertEqual(int(self.client.response(stream)[1]), before + 1, 'and never again')

    def test_ping_is_answered(self):
        self.client.send(FrameType.PING, 0, 0, b'12345678')
        frame = self.client.expect(FrameType.PING)
        self.assertEqual((frame.flags, bytes(frame.payload)), (1, b'12345678'))

    def test_threads_overlap(self):
        for stream in (1, 3, 5, 7):
            self.client.request(stream, {'PATH_INFO': '/sleep', 'QUERY_STRING': '1'})
        for stream in (1, 3, 5, 7):
            self.assertEqual(self.client.response(stream)[1], b'slept')
        self.client.request(9, {'PATH_INFO': '/peak'})
        self.assertEqual(self.client.response(9)[1], b'4', 'four requests in the app at once on four threads')

    def test_stream_id_must_increase(self):
        self.client.request(5, {})
        self.client.response(5)
        self.client.request(3, {})
        frame = self.client.frame()
        while frame.type != FrameType.GOAWAY:
            frame = self.client.frame()
        self.assertEqual(decode_goaway(frame.payload)['code'], 1)
        self.assertIsNone(self.client.frame(), 'then the connection closes')

    def test_too_many_environ_keys(self):
        self.client.request(1, {'K%d' % i: 'v' for i in range(600)})
        frame = self.client.expect(FrameType.CANCEL, 1)
        self.assertEqual(decode_cancel(frame.payload, 1)['code'], 10)

    def test_frame_over_max_size(self):
        self.client.sock.sendall(b'\x00\x01\x00\x01\x04\x00\x00\x00\x00\x01')
        frame = self.client.expect(FrameType.GOAWAY)
        self.assertEqual(decode_goaway(frame.payload)['code'], 4)


    def test_cancel_releases_an_app_blocked_on_the_body(self):
        self.client.send(FrameType.REQUEST, 0, 1, encode_environ({'REQUEST_METHOD': 'POST', 'PATH_INFO': '/echo', 'tsgi.request_id': 'gone'}))
        self.client.expect(FrameType.ACCEPT, 1)
        self.client.send(FrameType.DATA, 0, 1, b'part of a body')
        self.client.send(FrameType.CANCEL, 0, 1, encode_cancel(7, 'client left'))
        self.client.send(FrameType.DATA, 0, 1, b'crossed the cancel: ignored')
        for stream in (3, 5, 7, 9):  # every thread is free again
            self.client.request(stream, {'PATH_INFO': '/sleep', 'QUERY_STRING': '0.1'})
        for stream in (3, 5, 7, 9):
            self.assertEqual(self.client.response(stream)[1], b'slept')
        self.assertFalse([l for l in self.worker.log_lines if l.get('reqId') == 'gone'], 'a cancelled request is not an app error')


class Limits(unittest.TestCase):
    def test_max_streams_refuses_before_accept(self):
        worker = WorkerProcess('worker_apps:app', extra={'maxStreams': 1})
        try:
            worker.message('ready')
            client = worker.connect()
            self.assertEqual(client.hello['maxStreams'], 1)
            client.request(1, {'PATH_INFO': '/sleep', 'QUERY_STRING': '0.3'})
            client.request(3, {})
            refused = client.frame()
            while refused.stream != 3:  # ACCEPT(1) comes from the app thread, in any order
                refused = client.frame()
            self.assertEqual(refused.type, FrameType.CANCEL)
            self.assertEqual(decode_cancel(refused.payload, 3)['code'], 6)
            self.assertEqual(client.response(1)[1], b'slept')
            client.close()
        finally:
            worker.stop()

    def test_recycle_past_max_requests(self):
        worker = WorkerProcess('worker_apps:app', extra={'maxRequests': 2})
        try:
            worker.message('ready')
            client = worker.connect()
            for stream in (1, 3):
                client.request(stream, {})
                client.response(stream)
            self.assertEqual(worker.message('recycle')['reason'], 'served 2 requests')
            client.close()
        finally:
            worker.stop()

    def test_queued_streams_wait_unaccepted(self):
        worker = WorkerProcess('worker_apps:app', threads=1)
        try:
            worker.message('ready')
            client = worker.connect()
            client.request(1, {'PATH_INFO': '/sleep', 'QUERY_STRING': '0.5'})
            client.request(3, {})
            self.assertEqual(client.expect(FrameType.ACCEPT).stream, 1)
            client.send(FrameType.CANCEL, 0, 3, encode_cancel(7, 'sent elsewhere'))
            head, body, _ = client.response(1)
            client.request(5, {})
            frames = [(type_, stream) for type_, stream, _, _ in client.frames_until(5, FrameType.DATA)]
            self.assertNotIn((FrameType.ACCEPT, 3), frames, 'the queued stream never started')
            client.close()
        finally:
            worker.stop()


class SharedSocket(unittest.TestCase):
    def test_connections_reach_every_worker(self):
        first = WorkerProcess('worker_apps:app', workers=2, index=1)
        second = WorkerProcess('worker_apps:app', workers=2, index=2, share=first)
        clients = []
        try:
            first.message('ready')
            second.message('ready')
            # As the proxy spreads: connections one after another, at most 3 per worker.
            for _ in range(6):
                clients.append(first.connect())
                if len({c.hello['pid'] for c in clients}) == 2:
                    break
            self.assertEqual({c.hello['pid'] for c in clients}, {first.proc.pid, second.proc.pid})
            self.assertEqual({c.hello['worker'] for c in clients}, {1, 2})
        finally:
            for client in clients:
                client.close()
            second.stop()
            first.stop()


class Boot(unittest.TestCase):
    def boot_failure(self, app):
        worker = WorkerProcess(app)
        try:
            message = worker.message('boot-failed')
            self.assertEqual(worker.proc.wait(10), 3)
            return message['message']
        finally:
            worker.stop()

    def test_interpreter_without_msgpack(self):
        # -S: no site-packages, so no msgpack: the worker boots on the pure-Python codec, says
        # so once, and serves.
        worker = WorkerProcess('worker_apps:app', python_args=('-S',))
        try:
            worker.message('ready')
            client = worker.connect()
            try:
                client.request(1, {})
                head, body, cancel = client.response(1)
                self.assertEqual((head['status'], body, cancel), (200, b'hello', None))
            finally:
                client.close()
            # Logged before `ready`; the reader thread may still be on its way to it.
            end = time.monotonic() + 10
            while not (codec := [line for line in list(worker.log_lines) if line['msg'] == 'MessagePack codec']) and time.monotonic() < end:
                time.sleep(0.01)
            self.assertEqual([line['codec'] for line in codec], ['pure-python'])
            self.assertEqual(codec[0]['level'], 30, 'the fallback is worth an info line')
        finally:
            worker.stop()

    def test_missing_module(self):
        self.assertIn("'no_such_module'", self.boot_failure('no_such_module:app'))

    def test_not_callable(self):
        self.assertIn('not callable: found int', self.boot_failure('worker_apps:not_callable'))

    def test_missing_attribute(self):
        self.assertIn("no attribute 'nope'", self.boot_failure('worker_apps:nope'))


MAX_STREAM_ID = 0xFFFFFFFF
REFUSED_STREAM = 6


def until(client, wanted):
    """Frames until one satisfies `wanted` (that one last); the app threads' frames interleave."""
    frames = []
    while True:
        frame = client.frame()
        assert frame is not None, 'connection closed; got %r' % frames
        frames.append(frame)
        if wanted(frame):
            return frames


def goaway(frame):
    return frame.type == FrameType.GOAWAY


class Drain(unittest.TestCase):
    """A drain takes two steps (SPEC.md section 4, Goaway): GOAWAY(2^32-1) and a PING; REQUESTs
    that arrive meanwhile are served; the PING's answer (or 2 s) brings the final GOAWAY."""

    def setUp(self):
        self.worker = WorkerProcess('worker_apps:app', threads=2)
        self.worker.message('ready')

    def tearDown(self):
        self.worker.stop()

    def first_step(self, client):
        frames = until(client, goaway)
        self.assertEqual(decode_goaway(frames[-1].payload)['lastStream'], MAX_STREAM_ID, 'no stream refused yet')
        self.assertEqual(decode_goaway(frames[-1].payload)['code'], 0)
        ping = client.frame()
        self.assertEqual((ping.type, ping.flags, len(ping.payload)), (FrameType.PING, 0, 8), 'the fence follows the GOAWAY')
        return frames[:-1], ping

    def test_drain_answered_fence_then_refuses(self):
        client = self.worker.connect()
        client.request(1, {'PATH_INFO': '/sleep', 'QUERY_STRING': '0.5'})
        client.expect(FrameType.ACCEPT, 1)
        self.worker.send({'t': 'drain'})
        _, ping = self.first_step(client)
        # A REQUEST the proxy sent before it read the GOAWAY: served, not refused.
        client.request(3, {'REQUEST_METHOD': 'POST', 'PATH_INFO': '/echo'}, body=b'on its way')
        client.send(FrameType.PING, 1, 0, ping.payload)
        frames = until(client, goaway)
        self.assertEqual(decode_goaway(frames[-1].payload)['lastStream'], 3, 'the final GOAWAY names the last stream')
        client.pending[:0] = frames[:-1]
        head, body, cancel = client.response(3)
        self.assertEqual((head['status'], body), (200, b'on its way'), 'served')
        self.assertNotEqual(cancel and cancel['code'], REFUSED_STREAM)
        client.request(5, {})
        self.assertEqual(client.response(1)[1], b'slept')
        refused = until(client, lambda f: f.stream == 5)[-1]
        self.assertEqual(refused.type, FrameType.CANCEL)
        self.assertEqual(decode_cancel(refused.payload, 5)['code'], REFUSED_STREAM, 'REFUSED_STREAM: safe to retry elsewhere')
        self.assertIsNone(client.frame(), 'the worker closes the idle connection')
        client.close()
        self.assertEqual(self.worker.proc.wait(10), 0)

    def test_drain_unanswered_fence_ends_after_two_seconds(self):
        client = self.worker.connect()
        self.worker.send({'t': 'drain'})
        started = time.monotonic()
        self.first_step(client)
        client.request(1, {'PATH_INFO': '/sleep', 'QUERY_STRING': '0.2'})
        self.assertEqual(client.response(1)[1], b'slept', 'served while the fence waits')
        frames = until(client, goaway)
        waited = time.monotonic() - started
        self.assertEqual(decode_goaway(frames[-1].payload)['lastStream'], 1)
        self.assertGreater(waited, 1.5, 'the final GOAWAY waited for the fence')
        client.request(3, {})
        refused = client.expect(FrameType.CANCEL, 3)
        self.assertEqual(decode_cancel(refused.payload, 3)['code'], REFUSED_STREAM)
        self.assertIsNone(client.frame())
        client.close()
        self.assertEqual(self.worker.proc.wait(10), 0)

    def test_goaway_from_the_proxy_drains_in_one_step(self):
        client = self.worker.connect()
        client.request(1, {})
        client.response(1)
        client.send(FrameType.GOAWAY, 0, 0, encode_goaway(MAX_STREAM_ID, 0, 'proxy stops'))
        frames = until(client, goaway)
        self.assertEqual(decode_goaway(frames[-1].payload)['lastStream'], 1)
        client.request(3, {})
        refused = client.frame()
        self.assertEqual((refused.type, refused.stream), (FrameType.CANCEL, 3), 'no PING: the proxy already stopped')
        self.assertEqual(decode_cancel(refused.payload, 3)['code'], REFUSED_STREAM)
        client.close()

    def test_drain_before_the_handshake_says_hello_first(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(self.worker.path)
        try:
            # One accept thread, in order: once a later connection has its HELLO, this one is
            # accepted (and waits for our HELLO).
            later = self.worker.connect()
            self.worker.send({'t': 'drain'})
            self.first_step(later)
            later.close()
            time.sleep(0.3)
            decoder = FrameDecoder(MAX_FRAME_SIZE_LIMIT)
            sock.sendall(encode_frame(FrameType.HELLO, 0, 0, encode_hello({'version': 1, 'role': 'proxy', 'maxFrameSize': 65536, 'initialWindow': 65536})))
            frames = []
            while len(frames) < 3:
                data = sock.recv(65536)
                self.assertTrue(data, 'closed after %r' % frames)
                frames.extend(decoder.push(data))
            self.assertEqual([f.type for f in frames[:3]], [FrameType.HELLO, FrameType.GOAWAY, FrameType.PING])
            self.assertEqual(decode_goaway(frames[1].payload)['lastStream'], MAX_STREAM_ID)
        finally:
            sock.close()

class Stops(unittest.TestCase):
    def test_quit_cuts_in_flight_and_exits_5(self):
        worker = WorkerProcess('worker_apps:app')
        try:
            worker.message('ready')
            client = worker.connect()
            client.request(1, {'PATH_INFO': '/sleep', 'QUERY_STRING': '0.3'})
            client.expect(FrameType.ACCEPT, 1)
            worker.send({'t': 'quit'})
            self.assertEqual(worker.proc.wait(10), 5)
            client.close()
        finally:
            worker.stop()

    def test_master_gone_means_quit(self):
        worker = WorkerProcess('worker_apps:app')
        try:
            worker.message('ready')
            worker.ipc.close()
            self.assertEqual(worker.proc.wait(10), 0)
        finally:
            worker.stop()

    def test_beats_and_harakiri(self):
        worker = WorkerProcess('worker_apps:app', extra={'harakiriMs': 300})
        try:
            worker.message('ready')
            beat = worker.message('beat')
            self.assertEqual(set(beat['counters']), {'requests', 'inFlight', 'exceptions', 'harakiri', 'rss', 'avgLatencyMs'})
            self.assertGreater(beat['counters']['rss'], 0)
            client = worker.connect()
            client.request(1, {'PATH_INFO': '/sleep', 'QUERY_STRING': '5'})
            client.expect(FrameType.ACCEPT, 1)
            flying = []
            while not flying:
                flying = worker.message('beat')['inFlight']
            self.assertEqual({key: flying[0][key] for key in ('reqId', 'method', 'path')}, {'reqId': 'r1', 'method': 'GET', 'path': '/sleep'})
            self.assertGreater(flying[0]['startedAt'], 1.7e12)
            frame = client.expect(FrameType.CANCEL, 1)
            self.assertEqual(decode_cancel(frame.payload, 1)['code'], 9)
            report = worker.message('harakiri')
            self.assertEqual([r['reqId'] for r in report['requests']], ['r1'])
            client.close()
        finally:
            worker.stop()


if __name__ == '__main__':
    unittest.main()
