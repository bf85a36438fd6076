"""tsgi's Python worker: hosts a WSGI (PEP 3333) application behind tsgi-proxy.

The wire protocol is protocol/SPEC.md; this package is a second, independent implementation
of it (the TypeScript runner is the first), checked against the same vectors.
"""
