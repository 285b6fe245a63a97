"""FileCheck: a large object's file verified stretch by stretch while its parts arrive."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import zlib
from pathlib import Path

import pytest

from awspar.s3.filecheck import FileCheck
from awspar.s3.integrity import Expected, expected_from_headers

DATA = os.urandom(3 * 1024 * 1024 + 17)
PART = 1024 * 1024


def _expected(data: bytes) -> Expected:
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    return expected_from_headers({"Content-Length": str(len(data)), "ETag": '"abc-4"', "x-amz-checksum-crc32": crc})


def _check(path: Path, expected: Expected, stretches: list[tuple[int, int]]):
    check = FileCheck(str(path), expected)
    for start, end in stretches:
        check.add(start, end)
    return check.result()


def _parts(size: int) -> list[tuple[int, int]]:
    return [(start, min(start + PART, size)) for start in range(0, size, PART)]


def test_stretches_in_order_verify_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "object"
    path.write_bytes(DATA)
    result = _check(path, _expected(DATA), _parts(len(DATA)))
    assert result.ok and result.checked == ("length", "crc32"), result


def test_a_flipped_byte_or_a_missing_stretch_fails(tmp_path: Path) -> None:
    path = tmp_path / "object"
    bad = bytearray(DATA)
    bad[2 * PART + 5] ^= 1
    path.write_bytes(bad)
    flipped = _check(path, _expected(DATA), _parts(len(DATA)))
    assert not flipped.ok and "CRC32" in (flipped.error or "")
    path.write_bytes(DATA)
    missing = _check(path, _expected(DATA), _parts(len(DATA))[:-1])
    assert not missing.ok and f"expected {len(DATA)}" in (missing.error or "")


def test_md5_of_a_single_part_etag_is_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "object"
    path.write_bytes(DATA)
    expected = expected_from_headers({"Content-Length": str(len(DATA)), "ETag": f'"{hashlib.md5(DATA).hexdigest()}"'})
    result = _check(path, expected, _parts(len(DATA)))
    assert result.ok and result.checked == ("length", "md5")


def test_stop_lets_go_of_the_file_and_reports_nothing(tmp_path: Path) -> None:
    path = tmp_path / "object"
    path.write_bytes(DATA)
    check = FileCheck(str(path), _expected(DATA))
    for start, end in _parts(len(DATA)):
        check.add(start, end)
    check.stop()  # returns once no stretch is being hashed: the file can go
    path.unlink()  # what a failed download does next
    assert not [t for t in threading.enumerate() if t.name.startswith("awspar-filecheck")]
    failing = FileCheck(str(tmp_path / "gone"), _expected(DATA))
    failing.add(0, PART)  # the file does not exist: stopping the check does not raise it
    failing.stop()


def test_result_raises_what_reading_the_file_raised(tmp_path: Path) -> None:
    check = FileCheck(str(tmp_path / "gone"), _expected(DATA))
    check.add(0, PART)
    with pytest.raises(FileNotFoundError):
        check.result()


def test_length_only_checks_count_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "object"
    path.write_bytes(DATA)
    length_only = Expected(length=len(DATA))
    assert _check(path, length_only, _parts(len(DATA))).checked == ("length",)
    short = _check(path, Expected(length=len(DATA) + 1), _parts(len(DATA)))
    assert not short.ok and f"length {len(DATA)} bytes" in (short.error or "")
