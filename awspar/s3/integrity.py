"""Is the object we got the object S3 holds? Length, MD5-vs-ETag and the object's own checksum.

What is checked, from the response headers of the GET (or of the first ranged GET):

- **length**: the bytes received equal the object's size (``Content-Length`` of a full GET, the
  total of ``Content-Range`` of a ranged one). Always checked.
- **MD5 against the ETag**, for objects whose ETag is a plain MD5: 32 hex digits, no ``-N`` suffix
  (multipart uploads have one) and not encrypted with SSE-KMS or SSE-C (their ETag is no MD5).
- **the object's own checksum** (``x-amz-checksum-crc32``/``-crc32c``/``-crc64nvme``/``-sha1``/
  ``-sha256``, base64), when the response carries a full-object one. Composite checksums of
  multipart uploads (``...-N`` values, ``x-amz-checksum-type: COMPOSITE``) are checksums of part
  checksums and cannot be checked against the bytes; they are noted as not verified.

The hashers are botocore's own (``botocore.httpchecksum``). CRC32C and CRC64NVME exist there
only with ``awscrt`` installed (``pip install 'botocore[crt]'``); without it such a checksum is
reported as *not verified* ("crc32c needs awscrt") rather than failed, and the MD5 and length
checks still run. A pure-Python CRC32C would check a few MB/s, slower than the network it
guards, so none is written here. CRC32, the checksum the AWS SDKs put on uploads by default, goes
through ``zlib-ng`` when it is installed (the ``fast-crc`` extra): 13 GB/s here against 3.7 for
zlib's and 2.6 for awscrt's, which decides whether verifying a large object keeps up with its
download.

Everything hashes incrementally (:class:`Verifier.update`), so a file on disk is checked through
a read-only mapping, 16 MiB at a time (:func:`verify_file`), and never held whole in memory.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import mmap
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Expected", "Verification", "Verifier", "expected_from_headers", "expected_from_lowered", "size_from_lowered", "feed_file", "header", "lowercase_keys", "object_size",
    "verify_bytes", "verify_file",
]

# How much of a mapped file one hasher call takes: the hashers release the GIL for the whole call,
# so few large calls keep a helper thread from contending for it with the event loop.
_CHUNK = 16 << 20
_MD5_ETAG = re.compile(r"^[0-9a-fA-F]{32}$")
_CHECKSUM_HEADERS = ("crc64nvme", "crc32c", "crc32", "sha256", "sha1")  # strongest first
_CONTENT_RANGE_TOTAL = re.compile(r"/(\d+)\s*$")


@dataclass(frozen=True)
class Expected:
    """What the bytes must match. ``None`` fields are not checked.

    ``checksum`` is ``(algorithm, base64 value)`` with a lower-case algorithm name (``"crc32"``).
    ``notes`` says why something that could have been checked was not.
    """

    length: int | None = None
    md5_hex: str | None = None
    checksum: tuple[str, str] | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verification:
    """The outcome: ``ok`` is False only on a mismatch; ``checked`` names what was verified
    (``"length"``, ``"md5"``, ``"crc32"``...), ``notes`` what could not be and why."""

    ok: bool
    checked: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    error: str | None = None

    @property
    def content_verified(self) -> bool:
        """True when the bytes themselves (not only their count) matched a hash or checksum."""
        return self.ok and any(name != "length" for name in self.checked)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, looked up case-insensitively."""
    value = headers.get(name)
    if value is not None:
        return value
    lower = name.lower()
    for key, val in headers.items():
        if key.lower() == lower:
            return val
    return None


def lowercase_keys(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with lower-case names: one pass, then plain lookups by lower-case name."""
    return {key.lower(): value for key, value in headers.items()}


def object_size(headers: Mapping[str, str]) -> int | None:
    """The whole object's size: the total of ``Content-Range`` if ranged, else ``Content-Length``."""
    return size_from_lowered(lowercase_keys(headers))


def size_from_lowered(lowered: Mapping[str, str]) -> int | None:
    content_range = lowered.get("content-range")
    if content_range:
        match = _CONTENT_RANGE_TOTAL.search(content_range)
        return int(match.group(1)) if match else None
    length = lowered.get("content-length")
    return int(length) if length is not None and length.isdigit() else None


def _checksum_class(algorithm: str) -> Any:
    """The incremental hasher for ``algorithm``: zlib-ng's CRC32 when installed, else botocore's
    (its CRT ones when awscrt is present); ``None`` when this install lacks it."""
    if algorithm == "crc32" and _zlib_ng_crc32() is not None:
        return FastCrc32
    from botocore import httpchecksum

    return httpchecksum._CHECKSUM_CLS.get(algorithm)  # botocore's registry (CRT ones when present)


@functools.cache  # looked up per object: a failed import searches sys.path again (~50 µs) each time
def _zlib_ng_crc32() -> Any:
    """``zlib_ng.crc32`` (it releases the GIL, like zlib's), or ``None`` without the extra."""
    try:
        from zlib_ng import zlib_ng
    except ImportError:
        return None
    return zlib_ng.crc32


class FastCrc32:
    """CRC32 through zlib-ng, with the ``update``/``b64digest`` face of botocore's hashers."""

    def __init__(self) -> None:
        self._crc32 = _zlib_ng_crc32()
        self._value = 0

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        self._value = self._crc32(chunk, self._value)

    def digest(self) -> bytes:
        return (self._value & 0xFFFFFFFF).to_bytes(4, "big")

    def b64digest(self) -> str:
        return base64.b64encode(self.digest()).decode("ascii")


def expected_from_headers(headers: Mapping[str, str]) -> Expected:
    """Read the expectations off a GetObject (or HeadObject) response's headers."""
    return expected_from_lowered(lowercase_keys(headers))


def expected_from_lowered(lowered: Mapping[str, str]) -> Expected:
    """:func:`expected_from_headers` of headers whose names are lower-case already."""
    notes: list[str] = []
    md5_hex = None
    etag = lowered.get("etag", "").strip('"')
    encryption = lowered.get("x-amz-server-side-encryption", "").lower()
    if lowered.get("x-amz-server-side-encryption-customer-algorithm") or encryption.startswith("aws:kms"):
        notes.append("md5 not checked: the ETag of an SSE-KMS/SSE-C object is not its MD5")
    elif _MD5_ETAG.match(etag):
        md5_hex = etag.lower()
    elif etag:
        notes.append("md5 not checked: multipart ETag")
    checksum = None
    for algorithm in _CHECKSUM_HEADERS:
        value = lowered.get(f"x-amz-checksum-{algorithm}")
        if not value:
            continue
        kind = lowered.get("x-amz-checksum-type", "").upper()
        if kind == "COMPOSITE" or re.search(r"-\d+$", value):
            notes.append(f"{algorithm} not checked: composite checksum of a multipart upload")
        elif _checksum_class(algorithm) is None:
            notes.append(f"{algorithm} not verified: {algorithm} needs awscrt (pip install 'botocore[crt]')")
        else:
            checksum = (algorithm, value)
        break
    return Expected(length=size_from_lowered(lowered), md5_hex=md5_hex, checksum=checksum, notes=tuple(notes))


@dataclass
class Verifier:
    """Incremental checker: feed every byte once with :meth:`update`, then :meth:`result`."""

    expected: Expected
    _length: int = field(default=0, init=False)
    _md5: Any = field(default=None, init=False, repr=False)
    _checksum: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.expected.md5_hex is not None:
            self._md5 = hashlib.md5(usedforsecurity=False)
        if self.expected.checksum is not None:
            self._checksum = _checksum_class(self.expected.checksum[0])()

    @property
    def hashing(self) -> bool:
        """Whether the bytes themselves are checked (an MD5 or a checksum), not only their count."""
        return self._md5 is not None or self._checksum is not None

    def skip(self, count: int) -> None:
        """Account for ``count`` bytes without reading them (only when not :attr:`hashing`)."""
        if self.hashing:
            raise ValueError("a hashing verifier must be fed the bytes themselves")
        self._length += count

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        """Account for the next chunk of the object's bytes."""
        self._length += len(chunk)
        if self._md5 is not None:
            self._md5.update(chunk)
        if self._checksum is not None:
            self._checksum.update(chunk)

    def result(self) -> Verification:
        """Compare what was fed with what was expected."""
        exp = self.expected
        checked: list[str] = []
        if exp.length is not None:
            if self._length != exp.length:
                return Verification(False, tuple(checked), exp.notes,
                                    f"length {self._length} bytes, expected {exp.length}")
            checked.append("length")
        if self._md5 is not None:
            got = self._md5.hexdigest()
            if got != exp.md5_hex:
                return Verification(False, tuple(checked), exp.notes, f"MD5 {got} does not match the ETag {exp.md5_hex}")
            checked.append("md5")
        if self._checksum is not None and exp.checksum is not None:
            algorithm, want = exp.checksum
            got = self._checksum.b64digest()
            if got != want:
                return Verification(False, tuple(checked), exp.notes,
                                    f"{algorithm.upper()} {got} does not match the object's {want}")
            checked.append(algorithm)
        return Verification(True, tuple(checked), exp.notes)


def verify_bytes(data: bytes | bytearray | memoryview, expected: Expected) -> Verification:
    """Check an in-memory body."""
    verifier = Verifier(expected)
    verifier.update(data)
    return verifier.result()


def verify_file(path: str, expected: Expected) -> Verification:
    """Check a file on disk (through a read-only mapping, 16 MiB at a time)."""
    verifier = Verifier(expected)
    feed_file(verifier, path, 0, os.path.getsize(path))
    return verifier.result()


def feed_file(verifier: Verifier, path: str, start: int, end: int) -> None:
    """Feed bytes ``[start, end)`` of the file at ``path`` to ``verifier``, 16 MiB at a time (the
    bytes must be there: a file shorter than ``end`` is fed what it has, and the length check
    then fails). A verifier that hashes nothing is told the count without a read.

    The hashers read the file through a read-only mapping of its page cache instead of copying
    it out with ``read``: for a file that was just written this costs a third to a fifth of the
    CPU (1 GiB: 0.09 s against 0.14-0.47 s here)."""
    with open(path, "rb", buffering=0) as handle:
        end = min(end, os.fstat(handle.fileno()).st_size)
        if end <= start:
            return
        if not verifier.hashing:
            verifier.skip(end - start)
            return
        base = start - start % mmap.ALLOCATIONGRANULARITY  # a mapping starts on a granule
        with mmap.mmap(handle.fileno(), end - base, offset=base, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                for offset in range(start - base, end - base, _CHUNK):
                    verifier.update(view[offset : min(offset + _CHUNK, end - base)])
            finally:
                view.release()
