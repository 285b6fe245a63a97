"""Local AWS endpoints for offline tests, examples, the benchmark and ``awspar local``.

Nothing here talks to AWS: every server binds 127.0.0.1 on a free port and stops when asked
(each is a context manager). Needs the ``local`` extra (moto, aiohttp).
"""
