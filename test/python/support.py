"""Shared helpers for the Python worker's tests: the package on sys.path, the vectors, and a
seeded random source (as test/protocol/random.ts: failures reproduce from the seed)."""

import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE_ROOT = os.path.join(ROOT, 'runner', 'python')
if PACKAGE_ROOT not in sys.path:
    sys.path.insert(0, PACKAGE_ROOT)

# Fixed unless TSGI_SEED (or TSGI_TEST_SEED) names another: a failure replays from it.
SEED = int(os.environ.get('TSGI_SEED', os.environ.get('TSGI_TEST_SEED', '20261124')))


def vectors(name):
    with open(os.path.join(ROOT, 'protocol', 'vectors', name), encoding='utf8') as source:
        return json.load(source)['vectors']


def rng(salt=0):
    return random.Random(SEED + salt)
