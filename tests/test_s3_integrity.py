"""Integrity checks: length, MD5 vs ETag, and the object's own checksums, incremental."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import zlib

import pytest

from awspar.s3.integrity import (
    Expected,
    Verifier,
    expected_from_headers,
    object_size,
    verify_bytes,
    verify_file,
)

DATA = b"the quick brown fox " * 5000


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _headers(**extra: str) -> dict[str, str]:
    return {"Content-Length": str(len(DATA)), "ETag": f'"{hashlib.md5(DATA).hexdigest()}"', **extra}


def test_plain_object_checks_length_and_md5() -> None:
    result = verify_bytes(DATA, expected_from_headers(_headers()))
    assert result.ok and result.checked == ("length", "md5") and result.content_verified


def test_one_flipped_byte_fails_md5() -> None:
    bad = bytearray(DATA)
    bad[1234] ^= 1
    result = verify_bytes(bad, expected_from_headers(_headers()))
    assert not result.ok
    assert "MD5" in (result.error or "")


def test_short_body_fails_length() -> None:
    result = verify_bytes(DATA[:-1], expected_from_headers(_headers()))
    assert not result.ok and "length" in (result.error or "")


def test_multipart_etag_is_not_md5_checked() -> None:
    exp = expected_from_headers(_headers(ETag='"0123456789abcdef0123456789abcdef-3"'))
    assert exp.md5_hex is None
    assert any("multipart" in note for note in exp.notes)
    assert verify_bytes(DATA, exp).checked == ("length",)


def test_kms_etag_is_not_md5_checked() -> None:
    exp = expected_from_headers(_headers(**{"x-amz-server-side-encryption": "aws:kms",
                                            "ETag": '"ffffffffffffffffffffffffffffffff"'}))
    assert exp.md5_hex is None
    assert verify_bytes(DATA, exp).ok


@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [
        ("crc32", zlib.crc32(DATA).to_bytes(4, "big")),
        ("sha1", hashlib.sha1(DATA).digest()),
        ("sha256", hashlib.sha256(DATA).digest()),
    ],
)
def test_object_checksum_is_verified(algorithm: str, digest: bytes) -> None:
    exp = expected_from_headers(_headers(**{f"x-amz-checksum-{algorithm}": _b64(digest)}))
    assert verify_bytes(DATA, exp).checked == ("length", "md5", algorithm)
    wrong = expected_from_headers(_headers(**{f"x-amz-checksum-{algorithm}": _b64(bytes(len(digest)))}))
    result = verify_bytes(DATA, wrong)
    assert not result.ok and algorithm.upper() in (result.error or "")


def test_crc32c_without_awscrt_is_noted_not_failed() -> None:
    from botocore.compat import HAS_CRT

    exp = expected_from_headers(_headers(**{"x-amz-checksum-crc32c": _b64(b"\0\0\0\0")}))
    if HAS_CRT:
        assert exp.checksum == ("crc32c", _b64(b"\0\0\0\0"))
        assert not verify_bytes(DATA, exp).ok
    else:
        assert exp.checksum is None
        assert any("needs awscrt" in note for note in exp.notes)
        assert verify_bytes(DATA, exp).ok


def test_composite_checksum_is_noted() -> None:
    exp = expected_from_headers(_headers(**{"x-amz-checksum-crc32": "AAAAAA==-4", "x-amz-checksum-type": "COMPOSITE"}))
    assert exp.checksum is None and any("composite" in note for note in exp.notes)


def test_ranged_response_gives_the_whole_size() -> None:
    assert object_size({"Content-Range": "bytes 0-99/12345", "Content-Length": "100"}) == 12345
    assert object_size({"content-length": "7"}) == 7


def test_incremental_equals_whole(tmp_path) -> None:
    exp = expected_from_headers(_headers(**{"x-amz-checksum-crc32": _b64(zlib.crc32(DATA).to_bytes(4, "big"))}))
    verifier = Verifier(exp)
    for i in range(0, len(DATA), 777):
        verifier.update(memoryview(DATA)[i:i + 777])
    assert verifier.result().ok
    path = tmp_path / "obj"
    path.write_bytes(DATA)
    assert verify_file(str(path), exp).checked == ("length", "md5", "crc32")
    path.write_bytes(DATA[:-1] + b"X")
    assert not verify_file(str(path), exp).ok


def test_nothing_expected_is_ok_but_not_content_verified() -> None:
    result = verify_bytes(DATA, Expected())
    assert result.ok and not result.content_verified


def test_crc32_goes_through_zlib_ng_when_installed_and_agrees_with_zlib(monkeypatch) -> None:
    from awspar.s3 import integrity as _s3_integrity

    pytest.importorskip("zlib_ng", reason="the fast-crc extra is not installed")  # it is, in dev
    assert _s3_integrity._checksum_class("crc32") is _s3_integrity.FastCrc32
    for body in (DATA, b"", b"\xff" * 4099, bytes(range(256)) * 3):
        fast = _s3_integrity.FastCrc32()
        for i in range(0, len(body), 1000):
            fast.update(memoryview(body)[i:i + 1000])
        assert fast.digest() == zlib.crc32(body).to_bytes(4, "big")
    monkeypatch.setattr(_s3_integrity, "_zlib_ng_crc32", lambda: None)  # an install without the extra
    assert _s3_integrity._checksum_class("crc32") is not _s3_integrity.FastCrc32
    exp = expected_from_headers(_headers(**{"x-amz-checksum-crc32": _b64(zlib.crc32(DATA).to_bytes(4, "big"))}))
    assert verify_bytes(DATA, exp).checked == ("length", "md5", "crc32")


def test_feed_file_reads_any_stretch_and_what_a_short_file_has(tmp_path) -> None:
    """Stretches that start off a mapping granule, cross 1 MiB chunks, or run past the end."""
    import mmap

    from awspar.s3.integrity import feed_file

    data = os.urandom(3 * (1 << 20) + 4097)
    path = tmp_path / "obj"
    path.write_bytes(data)
    granule = mmap.ALLOCATIONGRANULARITY
    cuts = [0, 1, granule - 1, granule + 3, (1 << 20) + 5, 2 * (1 << 20), len(data)]
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    verifier = Verifier(Expected(length=len(data), checksum=("crc32", crc)))
    for start, end in itertools.pairwise(cuts):
        feed_file(verifier, str(path), start, end)
    assert verifier.result().checked == ("length", "crc32")
    short = Verifier(Expected(length=len(data) + 10, checksum=("crc32", crc)))
    feed_file(short, str(path), 0, len(data) + 10)  # the file has fewer bytes than asked for
    feed_file(short, str(path), len(data) + 5, len(data) + 10)  # nothing at all there
    result = short.result()
    assert not result.ok and f"length {len(data)} bytes" in (result.error or "")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    nothing = Verifier(Expected(length=0, md5_hex=hashlib.md5(b"").hexdigest()))
    feed_file(nothing, str(empty), 0, 0)
    assert nothing.result().checked == ("length", "md5")
