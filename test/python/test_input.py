"""wsgi.input: reads end at the body's end whatever the DATA boundaries, block until bytes
arrive, return credit only for what the app took, and fail once the stream is cancelled."""

import threading
import time
import unittest

import support  # noqa: F401  (puts the package on sys.path)

from tsgi_worker.input import ClientDisconnected, EmptyInput, WsgiInput


def make(chunks, end=True):
    taken = []
    body = WsgiInput(taken.append)
    for chunk in chunks:
        body.deliver(memoryview(chunk))
    if end:
        body.finish()
    return body, taken


# The same body cut at different places: every reader must see the same bytes.
BODY = b'first line\nsecond\n\nlast without newline'
SPLITS = [[BODY], [BODY[:1], BODY[1:]], [BODY[i:i + 3] for i in range(0, len(BODY), 3)], [bytes([b]) for b in BODY]]


class Reads(unittest.TestCase):
    def test_read_all(self):
        for chunks in SPLITS:
            body, taken = make(chunks)
            self.assertEqual(body.read(), BODY)
            self.assertEqual(body.read(), b'')
            self.assertEqual(sum(taken), len(BODY), 'every byte read is credited')

    def test_read_minus_one_and_none(self):
        self.assertEqual(make(SPLITS[2])[0].read(-1), BODY)
        self.assertEqual(make(SPLITS[2])[0].read(None), BODY)

    def test_read_n_returns_n_until_the_end(self):
        for chunks in SPLITS:
            body, _ = make(chunks)
            pieces = []
            while True:
                piece = body.read(7)
                if not piece:
                    break
                pieces.append(piece)
            self.assertEqual(b''.join(pieces), BODY)
            self.assertTrue(all(len(p) == 7 for p in pieces[:-1]), [len(p) for p in pieces])

    def test_read_zero(self):
        body, taken = make([b'abc'])
        self.assertEqual(body.read(0), b'')
        self.assertEqual(taken, [])

    def test_readline(self):
        for chunks in SPLITS:
            body, _ = make(chunks)
            self.assertEqual([body.readline() for _ in range(5)], [b'first line\n', b'second\n', b'\n', b'last without newline', b''])

    def test_readline_limit(self):
        for chunks in SPLITS:
            body, _ = make(chunks)
            self.assertEqual(body.readline(4), b'firs')
            self.assertEqual(body.readline(100), b't line\n')
            self.assertEqual(body.readline(0), b'')
            self.assertEqual(body.readline(-1), b'second\n')

    def test_readlines_and_iteration(self):
        lines = [b'first line\n', b'second\n', b'\n', b'last without newline']
        for chunks in SPLITS:
            self.assertEqual(make(chunks)[0].readlines(), lines)
            self.assertEqual(list(make(chunks)[0]), lines)

    def test_readlines_hint(self):
        body, _ = make([BODY])
        self.assertEqual(body.readlines(5), [b'first line\n'])

    def test_empty_body(self):
        body, _ = make([])
        self.assertEqual((body.read(), body.read(5), body.readline(), body.readlines()), (b'', b'', b'', []))

    def test_mixed_reads(self):
        body, _ = make(SPLITS[2])
        self.assertEqual(body.read(3), b'fir')
        self.assertEqual(body.readline(), b'st line\n')
        self.assertEqual(body.read(4), b'seco')
        self.assertEqual(next(iter(body)), b'nd\n')
        self.assertEqual(body.read(), b'\nlast without newline')


class Blocking(unittest.TestCase):
    def test_read_waits_for_data_then_the_end(self):
        body, _ = make([], end=False)
        got = []
        reader = threading.Thread(target=lambda: got.append(body.read()))
        reader.start()
        body.deliver(b'ab')
        time.sleep(0.05)
        self.assertEqual(got, [], 'still waiting for the end')
        body.deliver(b'cd')
        body.finish()
        reader.join(10)
        self.assertEqual(got, [b'abcd'])

    def test_cancel_wakes_a_blocked_reader(self):
        body, _ = make([b'partial'], end=False)
        self.assertEqual(body.read(7), b'partial')
        errors = []

        def read():
            try:
                body.read(1)
            except ClientDisconnected as err:
                errors.append(err)

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(0.05)
        body.destroy('client left')
        reader.join(10)
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0], OSError)
        with self.assertRaises(ClientDisconnected):
            body.readline()

    def test_data_after_cancel_is_dropped(self):
        body, taken = make([], end=False)
        body.destroy()
        body.deliver(b'late')
        with self.assertRaises(ClientDisconnected):
            body.read()
        self.assertEqual(taken, [])


class Empty(unittest.TestCase):
    """A request without a body reads as WsgiInput(ended=True) does."""

    def test_reads_end_at_once(self):
        for body in (EmptyInput(), WsgiInput(lambda count: None, ended=True)):
            self.assertEqual((body.read(), body.read(5), body.readline(), body.readlines(), list(body)), (b'', b'', b'', [], []))

    def test_reads_fail_once_cancelled(self):
        for body in (EmptyInput(), WsgiInput(lambda count: None, ended=True)):
            body.destroy('gone')
            for read in (body.read, body.readline, body.readlines, lambda: next(body)):
                with self.assertRaises(ClientDisconnected):
                    read()


if __name__ == '__main__':
    unittest.main()
