"""What the local object endpoint checks on uploads: payload checksums and multipart uploads.

Pure bookkeeping without I/O, used by :class:`~awspar.testing.ObjectServer`:

- :func:`claimed_checksum` / :func:`checksum_of`: the ``x-amz-checksum-*`` header a PUT or an
  UploadPart carries, and the same checksum computed over the bytes received. CRC32 (zlib),
  CRC32C (a table in pure Python: slow, a few MB/s, which is fine for the bodies tests send),
  SHA1 and SHA256 (hashlib). CRC64NVME is refused as not implemented.
- :class:`MultipartUpload`: one upload in progress (its parts, their ETags and checksums) and
  :meth:`MultipartUpload.complete`, which checks a CompleteMultipartUpload request the way S3
  does (parts in ascending order, each one uploaded with that ETag and checksum, every part but
  the last at least ``min_part_size`` bytes) and assembles the object, with S3's multipart ETag
  (the MD5 of the parts' MD5s, ``-N``) and its COMPOSITE checksum (the checksum of the parts'
  checksums, ``-N``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from xml.etree import ElementTree

__all__ = [
    "ALGORITHMS", "MultipartUpload", "Part", "UploadError", "check_payload", "checksum_of", "claimed_checksum",
    "crc32c", "parse_complete",
]

#: Checksum algorithms the endpoint verifies (lower-case, as in ``x-amz-checksum-<name>``).
ALGORITHMS = ("crc32", "crc32c", "sha1", "sha256")
_XML_NAMES = {"crc32": "ChecksumCRC32", "crc32c": "ChecksumCRC32C", "sha1": "ChecksumSHA1", "sha256": "ChecksumSHA256"}


class UploadError(Exception):
    """An upload the endpoint refuses: S3's error ``code`` and a message."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message


@functools.cache
def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC32C (Castagnoli) of ``data``, continuing from ``crc``; pure Python, for tests."""
    table = _crc32c_table()
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _raw_checksum(algorithm: str, data: bytes) -> bytes:
    if algorithm == "crc32":
        return zlib.crc32(data).to_bytes(4, "big")
    if algorithm == "crc32c":
        return crc32c(data).to_bytes(4, "big")
    return hashlib.new(algorithm, data).digest()


def checksum_of(algorithm: str, data: bytes) -> str:
    """The base64 ``x-amz-checksum-<algorithm>`` value of ``data``."""
    return base64.b64encode(_raw_checksum(algorithm, data)).decode()


def claimed_checksum(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """``(algorithm, base64 value)`` from a request's ``x-amz-checksum-*`` header, or ``None``.

    Raises :class:`UploadError` for more than one, or one the endpoint does not implement."""
    found = []
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith("x-amz-checksum-") and lower not in ("x-amz-checksum-type", "x-amz-checksum-mode",
                                                                   "x-amz-checksum-algorithm"):
            algorithm = lower[len("x-amz-checksum-"):]
            if algorithm not in ALGORITHMS:
                raise UploadError("NotImplemented", f"x-amz-checksum-{algorithm} is not implemented by this server.")
            found.append((algorithm, value))
    if len(found) > 1:
        raise UploadError("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are "
                                            "not allowed.")
    return found[0] if found else None


def check_payload(headers: Mapping[str, str], body: bytes, required: str | None = None) -> tuple[str, str] | None:
    """The payload's checksum ``(algorithm, value)`` after checking the claimed one against
    ``body`` (:class:`UploadError` ``BadDigest`` on a mismatch); with ``required`` (the
    multipart upload's algorithm), a part without a checksum gets one computed, and a part with
    another algorithm is refused."""
    claimed = claimed_checksum(headers)
    if claimed is None:
        return None if required is None else (required, checksum_of(required, body))
    algorithm, value = claimed
    if required is not None and algorithm != required:
        raise UploadError("InvalidRequest", f"Checksum Type mismatch occurred, expected checksum Type: {required}, "
                                            f"actual checksum Type: {algorithm}")
    if checksum_of(algorithm, body) != value:
        raise UploadError("BadDigest", f"The {algorithm.upper()} you specified did not match the calculated checksum.")
    return claimed


@dataclass(frozen=True)
class Part:
    """One uploaded part."""

    body: bytes
    etag: str  # MD5 hex, no quotes
    checksum: tuple[str, str] | None


@dataclass
class MultipartUpload:
    """One multipart upload in progress."""

    bucket: str
    key: str
    upload_id: str
    algorithm: str | None = None
    content_type: str = "binary/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)
    storage_class: str | None = None
    initiated: float = field(default_factory=time.time)
    parts: dict[int, Part] = field(default_factory=dict)

    def add_part(self, number: int, body: bytes, headers: Mapping[str, str]) -> Part:
        """Check and keep part ``number`` (1..10000); a re-upload replaces it, as in S3."""
        if not 1 <= number <= 10000:
            raise UploadError("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
        part = Part(body, hashlib.md5(body).hexdigest(), check_payload(headers, body, self.algorithm))
        self.parts[number] = part
        return part

    def complete(self, listed: list[dict[str, str]], min_part_size: int) -> tuple[bytes, str, tuple[str, str] | None]:
        """``(body, etag, composite checksum)`` of the object the ``listed`` parts make."""
        if not listed:
            raise UploadError("MalformedXML", "The XML you provided was not well-formed or did not validate "
                                              "against our published schema")
        numbers = []
        for entry in listed:
            try:
                numbers.append(int(entry.get("PartNumber", "")))
            except ValueError:
                raise UploadError("MalformedXML") from None
        if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
            raise UploadError("InvalidPartOrder", "The list of parts was not in ascending order. The parts list "
                                                  "must be specified in order by part number.")
        chosen = []
        for number, entry in zip(numbers, listed):
            part = self.parts.get(number)
            if part is None or entry.get("ETag", "").strip('"') != part.etag:
                raise UploadError("InvalidPart", f"Part {number} was not uploaded, or its ETag does not match.")
            if self.algorithm is not None and part.checksum is not None:
                given = entry.get(_XML_NAMES[self.algorithm])
                if given is not None and given != part.checksum[1]:
                    raise UploadError("BadDigest", f"The {self.algorithm.upper()} of part {number} does not match "
                                                   "the checksum uploaded with it.")
            chosen.append(part)
        for part in chosen[:-1]:
            if len(part.body) < min_part_size:
                raise UploadError("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")
        md5s = b"".join(bytes.fromhex(part.etag) for part in chosen)
        etag = f"{hashlib.md5(md5s).hexdigest()}-{len(chosen)}"
        checksum = None
        if self.algorithm is not None:
            raw = b"".join(base64.b64decode(part.checksum[1]) for part in chosen if part.checksum is not None)
            checksum = (self.algorithm, f"{checksum_of(self.algorithm, raw)}-{len(chosen)}")
        return b"".join(part.body for part in chosen), etag, checksum


def parse_complete(body: bytes) -> list[dict[str, str]]:
    """The ``<Part>`` entries of a CompleteMultipartUpload body, as ``{child tag: text}``."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise UploadError("MalformedXML", "The XML you provided was not well-formed or did not validate against "
                                          "our published schema") from None
    parts = []
    for element in root:
        if element.tag.rpartition("}")[2] != "Part":
            continue
        parts.append({child.tag.rpartition("}")[2]: (child.text or "").strip() for child in element})
    return parts
