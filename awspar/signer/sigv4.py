"""What awspar's fast signing paths share: the per-second signing state (frozen credentials and
``X-Amz-Date``), the SigV4 derived key cached per day, and the ``Host`` botocore signs.

botocore's own signer stays the reference: each fast path learns its request's shape from
botocore once and keeps it only when rebuilding that request here gives the same bytes
(:mod:`awspar.signer.s3presign`, :mod:`awspar.signer.fastjson`).
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult

from awspar._botocore_compat import credential_expiry

__all__ = ["Second", "SigningSeconds", "host_of", "wall_clock"]

#: The wall clock the fast paths sign with (tests patch it together with botocore's).
wall_clock = time.time


@dataclass
class Second:
    """Everything that is the same for every request signed within one wall-clock second.
    ``cache`` is for a fast path's own per-second values (an S3 URL's auth query)."""

    second: int
    amz_date: str
    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(repr=False)
    expiry: float | None
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)


class SigningSeconds:
    """The credentials frozen once per second (refreshable ones are re-read then) and the derived
    signing keys, one per (secret, day, region, service)."""

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials
        self._now: Second | None = None
        self._keys: dict[tuple[str, str, str, str], bytes] = {}

    def at(self, second: int) -> Second:
        """The state for ``second`` (epoch seconds)."""
        current = self._now
        if current is not None and current.second == second:
            return current
        frozen = self._credentials.get_frozen_credentials()
        current = Second(
            second=second,
            amz_date=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second)),
            access_key=frozen.access_key,
            secret_key=frozen.secret_key,
            token=frozen.token,
            expiry=credential_expiry(self._credentials),
        )
        self._now = current
        return current

    def signing_key(self, state: Second, region: str, service: str) -> bytes:
        """The SigV4 derived key for (secret, day, region, service), computed once a day."""
        day = state.amz_date[:8]
        cache_key = (state.secret_key, day, region, service)
        key = self._keys.get(cache_key)
        if key is None:
            key = f"AWS4{state.secret_key}".encode()
            for part in (day, region, service, "aws4_request"):
                key = hmac.digest(key, part.encode("utf-8"), "sha256")
            if len(self._keys) > 16:
                self._keys = {}
            self._keys[cache_key] = key
        return key


def host_of(parts: SplitResult) -> str | None:
    """The ``Host`` value botocore signs for a URL: the host name (bracketed for IPv6) and the
    port unless it is the scheme's default; None without a host name."""
    if not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if parts.port is not None and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host
