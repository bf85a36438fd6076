"""The pure-Python codec (tsgi_worker/pure_msgpack.py) against the C `msgpack`, as yamux checks
its fast codec against a reference: seeded random profile values give the same bytes from both
and decode to the same values. Without msgpack in this interpreter the comparisons are skipped
and the fallback is held to round trips and the sizes at every boundary."""

import math
import struct
import unittest

from support import rng

from tsgi_worker import pure_msgpack
from tsgi_worker.codec import profile_problem

try:
    import msgpack
except ImportError:
    msgpack = None

NEEDS_MSGPACK = unittest.skipIf(msgpack is None, 'this interpreter cannot import msgpack')
CASES = 2000
# Every size at which an encoding changes, and one either side.
SIZES = sorted({n + d for n in (0, 15, 16, 31, 32, 255, 256, 65535, 65536) for d in (-1, 0, 1) if n + d >= 0})
INTS = sorted({b + d for b in (0, 31, 32, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1) for d in (-1, 0, 1) if 0 <= b + d < 2**64}
              | {-b + d for b in (1, 32, 33, 128, 129, 32768, 32769, 2**31, 2**31 + 1, 2**63) for d in (-1, 0, 1) if -(2**63) <= -b + d < 0})
TEXT = 'az09 -_%/é€😀\u00ff\x00'


def boundaries():
    """Each kind of str, bin, array and map at every size where its header changes."""
    for size in SIZES:
        yield from ('x' * size, '€' * size, b'x' * size, [None] * size, {'%06d' % i: i for i in range(size)})


def random_value(random, depth=0):
    choice = random.randrange(10 if depth < 4 else 7)
    if choice == 0:
        return random.choice([None, True, False])
    if choice == 1:
        return random.choice(INTS) if random.random() < 0.5 else random.randrange(-(2**63), 2**64)
    if choice == 2:
        return random.choice([0.0, -0.0, 1.5, math.inf, -math.inf, 1e300, random.uniform(-1e6, 1e6)])
    if choice in (3, 4):
        size = random_size(random)
        return (''.join(random.choice(TEXT) for _ in range(min(size, 64))) * (size // 64 + 1))[:size]
    if choice == 5:
        size = random_size(random)
        return (random.getrandbits(8 * size) if size else 0).to_bytes(size, 'big')  # 3.8: no getrandbits(0)
    if choice == 6:
        return ''.join(random.choice('ABCD_') for _ in range(random.randrange(0, 40)))
    # Every size at which the header changes, 15..17 only near the top (17**4 leaves otherwise).
    count = random.choice([0, 1, 2, 3] if depth > 1 else [0, 1, 15, 16, 17])
    # (map16 and array16 and their 32-bit forms: BOUNDARIES, not here.)
    if choice == 7:
        return [random_value(random, depth + 1) for _ in range(count)]
    return {'k%d' % random.randrange(10**6): random_value(random, depth + 1) for _ in range(count)}


def random_size(random):
    return random.choice(SIZES) if random.random() < 0.2 else random.randrange(0, 40)


def decode(data):
    """The fallback as codec.unpack runs it: the profile check, then the values."""
    problem = profile_problem(data)
    if problem is not None:
        raise AssertionError('%s: %s' % (problem, data[:64].hex()))
    return pure_msgpack.decode(data)


class RoundTrip(unittest.TestCase):
    def test_random_values(self):
        random = rng(20)
        for case in range(CASES):
            value = random_value(random)
            with self.subTest(case=case):
                self.assertEqual(decode(pure_msgpack.pack(value)), value)

    def test_every_size_boundary(self):
        for value in boundaries():
            with self.subTest(type(value).__name__, size=len(value)):
                self.assertEqual(decode(pure_msgpack.pack(value)), value)

    def test_every_int_boundary(self):
        for value in INTS:
            with self.subTest(value):
                data = pure_msgpack.pack(value)
                self.assertEqual(decode(data), value)
                self.assertIs(type(decode(data)), int)

    def test_smallest_encodings(self):
        cases = [  # pairs: as dict keys, False and 0 would be one
            (None, 'c0'), (False, 'c2'), (True, 'c3'), (0, '00'), (127, '7f'), (128, 'cc80'), (-1, 'ff'), (-32, 'e0'), (-33, 'd0df'),
            (2**64 - 1, 'cfffffffffffffffff'), (-(2**63), 'd38000000000000000'), (1.5, 'cb3ff8000000000000'),
            ('', 'a0'), ('é', 'a2c3a9'), (b'', 'c400'), ((), '90'),
        ]
        for value, hex_ in cases:
            with self.subTest(value):
                self.assertEqual(pure_msgpack.pack(value).hex(), hex_)
        self.assertEqual(pure_msgpack.pack({'a': [1, 'b']}).hex(), '81a1619201a162')

    def test_decodes_any_valid_encoding(self):
        # SPEC.md §11: a decoder accepts a longer encoding of the same value.
        cases = {
            'de0001a16101': {'a': 1},  # map16 of one entry
            'dc000100': [0],  # array16
            'd90161': 'a',  # str8
            'cd0001': 1,  # uint16
            'd3ffffffffffffffff': -1,  # int64
            'ca3fc00000': 1.5,  # float32
            'c60000000161': b'a',  # bin32
        }
        for hex_, value in cases.items():
            with self.subTest(hex_):
                self.assertEqual(decode(bytes.fromhex(hex_)), value)

    def test_memoryview_and_bytearray_payloads(self):
        data = pure_msgpack.pack({'PATH_INFO': '/x', 'n': [1, 2]})
        for payload in (bytearray(data), memoryview(data), memoryview(b'??' + data)[2:]):
            self.assertEqual(pure_msgpack.decode(payload), {'PATH_INFO': '/x', 'n': [1, 2]})

    def test_refuses_what_is_outside_the_profile(self):
        for value, error in ((2**64, OverflowError), (-(2**63) - 1, OverflowError), ({1: 'a'}, TypeError), (object(), TypeError), ({'a'}, TypeError)):
            with self.subTest(repr(value)):
                with self.assertRaises(error):
                    pure_msgpack.pack(value)
        deep = []
        for _ in range(pure_msgpack.MAX_PACK_DEPTH + 1):
            deep = [deep]
        with self.assertRaises(ValueError):
            pure_msgpack.pack(deep)

    def test_bad_utf8_is_an_exception_codec_unpack_catches(self):
        with self.assertRaises(ValueError):  # UnicodeDecodeError: codec.unpack makes it a ProtocolError
            pure_msgpack.decode(bytes.fromhex('a2c328'))


@NEEDS_MSGPACK
class SameAsMsgpack(unittest.TestCase):
    def test_random_values_same_bytes_same_values(self):
        random = rng(21)
        for case in range(CASES):
            value = random_value(random)
            with self.subTest(case=case):
                data = msgpack.packb(value, use_bin_type=True)
                self.assertEqual(pure_msgpack.pack(value).hex(), data.hex())
                self.assertEqual(decode(data), msgpack.unpackb(data, raw=False, strict_map_key=True))

    def test_every_size_boundary_same_bytes(self):
        for value in boundaries():
            with self.subTest(type(value).__name__, size=len(value)):
                self.assertEqual(pure_msgpack.pack(value), msgpack.packb(value, use_bin_type=True))

    def test_subclasses_as_their_base(self):
        import enum

        class Code(enum.IntEnum):
            X = 7

        class Text(str):
            pass

        for value in (Code.X, Text('t'), {'k': (Code.X, Text('u'))}, bytearray(b'ab'), memoryview(b'cd')):
            with self.subTest(repr(value)):
                self.assertEqual(pure_msgpack.pack(value), msgpack.packb(value, use_bin_type=True))

    def test_random_floats_32_and_64(self):
        random = rng(22)
        for case in range(500):
            bits = random.getrandbits(32)
            data = b'\xca' + struct.pack('>I', bits)
            expected = msgpack.unpackb(data)
            got = decode(data)
            with self.subTest(bits=hex(bits)):
                self.assertTrue(got == expected or (math.isnan(got) and math.isnan(expected)))
            data = b'\xcb' + struct.pack('>Q', random.getrandbits(64))
            self.assertEqual(struct.pack('>d', decode(data)), struct.pack('>d', msgpack.unpackb(data)))

    def test_random_bytes_in_the_profile_decode_alike(self):
        random = rng(23)
        for case in range(CASES * 5):
            data = bytes(random.randrange(256) for _ in range(random.randrange(1, 24)))
            if profile_problem(data) is not None:
                continue
            try:
                expected = ('ok', msgpack.unpackb(data, raw=False, strict_map_key=True))
            except ValueError:  # a str that is not UTF-8
                expected = ('error',)
            try:
                got = ('ok', pure_msgpack.decode(data))
            except ValueError:
                got = ('error',)
            with self.subTest(data.hex()):
                if expected[0] == 'ok' and got[0] == 'ok':
                    self.assertEqual(msgpack.packb(got[1], use_bin_type=True), msgpack.packb(expected[1], use_bin_type=True))
                else:
                    self.assertEqual(got[0], expected[0])


if __name__ == '__main__':
    unittest.main()
