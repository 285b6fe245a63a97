"""The one place that touches botocore details beyond its documented client API.

awspar captures requests through documented events (``before-send``, ``before-sign``) and parses
responses with botocore's own parsers and handlers; the few things here reach a little further.
``tests/test_botocore_shape.py`` checks each of them, so a botocore release that changes one of
these shapes fails that test loudly instead of silently breaking signing or parsing.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = [
    "CLOCK_TARGET",
    "BytesRaw",
    "credential_expiry",
    "header_items",
    "protocol_of",
]

#: What botocore's SigV4 signers call for "now" (``botocore.auth.get_current_datetime``, a naive
#: UTC datetime). Tests patch it to freeze botocore's clock.
CLOCK_TARGET = "botocore.auth.get_current_datetime"


class BytesRaw:
    """A stand-in for urllib3's response object over bytes already in memory.

    botocore reads a response body through ``raw.stream()`` (whole bodies, event streams) and
    ``raw.read()`` (streaming bodies); this serves both from ``data``.
    """

    def __init__(self, data: bytes = b"") -> None:
        self._data = data
        self._offset = 0

    def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
        size = amt or 65536
        while chunk := self.read(size):
            yield chunk

    def read(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        end = len(self._data) if amt is None or amt < 0 else self._offset + amt
        chunk = self._data[self._offset:end]
        self._offset += len(chunk)
        return chunk

    def close(self) -> None:
        self._offset = len(self._data)


def header_items(headers: Any) -> Iterable[tuple[str, Any]]:
    """``(name, value)`` pairs of a botocore ``HeadersDict`` in their original case.

    Its public ``items()`` looks every key up again through a case-folding wrapper; the pairs
    are read straight from its ``_dict`` (keys are ``_HeaderKey``, whose ``str`` is the name) when
    it has one.
    """
    raw = getattr(headers, "_dict", None)
    if isinstance(raw, dict):
        return ((str(key), value) for key, value in raw.items())
    return headers.items()


def credential_expiry(credentials: Any) -> float | None:
    """When temporary credentials expire (``time.time()`` scale), or ``None`` if they do not.

    botocore keeps this as ``RefreshableCredentials._expiry_time`` (an aware datetime) and has
    no public accessor for it.
    """
    expiry = getattr(credentials, "_expiry_time", None)
    if isinstance(expiry, datetime.datetime):
        if expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=datetime.UTC)
        return expiry.timestamp()
    return None


def protocol_of(service_model: Any) -> str:
    """The wire protocol botocore uses for a service (``resolved_protocol`` on newer botocore,
    which picks one when a service lists several)."""
    return str(getattr(service_model, "resolved_protocol", None) or service_model.protocol)
