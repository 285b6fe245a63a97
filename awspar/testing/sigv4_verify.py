"""Server-side SigV4 verification for the local endpoints, built on botocore's own signer.

The canonical request, string to sign and signature come from botocore's ``SigV4Auth`` family
(``S3SigV4Auth`` / ``S3SigV4QueryAuth`` for S3, which do not normalise the path), so the server
computes exactly what a boto3 client computed; only the list of signed headers and the
timestamp are taken from the incoming request instead of chosen.

:func:`verify_sigv4` checks a header-signed (``Authorization: AWS4-HMAC-SHA256 ...``) or presigned
(``X-Amz-Signature=`` in the query) request against :data:`~awspar.testing.credentials.KNOWN_KEYS`
and answers ``None`` (accepted) or an :class:`AuthFailure` carrying S3's error code:

- ``AccessDenied`` (403): no signature at all; a presigned URL expired or not yet valid.
- ``InvalidAccessKeyId`` (403): the access key id is unknown.
- ``InvalidToken`` (403): the session token is missing, unexpected or wrong.
- ``SignatureDoesNotMatch`` (403): any signed byte differs (wrong secret, tampering).
- ``RequestTimeTooSkewed`` (403): header-signed more than 15 minutes off the clock.
- ``AuthorizationHeaderMalformed`` (400): unparsable header, or a scope for another service.
- ``AuthorizationQueryParametersError`` (400): unparsable presigned query, expiry over a week.
- ``InvalidRequest`` (400): a SigV2 signature (boto3 presigns S3 URLs with SigV2 unless given
  ``Config(signature_version="s3v4")``).
- ``XAmzContentSHA256Mismatch`` (400): ``x-amz-content-sha256`` is not the body's SHA-256.

The verifier never puts a secret, a signature or a token in a failure message.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from awspar.testing.credentials import KNOWN_KEYS, TestCredentials

__all__ = ["MAX_PRESIGN_SECONDS", "MAX_SKEW_SECONDS", "AuthFailure", "verify_sigv4"]

MAX_SKEW_SECONDS = 15 * 60
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
_ALGORITHM = "AWS4-HMAC-SHA256"
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_UNHASHED_PAYLOADS = ("UNSIGNED-PAYLOAD", "STREAMING-")


@dataclass(frozen=True)
class AuthFailure:
    """Why a request was refused: S3's error ``code``, a safe ``message`` and the HTTP ``status``."""

    code: str
    message: str
    status: int = 403


def _failure(code: str, message: str = "") -> AuthFailure:
    defaults = {
        "AccessDenied": ("Access Denied", 403),
        "InvalidAccessKeyId": ("The AWS Access Key Id you provided does not exist in our records.", 403),
        "InvalidToken": ("The provided token is malformed or otherwise invalid.", 403),
        "SignatureDoesNotMatch": (
            ("The request signature we calculated does not match the signature you provided. "
             "Check your key and signing method."), 403),
        "RequestTimeTooSkewed": (
            "The difference between the request time and the current time is too large.", 403),
        "AuthorizationHeaderMalformed": ("The authorization header is malformed.", 400),
        "AuthorizationQueryParametersError": ("The presigned URL's query parameters are malformed.", 400),
        "InvalidRequest": (
            ("The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256 "
             "(boto3: Config(signature_version='s3v4'))."), 400),
        "XAmzContentSHA256Mismatch": (
            "The provided 'x-amz-content-sha256' header does not match what was computed.", 400),
    }
    text, status = defaults[code]
    return AuthFailure(code, message or text, status)


@dataclass(frozen=True)
class _Claim:
    """What the request says about its own signature."""

    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    token: str | None
    expires: int | None  # presigned only


def verify_sigv4(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]] | Mapping[str, str],
    body: bytes = b"",
    *,
    service: str,
    keys: Mapping[str, TestCredentials] = KNOWN_KEYS,
    now: float | None = None,
    scheme: str = "http",
) -> AuthFailure | None:
    """Check the SigV4 signature of one HTTP request; ``None`` when it is valid.

    ``target`` is the request target exactly as sent (raw path plus ``?query``), ``headers`` the
    header pairs as received (repeats allowed), ``body`` the full body, ``service`` the signing
    name the endpoint expects (``"s3"``, ``"bedrock"``). ``now`` defaults to ``time.time()``.
    """
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    path, _, query = target.partition("?")
    query_pairs = _split_query(query)
    claim_or_failure = _read_claim(pairs, query_pairs)
    if isinstance(claim_or_failure, AuthFailure):
        return claim_or_failure
    claim = claim_or_failure
    if claim.service != service:
        return _failure("AuthorizationHeaderMalformed", f"Credential should be scoped to correct service: '{service}'.")
    creds = keys.get(claim.access_key)
    if creds is None:
        return _failure("InvalidAccessKeyId")
    if claim.token != creds.session_token:
        return _failure("InvalidToken")
    timing = _check_time(claim, time.time() if now is None else now)
    if timing is not None:
        return timing
    expected = _expected_signature(method, scheme, path, query_pairs, pairs, body, claim, creds)
    if expected is None or not hmac.compare_digest(expected, claim.signature):
        return _failure("SignatureDoesNotMatch")
    return _check_payload_hash(pairs, body)


def _split_query(query: str) -> list[tuple[str, str]]:
    """Decoded ``(name, value)`` pairs, in order, without treating ``+`` as a space."""
    if not query:
        return []
    out = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            out.append((unquote(name), unquote(value)))
    return out


def _header(pairs: list[tuple[str, str]], name: str) -> str | None:
    for key, value in pairs:
        if key.lower() == name:
            return value
    return None


def _read_claim(pairs: list[tuple[str, str]], query: list[tuple[str, str]]) -> _Claim | AuthFailure:
    params = dict(query)
    if "X-Amz-Signature" in params:
        return _read_query_claim(params)
    authorization = _header(pairs, "authorization")
    if "Signature" in params or (authorization or "").startswith("AWS "):
        return _failure("InvalidRequest")
    if authorization is None:
        return _failure("AccessDenied")
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != _ALGORITHM:
        return _failure("AuthorizationHeaderMalformed", f"Only {_ALGORITHM} signatures are accepted.")
    fields = {}
    for item in rest.split(","):
        name, _, value = item.strip().partition("=")
        fields[name] = value
    timestamp = _header(pairs, "x-amz-date") or _date_header_timestamp(_header(pairs, "date"))
    try:
        return _claim(fields["Credential"], fields["SignedHeaders"], fields["Signature"], timestamp,
                      _header(pairs, "x-amz-security-token"), None)
    except (KeyError, ValueError):
        return _failure("AuthorizationHeaderMalformed")


def _read_query_claim(params: dict[str, str]) -> _Claim | AuthFailure:
    try:
        if params["X-Amz-Algorithm"] != _ALGORITHM:
            raise ValueError("algorithm")
        expires = int(params["X-Amz-Expires"])
        if not 0 < expires <= MAX_PRESIGN_SECONDS:
            return _failure("AuthorizationQueryParametersError",
                            f"X-Amz-Expires must be between 1 and {MAX_PRESIGN_SECONDS} seconds.")
        return _claim(params["X-Amz-Credential"], params["X-Amz-SignedHeaders"], params["X-Amz-Signature"],
                      params.get("X-Amz-Date"), params.get("X-Amz-Security-Token"), expires)
    except (KeyError, ValueError):
        return _failure("AuthorizationQueryParametersError")


def _claim(credential: str, signed_headers: str, signature: str, timestamp: str | None,
           token: str | None, expires: int | None) -> _Claim:
    access_key, date, region, service, terminator = credential.split("/")
    if terminator != "aws4_request" or not timestamp or not timestamp.startswith(date):
        raise ValueError("credential scope")
    time.strptime(timestamp, _TIMESTAMP)  # ValueError when malformed
    names = tuple(signed_headers.lower().split(";"))
    return _Claim(access_key, date, region, service, names, signature, timestamp, token, expires)


def _date_header_timestamp(value: str | None) -> str | None:
    from email.utils import parsedate_tz

    parsed = parsedate_tz(value) if value else None
    return time.strftime(_TIMESTAMP, time.gmtime(calendar.timegm(parsed[:9]))) if parsed else None


def _check_time(claim: _Claim, now: float) -> AuthFailure | None:
    signed_at = calendar.timegm(time.strptime(claim.timestamp, _TIMESTAMP))
    if claim.expires is None:
        if abs(now - signed_at) > MAX_SKEW_SECONDS:
            return _failure("RequestTimeTooSkewed")
        return None
    if now > signed_at + claim.expires:
        return _failure("AccessDenied", "Request has expired")
    if signed_at - now > MAX_SKEW_SECONDS:
        return _failure("AccessDenied", "Request is not valid yet")
    return None


def _expected_signature(
    method: str,
    scheme: str,
    path: str,
    query: list[tuple[str, str]],
    pairs: list[tuple[str, str]],
    body: bytes,
    claim: _Claim,
    creds: TestCredentials,
) -> str | None:
    """The signature botocore computes for this request, or ``None`` if a signed header is missing."""
    from botocore import auth
    from botocore.awsrequest import AWSRequest
    from botocore.compat import HTTPHeaders
    from botocore.credentials import Credentials

    received = HTTPHeaders()
    for name, value in pairs:
        received[name] = value
    signed = HTTPHeaders()
    for name in claim.signed_headers:
        values = received.get_all(name)
        if not values:
            return None
        for value in values:
            signed[name] = value

    presigned = claim.expires is not None
    if claim.service == "s3":
        base = auth.S3SigV4QueryAuth if presigned else auth.S3SigV4Auth
    else:
        base = auth.SigV4QueryAuth if presigned else auth.SigV4Auth

    class _Verifier(base):  # type: ignore[valid-type, misc]
        def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
            return signed

    host = received.get("host", "")
    request = AWSRequest(method=method, url=f"{scheme}://{host}{path}", data=body)
    request.headers = received
    request.params = [(k, v) for k, v in query if k != "X-Amz-Signature"]
    request.context["timestamp"] = claim.timestamp
    signer = _Verifier(Credentials(creds.access_key, creds.secret_key, creds.session_token),
                       claim.service, claim.region)
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))


def _check_payload_hash(pairs: list[tuple[str, str]], body: bytes) -> AuthFailure | None:
    claimed = _header(pairs, "x-amz-content-sha256")
    if claimed is None or claimed.startswith(_UNHASHED_PAYLOADS):
        return None
    if claimed != hashlib.sha256(body).hexdigest():
        return _failure("XAmzContentSHA256Mismatch")
    return None
