"""Where the keys to fetch come from: a list, lines of a file (or stdin), or a prefix listing.

A prefix is listed with botocore's own ListObjectsV2 paginator (it handles continuation tokens
and URL-encoded keys) on a background thread that runs ahead of the consumer by a few pages.
The consumer gets keys as each page arrives, so the downloads start after the first page instead
of after the whole listing, and memory stays bounded by the few pages queued, however large the
bucket.
"""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["ObjectRef", "alist_pages", "keys_from_lines", "list_pages", "read_key_file"]

_DONE = object()
_PAGES_AHEAD = 4


@dataclass(frozen=True)
class ObjectRef:
    """A key to fetch; ``size`` and ``etag`` are known when it came from a listing."""

    key: str
    size: int | None = None
    etag: str | None = None


def keys_from_lines(lines: Iterable[str]) -> Iterator[str]:
    """One key per line, with only the line ending removed (keys may start or end with spaces);
    blank lines are skipped."""
    for line in lines:
        key = line.rstrip("\r\n") if line.endswith("\n") else line
        if key:
            yield key


def read_key_file(source: str) -> Iterator[str]:
    """Keys from the file ``source``, or from standard input when ``source`` is ``"-"``.

    Read lazily, so a list of millions of keys is never held in memory at once.
    """
    if source == "-":
        yield from keys_from_lines(sys.stdin)
        return
    with open(source, encoding="utf-8", newline="") as handle:
        yield from keys_from_lines(handle)


class _PageFeeder:
    """Runs the paginator on a daemon thread, handing pages over through a small bounded queue."""

    def __init__(self, client: Any, bucket: str, prefix: str, page_size: int) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=_PAGES_AHEAD)
        self._stop = threading.Event()
        self._args = (client, bucket, prefix, page_size)
        self._thread = threading.Thread(target=self._run, name="awspar-s3-list", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        client, bucket, prefix, page_size = self._args
        try:
            paginator = client.get_paginator("list_objects_v2")
            pages = paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size})
            for page in pages:
                refs = [ObjectRef(o["Key"], o.get("Size"), (o.get("ETag") or "").strip('"') or None)
                        for o in page.get("Contents", ())]
                if not self._put(refs):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._put(exc)
            return
        self._put(_DONE)

    def get(self) -> list[ObjectRef] | None:
        """The next page, ``None`` at the end; re-raises the listing's error."""
        item = self._queue.get()
        if item is _DONE:
            return None
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[no-any-return]

    def close(self) -> None:
        self._stop.set()


def list_pages(client: Any, bucket: str, prefix: str = "", *, page_size: int = 1000) -> Iterator[list[ObjectRef]]:
    """Pages of :class:`ObjectRef` under ``prefix``, listed ahead on a background thread.

    ``client`` is a botocore/boto3 S3 client. Closing the iterator early stops the listing.
    """
    feeder = _PageFeeder(client, bucket, prefix, page_size)
    try:
        while (page := feeder.get()) is not None:
            yield page
    finally:
        feeder.close()


async def alist_pages(client: Any, bucket: str, prefix: str = "", *,
                      page_size: int = 1000) -> AsyncIterator[list[ObjectRef]]:
    """:func:`list_pages` for asyncio: waits for each page without blocking the event loop."""
    feeder = _PageFeeder(client, bucket, prefix, page_size)
    try:
        while (page := await asyncio.to_thread(feeder.get)) is not None:
            yield page
    finally:
        feeder.close()
