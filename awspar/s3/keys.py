"""Where the keys to fetch come from: a list, lines of a file (or stdin), or a prefix listing.

A prefix is listed page by page (ListObjectsV2, signed by the signer, sent by the same engine as
the downloads, parsed by :mod:`awspar.parsing`, which decodes URL-encoded keys as boto3 does) by a
task that runs a few pages ahead of the consumer. The consumer gets keys as each page arrives, so
the downloads start after the first page instead of after the whole listing, and memory stays
bounded by the few pages queued, however large the bucket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import asyncio

__all__ = ["FetchPage", "ObjectRef", "alist_pages", "keys_from_lines", "list_pages"]

#: ``await fetch_page(continuation_token)`` -> one parsed ListObjectsV2 page.
FetchPage = Callable[[Any], Awaitable[dict[str, Any]]]
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


async def alist_pages(fetch_page: FetchPage, *, pages_ahead: int = _PAGES_AHEAD) -> AsyncIterator[list[ObjectRef]]:
    """Pages of :class:`ObjectRef` from ListObjectsV2, fetched ahead of the consumer.

    ``fetch_page(continuation_token)`` returns one parsed ListObjectsV2 page (the dict boto3
    returns; ``None`` asks for the first page). A background task runs up to ``pages_ahead``
    pages ahead, so the next page is usually in hand when the consumer wants it; its errors are
    raised to the consumer. Closing the iterator early stops the listing.
    """
    import asyncio  # lazily: reading key files needs no event loop

    pages: asyncio.Queue[Any] = asyncio.Queue(maxsize=pages_ahead)

    async def produce() -> None:
        token: str | None = None
        try:
            while True:
                page = await fetch_page(token)
                await pages.put(_page_refs(page))
                token = page.get("NextContinuationToken")
                if not page.get("IsTruncated") or not token:
                    break
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, raised there
            await pages.put(exc)
            return
        await pages.put(_DONE)

    producer = asyncio.ensure_future(produce())
    try:
        while (item := await pages.get()) is not _DONE:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)


def list_pages(fetch_page: Callable[[Any], dict[str, Any]]) -> Iterator[list[ObjectRef]]:
    """Sync twin of :func:`alist_pages`: each page fetched when the previous one is used up."""
    token: str | None = None
    while True:
        page = fetch_page(token)
        yield _page_refs(page)
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return


def _page_refs(page: dict[str, Any]) -> list[ObjectRef]:
    return [ObjectRef(o["Key"], o.get("Size"), (o.get("ETag") or "").strip('"') or None)
            for o in page.get("Contents", ())]
