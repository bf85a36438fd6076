"""The shared protocol vectors (protocol/vectors/*.json), as test/protocol/*.test.ts runs them:
every valid frame decodes (whatever the split) and re-encodes byte-exact, every invalid one is
refused with the expected code."""

import unittest

from support import rng, vectors

from tsgi_worker import contract, messages
from tsgi_worker.codec import pack, unpack
from tsgi_worker.decoder import FrameDecoder
from tsgi_worker.errors import ErrorCode, ProtocolError
from tsgi_worker.frame import MAX_FRAME_SIZE_LIMIT, FrameType, encode_frame

VALID = vectors('frames.json')
INVALID = vectors('invalid.json')
PAYLOADS = vectors('payloads-invalid.json')
MSGPACK_TYPES = {'HELLO', 'REQUEST', 'RESPONSE', 'CANCEL', 'GOAWAY'}


def type_code(name):
    return name if isinstance(name, int) else FrameType[name]


def expected(vector):
    return [(type_code(f['type']), f['flags'], f['stream'], f['payload']) for f in vector['frames']]


def decode_all(pieces, max_frame_size=MAX_FRAME_SIZE_LIMIT):
    decoder = FrameDecoder(max_frame_size)
    frames = []
    for piece in pieces:
        frames.extend(decoder.push(piece))
    assert decoder.idle
    return [(f.type, f.flags, f.stream, bytes(f.payload).hex()) for f in frames]


class ValidVectors(unittest.TestCase):
    def test_decode_whole(self):
        for v in VALID:
            with self.subTest(v['name']):
                self.assertEqual(decode_all([bytes.fromhex(v['hex'])]), expected(v))

    def test_decode_every_split_point(self):
        for v in VALID:
            data = bytes.fromhex(v['hex'])
            for cut in range(len(data) + 1):
                with self.subTest(v['name'], cut=cut):
                    self.assertEqual(decode_all([data[:cut], data[cut:]]), expected(v))

    def test_decode_byte_by_byte(self):
        for v in VALID:
            data = bytes.fromhex(v['hex'])
            with self.subTest(v['name']):
                self.assertEqual(decode_all([data[i:i + 1] for i in range(len(data))]), expected(v))

    def test_decode_seeded_random_splits(self):
        random = rng(1)
        for v in VALID:
            data = bytes.fromhex(v['hex'])
            for _ in range(50):
                cuts = sorted(random.randrange(len(data) + 1) for _ in range(random.randrange(1, 6)))
                pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
                with self.subTest(v['name'], cuts=cuts):
                    self.assertEqual(decode_all(pieces), expected(v))

    def test_payload_values(self):
        for v in VALID:
            for f in v['frames']:
                if f['type'] not in MSGPACK_TYPES:
                    continue
                with self.subTest(v['name'], type=f['type']):
                    payload = bytes.fromhex(f['payload'])
                    self.assertEqual(unpack(payload, f['type']), f['value'])
                    if f.get('canonical') is not False:
                        self.assertEqual(pack(f['value']).hex(), f['payload'], 'the encoding tsgi produces')

    def test_frames_encode_byte_exact(self):
        for v in VALID:
            with self.subTest(v['name']):
                out = b''.join(
                    encode_frame(type_code(f['type']), f['flags'], f['stream'], bytes.fromhex(f['payload'])) for f in v['frames']
                )
                self.assertEqual(out.hex(), v['hex'])

    def test_typed_decoders_accept_the_valid_payloads(self):
        decoders = {
            'HELLO': lambda p, s: messages.decode_hello(p),
            'REQUEST': messages.decode_environ,
            'RESPONSE': messages.decode_response_head,
            'CANCEL': messages.decode_cancel,
            'GOAWAY': lambda p, s: messages.decode_goaway(p),
        }
        for v in VALID:
            for f in v['frames']:
                if f['type'] in decoders:
                    with self.subTest(v['name'], type=f['type']):
                        decoders[f['type']](bytes.fromhex(f['payload']), f['stream'] or 1)


class InvalidVectors(unittest.TestCase):
    def test_refused_with_the_code(self):
        for v in INVALID:
            with self.subTest(v['name']):
                with self.assertRaises(ProtocolError) as caught:
                    decode_all([bytes.fromhex(v['hex'])], v['maxFrameSize'])
                self.assertEqual(caught.exception.code, ErrorCode[v['error']])

    def test_refused_whatever_the_split(self):
        for v in INVALID:
            data = bytes.fromhex(v['hex'])
            for cut in range(len(data) + 1):
                with self.subTest(v['name'], cut=cut):
                    with self.assertRaises(ProtocolError) as caught:
                        decode_all([data[:cut], data[cut:]], v['maxFrameSize'])
                    self.assertEqual(caught.exception.code, ErrorCode[v['error']])

    def test_decoder_stays_failed(self):
        v = INVALID[0]
        decoder = FrameDecoder(v['maxFrameSize'])
        with self.assertRaises(ProtocolError):
            decoder.push(bytes.fromhex(v['hex']))
        with self.assertRaises(ProtocolError):
            decoder.push(bytes.fromhex(VALID[0]['hex']))


class InvalidPayloads(unittest.TestCase):
    def decode(self, v):
        payload = bytes.fromhex(v['payload'])
        stream = v.get('stream', 0)
        kind = v['decode']
        if kind == 'hello':
            return messages.decode_hello(payload)
        if kind == 'goaway':
            return messages.decode_goaway(payload)
        if kind == 'environ':
            return messages.decode_environ(payload, stream, v.get('maxKeys', messages.DEFAULT_MAX_ENVIRON_KEYS))
        if kind == 'responseHead':
            return messages.decode_response_head(payload, stream)
        if kind == 'cancel':
            return messages.decode_cancel(payload, stream)
        raise AssertionError('unknown decoder ' + kind)

    def test_refused_with_the_code_and_stream(self):
        for v in PAYLOADS:
            with self.subTest(v['name']):
                with self.assertRaises(ProtocolError) as caught:
                    self.decode(v)
                self.assertEqual(caught.exception.code, ErrorCode[v['error']])
                self.assertEqual(caught.exception.stream, v.get('stream', 0))


if __name__ == '__main__':
    unittest.main()


class HeadSyntaxVectors(unittest.TestCase):
    """protocol/vectors/head.json, as test/protocol/head.test.ts runs it: the worker's contract
    checks header names and values (and the reason) with the same rules as both TypeScript
    endpoints. (hopByHop is not checked here: the Python worker leaves hop-by-hop fields to the
    proxy, which refuses the head.)"""

    CHECKS = {'token': contract.TOKEN, 'fieldValue': contract.FIELD_VALUE}

    def test_cases(self):
        for vector in vectors('head.json'):
            check = self.CHECKS.get(vector['name'])
            if check is None:
                continue
            for text, want in vector['cases']:
                with self.subTest(rule=vector['name'], text=text):
                    self.assertEqual(bool(check.match(text)), want)
