"""Key sources: lines of a file or stdin, and a prefix listed page by page against moto."""

from __future__ import annotations

import asyncio
import io
import sys

import pytest

from awspar._s3_keys import ObjectRef, alist_pages, keys_from_lines, list_pages, read_key_file

KEYS = [f"2026/11/{i:04d}.bin" for i in range(250)] + ["2026/12/other.bin", "2026/11/deep/er/x y+z%.txt"]


@pytest.fixture(scope="module")
def listed_bucket(moto_server):
    moto_server.create_bucket("awspar-keys", [(k, k.encode()) for k in KEYS])
    return moto_server


def test_lines_keep_spaces_and_skip_blanks() -> None:
    assert list(keys_from_lines([" a \n", "\n", "b\r\n", "c"])) == [" a ", "b", "c"]


def test_key_file_and_stdin(tmp_path, monkeypatch) -> None:
    path = tmp_path / "keys.txt"
    path.write_text("x/1\nünï cødé\n\n", encoding="utf-8")
    assert list(read_key_file(str(path))) == ["x/1", "ünï cødé"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("from/stdin\n"))
    assert list(read_key_file("-")) == ["from/stdin"]


def test_prefix_listing_arrives_in_pages_with_sizes(listed_bucket) -> None:
    client = listed_bucket.client("s3")
    pages = list(list_pages(client, "awspar-keys", "2026/11/", page_size=100))
    assert [len(p) for p in pages] == [100, 100, 51]
    refs = [r for page in pages for r in page]
    assert sorted(r.key for r in refs) == sorted(k for k in KEYS if k.startswith("2026/11/"))
    odd = next(r for r in refs if r.key == "2026/11/deep/er/x y+z%.txt")
    assert odd.size == len(odd.key.encode()) and odd.etag and len(odd.etag) == 32


def test_closing_early_stops_the_listing(listed_bucket) -> None:
    pages = list_pages(listed_bucket.client("s3"), "awspar-keys", "", page_size=10)
    first = next(pages)
    pages.close()
    assert len(first) == 10 and isinstance(first[0], ObjectRef)


def test_listing_error_reaches_the_consumer(listed_bucket) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="NoSuchBucket"):
        list(list_pages(listed_bucket.client("s3"), "awspar-no-such-bucket", ""))


def test_async_listing(listed_bucket) -> None:
    async def collect() -> list[str]:
        return [r.key async for page in alist_pages(listed_bucket.client("s3"), "awspar-keys", "2026/12/")
                for r in page]

    assert asyncio.run(collect()) == ["2026/12/other.bin"]
