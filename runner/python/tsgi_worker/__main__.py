"""Entry point: `python3 /path/runner/python/tsgi_worker/__main__.py` (as the master starts it)
or `python3 -m tsgi_worker` from runner/python."""

import os
import sys

# Run as a script, Python puts this file's folder first on sys.path, where modules named
# input, log or frame would shadow the app's own: the package's parent goes there instead,
# and the app's directory (the working directory) after it, as gunicorn does.
_here = os.path.dirname(os.path.abspath(__file__))
_root = os.path.dirname(_here)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or '.') not in (_here, _root)]
sys.path.insert(0, _root)
sys.path.insert(1, os.getcwd())

from tsgi_worker.main import run  # noqa: E402

if __name__ == '__main__':
    run()
