"""Verify a large object's file while its parts are still arriving.

The parts of a large object land out of order, but :meth:`Engine.amap` hands them over in order,
so the file's complete prefix only grows. :class:`FileCheck` hashes each newly complete stretch
on a helper thread (hashlib and zlib release the GIL on large buffers) while the rest downloads:
once the last part lands, only that part is left to hash, instead of reading the whole file back.
The expectation (the ETag's MD5, or the object's own checksum from a ``HeadObject``) is awaited
first, so that lookup overlaps the download too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from awspar._s3_integrity import Expected, Verification, Verifier, feed_file

__all__ = ["FileCheck"]


class FileCheck:
    """Checks the file at ``path`` against ``expected`` (awaited on first use), stretch by stretch:
    :meth:`add` each complete ``[start, end)`` in file order, then await :meth:`result`; or
    :meth:`stop` it when the download fails."""

    def __init__(self, path: str, expected: Awaitable[Expected]) -> None:
        self._path = path
        self._stretches: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()
        self._hashing: asyncio.Future[None] | None = None  # the stretch on the helper thread
        self._task = asyncio.ensure_future(self._run(expected))

    def add(self, start: int, end: int) -> None:
        """Bytes ``[start, end)`` are on disk, and every byte before ``start`` was added already."""
        self._stretches.put_nowait((start, end))

    async def result(self) -> Verification:
        """The verification of everything added (call once, after the last :meth:`add`)."""
        self._stretches.put_nowait(None)
        return await self._task

    async def stop(self) -> None:
        """Abandon the check and wait for it to let go of the file (a stretch being hashed on
        the helper thread is finished first)."""
        if not self._task.done():
            self._task.cancel()
        await asyncio.wait({self._task})
        if self._hashing is not None:  # a thread cannot be cancelled: let it finish its stretch
            await asyncio.wait({self._hashing})
            if not self._hashing.cancelled():
                self._hashing.exception()
        if not self._task.cancelled():
            self._task.exception()  # retrieved: a failed check that is stopped is not reported

    async def _run(self, expected: Awaitable[Expected]) -> Verification:
        verifier = Verifier(await expected)
        while (stretch := await self._stretches.get()) is not None:
            self._hashing = asyncio.ensure_future(asyncio.to_thread(feed_file, verifier, self._path, *stretch))
            await asyncio.shield(self._hashing)
        return verifier.result()
