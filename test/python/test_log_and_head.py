"""The pino-shaped log lines, wsgi.errors' line buffering, and start_response's head checks."""

import io
import json
import unittest

import support  # noqa: F401  (puts the package on sys.path)

from tsgi_worker.contract import parse_head
from tsgi_worker.log import ErrorsStream, Logger
from tsgi_worker.stream import ContractError


def lines(out):
    return [json.loads(line) for line in out.getvalue().splitlines()]


class Logs(unittest.TestCase):
    def test_pino_shape_and_level(self):
        out = io.StringIO()
        log = Logger('info', {'name': 'tsgi-runner', 'worker': 2}, out)
        log.debug('hidden')
        log.warn('shown', reqId='r1')
        [line] = lines(out)
        self.assertEqual({k: line[k] for k in ('level', 'name', 'worker', 'reqId', 'msg')}, {'level': 40, 'name': 'tsgi-runner', 'worker': 2, 'reqId': 'r1', 'msg': 'shown'})
        self.assertIsInstance(line['time'], int)
        self.assertIn('pid', line)
        self.assertIn('hostname', line)

    def test_errors_serialized_with_the_traceback(self):
        out = io.StringIO()
        log = Logger('info', {}, out)
        try:
            raise ValueError('bad')
        except ValueError as err:
            log.error('application error', err=err)
        err = lines(out)[0]['err']
        self.assertEqual((err['type'], err['message']), ('ValueError', 'bad'))
        self.assertIn('Traceback', err['stack'])


class WsgiErrors(unittest.TestCase):
    def test_line_buffered_one_entry_per_write(self):
        out = io.StringIO()
        errors = ErrorsStream(Logger('info', {}, out), 'r9')
        errors.write('partial ')
        self.assertEqual(out.getvalue(), '', 'waits for the newline')
        errors.write('line\nTraceback:\n  two\n')
        errors.writelines(['tail'])
        errors.flush()
        self.assertEqual([(l['msg'], l['reqId'], l['level']) for l in lines(out)], [('partial line\nTraceback:\n  two', 'r9', 50), ('tail', 'r9', 50)])

    def test_bounded_without_newline(self):
        out = io.StringIO()
        errors = ErrorsStream(Logger('info', {}, out), 'r')
        errors.write('x' * (ErrorsStream.LIMIT + 1))
        self.assertEqual(len(lines(out)), 1, 'flushed at the limit')

    def test_str_only(self):
        with self.assertRaises(TypeError):
            ErrorsStream(Logger('info', {}, io.StringIO()), 'r').write(b'bytes')


class Head(unittest.TestCase):
    def test_valid(self):
        self.assertEqual(parse_head('200 OK', [('Content-Type', 'text/plain'), ('X-Latin', 'caf\xe9')]), (200, 'OK', [['Content-Type', 'text/plain'], ['X-Latin', 'caf\xe9']]))
        self.assertEqual(parse_head('599 Whatever it is', []), (599, 'Whatever it is', []))
        self.assertEqual(parse_head('204', [])[:2], (204, ''))

    def test_invalid_status(self):
        for status in ['100 Continue', '199 x', '600 Nope', '20 OK', '200OK', 'OK', 200, b'200 OK', '200 OK\r\nX: y']:
            with self.subTest(status=status), self.assertRaises(ContractError):
                parse_head(status, [])

    def test_invalid_headers(self):
        cases = [
            ('not a list', ()),
            ('bytes name', [(b'X', 'v')]),
            ('bytes value', [('X', b'v')]),
            ('int value', [('X', 1)]),
            ('CR LF', [('X', 'a\r\nSet-Cookie: evil')]),
            ('NUL', [('X', 'a\x00')]),
            ('beyond latin-1', [('X', '\u20ac')]),
            ('space in name', [('X Y', 'v')]),
            ('colon in name', [('X:', 'v')]),
            ('triple', [('X', 'v', 'w')]),
        ]
        for name, headers in cases:
            with self.subTest(name), self.assertRaises(ContractError):
                parse_head('200 OK', headers)


if __name__ == '__main__':
    unittest.main()
