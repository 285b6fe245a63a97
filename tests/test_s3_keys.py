"""Key sources: lines of a file or stdin, and the listing pager (pure parts, no sockets here;
listings against real servers are in test_s3_moto.py and test_s3_fetch.py)."""

from __future__ import annotations

import asyncio

import pytest

from awspar.s3.keys import ObjectRef, alist_pages, keys_from_lines


def test_lines_keep_spaces_and_skip_blanks() -> None:
    assert list(keys_from_lines([" a \n", "\n", "b\r\n", "c"])) == [" a ", "b", "c"]


def _pages(n_pages: int, per_page: int, fail_at: int | None = None):
    asked: list[str | None] = []

    async def fetch_page(token: str | None) -> dict:
        asked.append(token)
        page = 0 if token is None else int(token)
        if page == fail_at:
            raise RuntimeError("listing failed")
        contents = [{"Key": f"k{page}-{i}", "Size": i, "ETag": '"abc"'} for i in range(per_page)]
        last = page == n_pages - 1
        return {"Contents": contents, "IsTruncated": not last, **({} if last else {"NextContinuationToken": str(page + 1)})}

    return fetch_page, asked


def test_pages_follow_continuation_tokens() -> None:
    fetch_page, asked = _pages(3, 2)

    async def collect() -> list[list[ObjectRef]]:
        return [page async for page in alist_pages(fetch_page)]

    pages = asyncio.run(collect())
    assert asked == [None, "1", "2"]
    assert [[r.key for r in p] for p in pages] == [["k0-0", "k0-1"], ["k1-0", "k1-1"], ["k2-0", "k2-1"]]
    assert pages[0][1] == ObjectRef("k0-1", 1, "abc")


def test_listing_error_reaches_the_consumer_after_the_pages_before_it() -> None:
    fetch_page, _ = _pages(5, 1, fail_at=2)
    seen: list[str] = []

    async def collect() -> None:
        async for page in alist_pages(fetch_page):
            seen.extend(r.key for r in page)

    with pytest.raises(RuntimeError, match="listing failed"):
        asyncio.run(collect())
    assert seen == ["k0-0", "k1-0"]


def test_closing_early_stops_the_listing_ahead() -> None:
    fetch_page, asked = _pages(1000, 1)

    async def first_only() -> list[ObjectRef]:
        pages = alist_pages(fetch_page, pages_ahead=2)
        first = await pages.__anext__()
        await pages.aclose()
        await asyncio.sleep(0.01)
        return first

    assert [r.key for r in asyncio.run(first_only())] == ["k0-0"]
    assert len(asked) <= 5  # read ahead by a bounded number of pages, then stopped
