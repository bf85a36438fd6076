"""The Python worker's send buffer on Unix sockets (tsgi_worker/connection.py raise_send_buffer):
raised towards SEND_BUFFER as far as the kernel allows, and never made smaller than it was."""

import os
import socket
import unittest

import support  # noqa: F401  (puts the package on sys.path)

from tsgi_worker.connection import SEND_BUFFER, raise_send_buffer


def wmem_max():
    with open('/proc/sys/net/core/wmem_max') as f:
        return int(f.read())


@unittest.skipUnless(os.path.exists('/proc/sys/net/core/wmem_max'), "no wmem_max to know what the kernel grants (not Linux, or a container's namespace on an older kernel)")
class SendBufferTest(unittest.TestCase):
    def setUp(self):
        self.a, self.b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    def tearDown(self):
        self.a.close()
        self.b.close()

    def size(self):
        return self.a.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)

    def test_raised_to_what_the_kernel_grants(self):
        before = self.size()
        raise_send_buffer(self.a)
        granted = 2 * min(SEND_BUFFER, wmem_max())
        self.assertEqual(self.size(), max(before, granted))

    def test_a_larger_buffer_is_left_as_it_is(self):
        # More than the kernel would grant (as net.core.wmem_default set high gives every
        # socket): SO_SNDBUFFORCE passes wmem_max, for a process with CAP_NET_ADMIN.
        granted = 2 * min(SEND_BUFFER, wmem_max())
        try:
            self.a.setsockopt(socket.SOL_SOCKET, getattr(socket, 'SO_SNDBUFFORCE', 32), granted)
        except PermissionError:
            self.skipTest('SO_SNDBUFFORCE needs CAP_NET_ADMIN')
        large = self.size()
        self.assertGreater(large, granted)
        raise_send_buffer(self.a)
        self.assertEqual(self.size(), large, 'not shrunk to what the kernel would grant')

if __name__ == '__main__':
    unittest.main()
