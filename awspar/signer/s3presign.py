"""Fast S3 presigned URLs for GetObject, HeadObject, PutObject and UploadPart: one hash and one HMAC per URL.

boto3's ``generate_presigned_url`` runs the whole request pipeline for every URL (about 130 µs).
For a plain ``{Bucket, Key}`` request almost all of that work is the same from one URL to the next:
the bucket's address, the credential scope, the auth query parameters and the derived signing key
change only with the bucket, the second and the day. This module does that work once and, per URL,
only percent-encodes the key, hashes the canonical request and signs it.

It never guesses how botocore addresses a bucket: the first time it sees a bucket (per operation)
it asks botocore for a presigned URL of a probe key, reads the address and scope off it, rebuilds
the same URL itself at botocore's timestamp and keeps the bucket only if the two are byte-identical.
Uploads sign a few headers too (a PutObject's checksum, Content-Type, metadata and storage class;
an UploadPart's checksum, with its ``uploadId`` and ``partNumber``): each set of header names is
calibrated the same way, with a probe that carries those headers. Anything it cannot reproduce
exactly (access points, S3 Express, other parameters, header values botocore would have to
normalise, a different signer) stays on botocore's path, so the fast path's URLs are always
boto3's URLs (``Config(signature_version="s3v4")``) at the same instant.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import hmac
import re
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
FAST_OPERATIONS = {"GetObject": "GET", "HeadObject": "HEAD", "PutObject": "PUT", "UploadPart": "PUT"}
_PROBE_KEY = "awspar-probe"
_PROBE_UPLOAD = "awspar-probe-upload"
# Parameters signed as headers, by operation: parameter -> (header as botocore names it, a probe value).
_CHECKSUMS = {
    "ChecksumCRC32": ("x-amz-checksum-crc32", "AAAAAA=="), "ChecksumCRC32C": ("x-amz-checksum-crc32c", "AAAAAA=="),
    "ChecksumSHA1": ("x-amz-checksum-sha1", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    "ChecksumSHA256": ("x-amz-checksum-sha256", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
}
_HEADER_PARAMS = {
    "PutObject": {**_CHECKSUMS, "ContentType": ("Content-Type", "text/plain"),
                  "StorageClass": ("x-amz-storage-class", "STANDARD")},
    "UploadPart": _CHECKSUMS,
}
# Header values and metadata names the fast path signs as they are (SigV4 would trim or fold others).
_PLAIN_VALUE = re.compile(r"^[!-~](?:[ -~]*[!-~])?$")
_PLAIN_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_DOUBLE_SPACE = "  "
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
    signed: str = "host"  # X-Amz-SignedHeaders: the lower-case header names, sorted, ";"-joined
    part: bool = False  # UploadPart: "uploadId=...&partNumber=N&" comes first, per request


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
        self._templates: dict[tuple[str, str, tuple[str, ...]], _Template | None] = {}
        self._seconds = SigningSeconds(credentials)
        self._lock = threading.Lock()

    def presign(self, operation: str, params: dict[str, Any], expires_in: int,
                ) -> tuple[str, float, dict[str, str]] | None:
        """``(url, expires_at, signed headers to send)``, or ``None`` when this request is not one
        the fast path serves."""
        method = FAST_OPERATIONS.get(operation)
        if method is None or self._credentials is None:
            return None
        bucket, key = params.get("Bucket"), params.get("Key")
        if type(bucket) is not str or type(key) is not str or not key or ":" in bucket:
            return None
        part = None
        if len(params) == 2 and operation != "UploadPart":
            headers: dict[str, str] = {}
        else:
            shaped = _headers_of(operation, params)
            if shaped is None:
                return None
            headers, part = shaped
        names = tuple(sorted(name.lower() for name in headers))
        cache_key = (operation, bucket, names)
        template = self._templates.get(cache_key)
        if template is None and cache_key not in self._templates:
            template = self._calibrate(operation, bucket, expires_in, params)
        if template is None:
            return None
        second = self._seconds.at(int(sigv4.wall_clock()))
        url = self._sign(template, second, key, expires_in, headers, part)
        expires_at = float(second.second + expires_in)
        if second.expiry is not None:
            expires_at = min(expires_at, second.expiry)
        return url, expires_at, headers

    def _sign(self, t: _Template, s: Second, key: str, expires_in: int, headers: dict[str, str] | None = None,
              part: tuple[str, int] | None = None) -> str:
        """The presigned URL: the canonical request hashed once, its string-to-sign HMACed once."""
        url_query, canonical_query = self._queries(t, s, expires_in, part)
        path = t.path_prefix + quote(key.encode("utf-8"), safe="/~")
        lines = {"host": t.host}
        for name, value in (headers or {}).items():
            lines[name.lower()] = value
        canonical_headers = "".join(f"{name}:{lines[name]}\n" for name in sorted(lines))
        canonical = f"{t.method}\n{path}\n{canonical_query}\n{canonical_headers}\n{t.signed}\nUNSIGNED-PAYLOAD"
        scope = f"{s.amz_date[:8]}/{t.region}/{t.service}/aws4_request"
        to_sign = (
            f"AWS4-HMAC-SHA256\n{s.amz_date}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
        )
        signature = hmac.digest(self._seconds.signing_key(s, t.region, t.service), to_sign.encode("utf-8"),
                                "sha256").hex()
        return f"{t.origin}{path}?{url_query}&X-Amz-Signature={signature}"

    def _queries(self, t: _Template, s: Second, expires_in: int, part: tuple[str, int] | None = None,
                 ) -> tuple[str, str]:
        """The URL query (botocore's order) and the canonical query (sorted), cached per second
        (an UploadPart's own ``uploadId`` and ``partNumber`` are added per request)."""
        cache_key = (t.region, t.service, t.op_query, expires_in, t.signed)
        cached = s.cache.get(cache_key)
        if cached is None:
            auth = {
                "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                "X-Amz-Credential": f"{s.access_key}/{s.amz_date[:8]}/{t.region}/{t.service}/aws4_request",
                "X-Amz-Date": s.amz_date,
                "X-Amz-Expires": expires_in,
                "X-Amz-SignedHeaders": t.signed,
            }
            if s.token is not None:
                auth["X-Amz-Security-Token"] = s.token
            url_query = t.op_query + percent_encode_sequence(auth)
            pairs = sorted(pair.partition("=")[::2] for pair in url_query.split("&"))
            cached = (url_query, "&".join(f"{k}={v}" for k, v in pairs))
            s.cache[cache_key] = cached
        if part is None:
            return cached
        upload = f"uploadId={quote(part[0], safe='-_.~')}&partNumber={part[1]}"
        # partNumber and uploadId sort after every X-Amz-* name (lower case after upper case).
        return f"{upload}&{cached[0]}", f"{cached[1]}&partNumber={part[1]}&uploadId={quote(part[0], safe='-_.~')}"

    def _calibrate(self, operation: str, bucket: str, expires_in: int, params: dict[str, Any]) -> _Template | None:
        """Learn the bucket's address from botocore's URL for a probe key (carrying the same
        header names as ``params``), and keep it only if rebuilding that URL here gives the same
        bytes."""
        probe_params = _probe_params(operation, bucket, params)
        headers, part = _headers_of(operation, probe_params) or ({}, None)
        cache_key = (operation, bucket, tuple(sorted(name.lower() for name in headers)))
        with self._lock:
            if cache_key in self._templates:
                return self._templates[cache_key]
            probe = self._slow(operation, probe_params, expires_in)
            template = _read_template(FAST_OPERATIONS[operation], probe, part is not None)
            if template is not None:
                second = signed_at_of_url(probe)
                state = self._seconds.at(second) if second is not None else None
                if state is None or self._sign(template, state, _PROBE_KEY, expires_in, headers, part) != probe:
                    template = None
            if len(self._templates) >= _MAX_BUCKETS:
                self._templates = {}
            self._templates[cache_key] = template
            return template


def _headers_of(operation: str, params: dict[str, Any]) -> tuple[dict[str, str], tuple[str, int] | None] | None:
    """The headers botocore would sign for a PutObject/UploadPart's parameters (and an
    UploadPart's ``(uploadId, partNumber)``), or ``None`` when the fast path does not serve them."""
    allowed = _HEADER_PARAMS.get(operation)
    if allowed is None:
        return None
    headers: dict[str, str] = {}
    part = None
    for name, value in params.items():
        if name in ("Bucket", "Key"):
            continue
        if operation == "UploadPart" and name in ("UploadId", "PartNumber"):
            continue
        if name == "Metadata" and operation == "PutObject" and isinstance(value, dict):
            for meta_name, meta_value in value.items():
                if (type(meta_name) is not str or not _PLAIN_NAME.match(meta_name) or type(meta_value) is not str
                        or not _PLAIN_VALUE.match(meta_value) or _DOUBLE_SPACE in meta_value):
                    return None
                headers[f"x-amz-meta-{meta_name}"] = meta_value
            continue
        header = allowed.get(name)
        if header is None or type(value) is not str or not _PLAIN_VALUE.match(value) or _DOUBLE_SPACE in value:
            return None
        headers[header[0]] = value
    if operation == "UploadPart":
        upload_id, number = params.get("UploadId"), params.get("PartNumber")
        if type(upload_id) is not str or not upload_id or type(number) is not int or not 1 <= number <= 10000:
            return None
        part = (upload_id, number)
    return headers, part


def _probe_params(operation: str, bucket: str, params: dict[str, Any]) -> dict[str, Any]:
    """A probe request with the same header names as ``params`` and placeholder values."""
    probe: dict[str, Any] = {"Bucket": bucket, "Key": _PROBE_KEY}
    allowed = _HEADER_PARAMS.get(operation, {})
    for name, value in params.items():
        if name in allowed:
            probe[name] = allowed[name][1]
        elif name == "Metadata" and isinstance(value, dict):
            probe[name] = {meta_name: "x" for meta_name in value}
    if operation == "UploadPart":
        probe.update(UploadId=_PROBE_UPLOAD, PartNumber=1)
    return probe


def _read_template(method: str, url: str, part: bool = False) -> _Template | None:
    """The bucket's address and scope from a botocore presigned URL, or None if it is not the
    plain SigV4 shape the fast path reproduces (``part``: an UploadPart probe's, whose
    ``uploadId`` and ``partNumber`` come first)."""
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
    signed = unquote(auth.get("X-Amz-SignedHeaders", ""))
    if names[first_auth:] != expected or "host" not in signed.split(";"):
        return None
    scope = unquote(auth["X-Amz-Credential"]).split("/")
    host = host_of(parts)
    if len(scope) != 5 or scope[4] != "aws4_request" or host is None:
        return None
    op_pairs = pairs[:first_auth]
    if part:
        if op_pairs != [("uploadId", _PROBE_UPLOAD), ("partNumber", "1")]:
            return None
        op_pairs = []
    op_query = "".join(f"{name}={value}&" for name, value in op_pairs)
    return _Template(
        method=method,
        origin=f"{parts.scheme}://{parts.netloc}",
        path_prefix=parts.path[: -len(_PROBE_KEY)],
        host=host,
        region=scope[2],
        service=scope[3],
        op_query=op_query,
        signed=signed,
        part=part,
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
