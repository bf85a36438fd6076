"""The decoder and payload decoders under seeded random input: whatever the bytes, the only
exception that escapes is ProtocolError (bounded cases; the seed is in support.py)."""

import unittest

from support import rng, vectors

from tsgi_worker import messages
from tsgi_worker.codec import profile_problem, unpack
from tsgi_worker.decoder import FrameDecoder
from tsgi_worker.errors import ProtocolError

CASES = 3000
SEEDS = [bytes.fromhex(v['hex']) for v in vectors('frames.json')]
PAYLOADS = [bytes.fromhex(f['payload']) for v in vectors('frames.json') for f in v['frames'] if 'value' in f]


def mutate(random, data):
    data = bytearray(data)
    for _ in range(random.randrange(1, 6)):
        choice = random.randrange(4)
        if choice == 0 and data:
            data[random.randrange(len(data))] = random.randrange(256)
        elif choice == 1:
            data.insert(random.randrange(len(data) + 1), random.randrange(256))
        elif choice == 2 and data:
            del data[random.randrange(len(data))]
        else:
            cut = random.randrange(len(data) + 1)
            data = data[:cut]
    return bytes(data)


class Fuzz(unittest.TestCase):
    def test_frame_decoder(self):
        random = rng(2)
        for case in range(CASES):
            data = mutate(random, random.choice(SEEDS))
            decoder = FrameDecoder(random.choice([16384, 65536]))
            try:
                at = 0
                while at < len(data):
                    step = random.randrange(1, 40)
                    decoder.push(data[at:at + step])
                    at += step
            except ProtocolError:
                pass

    def test_payload_decoders(self):
        random = rng(3)
        decoders = [
            lambda p: messages.decode_hello(p),
            lambda p: messages.decode_environ(p, 1),
            lambda p: messages.decode_response_head(p, 1),
            lambda p: messages.decode_cancel(p, 1),
            lambda p: messages.decode_goaway(p),
        ]
        for case in range(CASES):
            payload = mutate(random, random.choice(PAYLOADS))
            for decode in decoders:
                try:
                    decode(payload)
                except ProtocolError:
                    pass

    def test_random_bytes_through_the_profile(self):
        random = rng(4)
        for case in range(CASES):
            data = bytes(random.randrange(256) for _ in range(random.randrange(0, 24)))
            try:
                value = unpack(data, 'fuzz')
            except ProtocolError:
                continue
            self.assertIsNone(profile_problem(data), 'only profile values decode: %s' % data.hex())
            self.assertNotIsInstance(value, BaseException)


class Profile(unittest.TestCase):
    def test_outside_the_profile(self):
        cases = {
            'c1': 'byte 0xc1',
            'd40100': 'byte 0xd4',  # fixext 1
            '81 01 01'.replace(' ', ''): 'map key is not a str',
            'a3 61 62'.replace(' ', ''): 'unexpected end',
            'c0c0': '1 bytes after the value',
            'dc0001': 'unexpected end',
        }
        for hex_, problem in cases.items():
            with self.subTest(hex_):
                self.assertIn(problem, profile_problem(bytes.fromhex(hex_)))

    def test_invalid_utf8_str_is_a_protocol_error(self):
        with self.assertRaises(ProtocolError):
            unpack(bytes.fromhex('a2c328'), 'test')

    def test_nesting_is_bounded_without_recursion(self):
        # 32 levels are the limit (as protocol/codec.ts); 100 000 are refused without recursing.
        self.assertIsNone(profile_problem(b'\x91' * 32 + b'\xc0'))
        self.assertIn('nested deeper than 32', profile_problem(b'\x91' * 33 + b'\xc0'))
        self.assertIn('nested deeper than 32', profile_problem(b'\x91' * 100000 + b'\xc0'))


if __name__ == '__main__':
    unittest.main()
