"""The master's channel (fd 3, Node's child_process 'ipc' with JSON serialization): one JSON
value per line both ways. Unknown messages (Node's own, with a "cmd" key) are ignored."""

import json
import socket
import threading

# A line longer than this from the master is not one of our messages: it is dropped.
MAX_LINE = 1024 * 1024


class MasterChannel:
    def __init__(self, fd):
        self._sock = socket.socket(fileno=fd)
        self._sock.setblocking(True)
        self._lock = threading.Lock()
        self._gone = False

    def send(self, message):
        data = (json.dumps(message, separators=(',', ':')) + '\n').encode()
        with self._lock:
            if self._gone:
                return
            try:
                self._sock.sendall(data)
            except OSError:
                self._gone = True

    def listen(self, on_message, on_eof):
        """Reads messages on a daemon thread; `on_eof` when the master is gone."""
        threading.Thread(target=self._read, args=(on_message, on_eof), name='tsgi-ipc', daemon=True).start()

    def _read(self, on_message, on_eof):
        buffer = b''
        skipping = False
        try:
            while True:
                data = self._sock.recv(65536)
                if not data:
                    break
                buffer += data
                while True:
                    newline = buffer.find(b'\n')
                    if newline < 0:
                        break
                    line, buffer = buffer[:newline], buffer[newline + 1:]
                    if skipping:
                        skipping = False
                        continue
                    self._dispatch(line, on_message)
                if len(buffer) > MAX_LINE:
                    buffer = b''
                    skipping = True
        except OSError:
            pass
        with self._lock:
            self._gone = True
        on_eof()

    @staticmethod
    def _dispatch(line, on_message):
        try:
            message = json.loads(line)
        except ValueError:
            return
        if isinstance(message, dict) and isinstance(message.get('t'), str):
            on_message(message)
