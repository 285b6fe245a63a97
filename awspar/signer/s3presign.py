"""Fast S3 presigned URLs for GetObject, HeadObject and PutObject: one hash and one HMAC per URL.

boto3's ``generate_presigned_url`` runs the whole request pipeline for every URL (about 130 µs).
For a plain ``{Bucket, Key}`` request almost all of that work is the same from one URL to the next:
the bucket's address, the credential scope, the auth query parameters and the derived signing key
change only with the bucket, the second and the day. This module does that work once and, per URL,
only percent-encodes the key, hashes the canonical request and signs it.

It never guesses how botocore addresses a bucket: the first time it sees a bucket (per operation)
it asks botocore for a presigned URL of a probe key, reads the address and scope off it, rebuilds
the same URL itself at botocore's timestamp and keeps the bucket only if the two are byte-identical.
Anything it cannot reproduce exactly (access points, S3 Express, extra signed headers, a different
signer) stays on botocore's path, so the fast path's URLs are always boto3's URLs
(``Config(signature_version="s3v4")``) at the same instant.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from botocore.utils import percent_encode_sequence

from awspar.signer import sigv4
from awspar.signer.sigv4 import Second, SigningSeconds, host_of

__all__ = ["FAST_OPERATIONS", "FastS3Presigner", "epoch_of_amz_date", "signed_at_of_url"]

#: Operations the fast path serves, with their HTTP method.
FAST_OPERATIONS = {"GetObject": "GET", "HeadObject": "HEAD", "PutObject": "PUT"}
_PROBE_KEY = "awspar-probe"
_MAX_BUCKETS = 4096
_AUTH_NAMES = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders")

#: ``slow(operation, params, expires_in) -> url``: botocore's own presigned URL (for calibration).
SlowPresign = Callable[[str, dict[str, Any], int], str]


@dataclass(frozen=True)
class _Template:
    """How botocore addresses one bucket for one operation, read off a probe URL."""

    method: str
    origin: str  # scheme://netloc
    path_prefix: str  # the URL path up to where the encoded key starts
    host: str  # the signed Host header value
    region: str
    service: str
    op_query: str  # operation query parameters that come before the auth ones ("" or "a=b&")


class FastS3Presigner:
    """Presigns ``{Bucket, Key}`` GetObject/HeadObject/PutObject URLs without botocore's pipeline.

    ``credentials`` is the botocore credentials object the client signs with (refreshable ones
    are re-read once per second); ``slow`` is botocore's presigner, used once per bucket to learn
    and verify its address. Thread-safe: caches are replaced, never mutated in ways another
    thread could observe half-done.
    """

    def __init__(self, credentials: Any, slow: SlowPresign) -> None:
        self._credentials = credentials
        self._slow = slow
        self._templates: dict[tuple[str, str], _Template | None] = {}
        self._seconds = SigningSeconds(credentials)
        self._lock = threading.Lock()

    def presign(self, operation: str, params: dict[str, Any], expires_in: int) -> tuple[str, float] | None:
        """``(url, expires_at)``, or ``None`` when this request is not one the fast path serves."""
        method = FAST_OPERATIONS.get(operation)
        if method is None or len(params) != 2 or self._credentials is None:
            return None
        bucket, key = params.get("Bucket"), params.get("Key")
        if type(bucket) is not str or type(key) is not str or not key or ":" in bucket:
            return None
        template = self._templates.get((operation, bucket))
        if template is None and (operation, bucket) not in self._templates:
            template = self._calibrate(operation, bucket, expires_in)
        if template is None:
            return None
        second = self._seconds.at(int(sigv4.wall_clock()))
        url = self._sign(template, second, key, expires_in)
        expires_at = float(second.second + expires_in)
        if second.expiry is not None:
            expires_at = min(expires_at, second.expiry)
        return url, expires_at

    def _sign(self, t: _Template, s: Second, key: str, expires_in: int) -> str:
        """The presigned URL: the canonical request hashed once, its string-to-sign HMACed once."""
        url_query, canonical_query = self._queries(t, s, expires_in)
        path = t.path_prefix + quote(key.encode("utf-8"), safe="/~")
        canonical = f"{t.method}\n{path}\n{canonical_query}\nhost:{t.host}\n\nhost\nUNSIGNED-PAYLOAD"
        scope = f"{s.amz_date[:8]}/{t.region}/{t.service}/aws4_request"
        to_sign = (
            f"AWS4-HMAC-SHA256\n{s.amz_date}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
        )
        signature = hmac.digest(self._seconds.signing_key(s, t.region, t.service), to_sign.encode("utf-8"),
                                "sha256").hex()
        return f"{t.origin}{path}?{url_query}&X-Amz-Signature={signature}"

    def _queries(self, t: _Template, s: Second, expires_in: int) -> tuple[str, str]:
        """The URL query (botocore's order) and the canonical query (sorted), cached per second."""
        cache_key = (t.region, t.service, t.op_query, expires_in)
        cached = s.cache.get(cache_key)
        if cached is None:
            auth = {
                "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                "X-Amz-Credential": f"{s.access_key}/{s.amz_date[:8]}/{t.region}/{t.service}/aws4_request",
                "X-Amz-Date": s.amz_date,
                "X-Amz-Expires": expires_in,
                "X-Amz-SignedHeaders": "host",
            }
            if s.token is not None:
                auth["X-Amz-Security-Token"] = s.token
            url_query = t.op_query + percent_encode_sequence(auth)
            pairs = sorted(pair.partition("=")[::2] for pair in url_query.split("&"))
            cached = (url_query, "&".join(f"{k}={v}" for k, v in pairs))
            s.cache[cache_key] = cached
        return cached

    def _calibrate(self, operation: str, bucket: str, expires_in: int) -> _Template | None:
        """Learn the bucket's address from botocore's URL for a probe key, and keep it only if
        rebuilding that URL here gives the same bytes."""
        with self._lock:
            if (operation, bucket) in self._templates:
                return self._templates[(operation, bucket)]
            probe = self._slow(operation, {"Bucket": bucket, "Key": _PROBE_KEY}, expires_in)
            template = _read_template(FAST_OPERATIONS[operation], probe)
            if template is not None:
                second = signed_at_of_url(probe)
                state = self._seconds.at(second) if second is not None else None
                if state is None or self._sign(template, state, _PROBE_KEY, expires_in) != probe:
                    template = None
            if len(self._templates) >= _MAX_BUCKETS:
                self._templates = {}
            self._templates[(operation, bucket)] = template
            return template


def _read_template(method: str, url: str) -> _Template | None:
    """The bucket's address and scope from a botocore presigned URL, or None if it is not the
    plain SigV4 ``host``-only shape the fast path reproduces."""
    base, _, query = url.partition("?")
    if not base.endswith("/" + _PROBE_KEY):
        return None
    parts = urlsplit(base)
    pairs = [pair.partition("=")[::2] for pair in query.split("&")]
    names = [name for name, _ in pairs]
    if "X-Amz-Algorithm" not in names:
        return None
    first_auth = names.index("X-Amz-Algorithm")
    auth = dict(pairs[first_auth:])
    expected = [*_AUTH_NAMES, *(["X-Amz-Security-Token"] if "X-Amz-Security-Token" in auth else []), "X-Amz-Signature"]
    if names[first_auth:] != expected or auth["X-Amz-SignedHeaders"] != "host":
        return None
    scope = unquote(auth["X-Amz-Credential"]).split("/")
    host = host_of(parts)
    if len(scope) != 5 or scope[4] != "aws4_request" or host is None:
        return None
    op_query = "".join(f"{name}={value}&" for name, value in pairs[:first_auth])
    return _Template(
        method=method,
        origin=f"{parts.scheme}://{parts.netloc}",
        path_prefix=parts.path[: -len(_PROBE_KEY)],
        host=host,
        region=scope[2],
        service=scope[3],
        op_query=op_query,
    )


def signed_at_of_url(url: str) -> int | None:
    """The signing instant in a presigned URL's ``X-Amz-Date``."""
    marker = url.find("X-Amz-Date=")
    return None if marker < 0 else epoch_of_amz_date(url[marker + 11 : marker + 27])


@functools.lru_cache(maxsize=8)
def epoch_of_amz_date(stamp: str) -> int | None:
    """Epoch seconds of a SigV4 timestamp such as ``20260102T030405Z``; None if malformed."""
    if len(stamp) != 16 or stamp[8] != "T" or stamp[15] != "Z":
        return None
    try:
        fields = (stamp[0:4], stamp[4:6], stamp[6:8], stamp[9:11], stamp[11:13], stamp[13:15])
        return calendar.timegm((*map(int, fields), 0, 0, 0))
    except ValueError:
        return None
