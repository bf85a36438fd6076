"""ReceiveWindow of the Python worker (tsgi_worker/flow.py): credit in batches, and a window
that grows, as protocol/flow.ts's does, only while the consumer keeps up, never past max_size."""

import unittest

import support  # noqa: F401  (puts the package on sys.path)

from tsgi_worker.errors import ProtocolError
from tsgi_worker.flow import ReceiveWindow


class ReceiveWindowTest(unittest.TestCase):
    def test_credit_in_batches_without_growth(self):
        window = ReceiveWindow(1000, 500)
        window.receive(1000)
        self.assertEqual(window.consume(400), 0)
        self.assertEqual(window.consume(200), 600)
        with self.assertRaises(ProtocolError):
            window.receive(601)

    def test_grows_while_keeping_up_up_to_max_size(self):
        window = ReceiveWindow(1000, 500, 4000)
        outstanding = 1000  # what the sender may send now: all of it is sent and consumed at once
        widest = outstanding
        for _ in range(20):
            window.receive(outstanding)
            outstanding = window.consume(outstanding, True)
            widest = max(widest, outstanding)
        self.assertEqual(widest, 4000)
        with self.assertRaises(ProtocolError):
            window.receive(4001)

    def test_no_growth_for_a_consumer_behind(self):
        window = ReceiveWindow(1000, 500, 4000)
        window.receive(1000)
        self.assertEqual(window.consume(1000, False), 1000)
        self.assertEqual(window.remaining, 1000)


if __name__ == '__main__':
    unittest.main()
