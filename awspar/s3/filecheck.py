"""Verify a large object's file while its parts are still arriving.

The parts of a large object land out of order, but a run of the engine hands them over in input
order, so the file's complete prefix only grows. :class:`FileCheck` hashes each newly complete
stretch on a helper thread of its own (hashlib and zlib release the GIL on large buffers) while
the rest downloads: once the last part lands, only that part is left to hash, instead of reading
the whole file back. It uses threads only, so the same check serves a plan on the event loop
and one in a worker thread.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from awspar.s3.integrity import Expected, Verification, Verifier, feed_file

__all__ = ["FileCheck"]


class FileCheck:
    """Checks the file at ``path`` against ``expected``, stretch by stretch: :meth:`add` each
    complete ``[start, end)`` in file order, then :meth:`result` (blocking); or :meth:`stop` it
    when the download fails."""

    def __init__(self, path: str, expected: Expected) -> None:
        self._path = path
        self._verifier = Verifier(expected)
        self._hashing = ThreadPoolExecutor(1, thread_name_prefix="awspar-filecheck")
        self._stretches: list[Future[None]] = []

    def add(self, start: int, end: int) -> None:
        """Bytes ``[start, end)`` are on disk, and every byte before ``start`` was added already."""
        self._stretches.append(self._hashing.submit(feed_file, self._verifier, self._path, start, end))

    def result(self) -> Verification:
        """The verification of everything added (call once, after the last :meth:`add`); blocks."""
        self._hashing.shutdown(wait=True)
        for stretch in self._stretches:
            stretch.result()
        return self._verifier.result()

    def stop(self) -> None:
        """Abandon the check and let go of the file (a stretch being hashed is finished first)."""
        self._hashing.shutdown(wait=True, cancel_futures=True)
