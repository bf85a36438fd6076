"""JSON log lines on stdout in pino's shape, so the runner's logs read the same whatever
language the worker is written in: {"level":30,"time":...,"pid":...,"hostname":...,
"name":"tsgi-runner","worker":N,"msg":"..."}. One write per line under a lock, so lines from
threads never interleave."""

import json
import os
import socket
import sys
import threading
import time
import traceback

LEVELS = {'trace': 10, 'debug': 20, 'info': 30, 'warn': 40, 'error': 50, 'fatal': 60, 'silent': 100}


def serialize_error(err):
    """pino's err serializer: type, message and stack (here, the Python traceback)."""
    return {
        'type': type(err).__name__,
        'message': str(err),
        'stack': ''.join(traceback.format_exception(type(err), err, err.__traceback__)).rstrip(),
    }


class Logger:
    def __init__(self, level='info', bindings=None, out=None):
        self.threshold = LEVELS.get(level, 30)
        self._base = {'pid': os.getpid(), 'hostname': socket.gethostname()}
        self._base.update(bindings or {})
        self._out = out if out is not None else sys.stdout
        self._lock = threading.Lock()

    def enabled(self, level):
        return LEVELS[level] >= self.threshold

    def _log(self, level, fields, msg):
        number = LEVELS[level]
        if number < self.threshold:
            return
        line = {'level': number, 'time': int(time.time() * 1000)}
        line.update(self._base)
        for key, value in fields.items():
            line[key] = serialize_error(value) if isinstance(value, BaseException) else value
        line['msg'] = msg
        text = json.dumps(line, default=repr) + '\n'
        with self._lock:
            try:
                self._out.write(text)
                self._out.flush()
            except (OSError, ValueError):
                pass  # stdout gone (the master died): nothing better to do with a log line

    def debug(self, msg, **fields):
        self._log('debug', fields, msg)

    def info(self, msg, **fields):
        self._log('info', fields, msg)

    def warn(self, msg, **fields):
        self._log('warn', fields, msg)

    def error(self, msg, **fields):
        self._log('error', fields, msg)

    def fatal(self, msg, **fields):
        self._log('fatal', fields, msg)


class ErrorsStream:
    """`wsgi.errors`: text the app writes goes to the log as error entries tagged with the
    request id. Line-buffered: text waits for its newline (or flush, or the request's end),
    bounded so an app that never writes a newline cannot grow it without limit."""

    LIMIT = 64 * 1024

    def __init__(self, log, req_id):
        self._log = log
        self._req_id = req_id
        self._partial = ''

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError('wsgi.errors.write() takes a str, got %s' % type(text).__name__)
        self._partial += text
        # Everything up to the last newline is one entry: a traceback written at once
        # (Flask's logging does) stays one log line, not one per line of it.
        end = self._partial.rfind('\n')
        if end >= 0:
            self._emit(self._partial[:end])
            self._partial = self._partial[end + 1:]
        if len(self._partial) > self.LIMIT:
            self.flush()
        return len(text)

    def writelines(self, seq):
        for text in seq:
            self.write(text)

    def flush(self):
        if self._partial:
            self._emit(self._partial)
            self._partial = ''

    def _emit(self, line):
        text = line.rstrip()
        if text:
            self._log.error(text, reqId=self._req_id)
