"""Fast header-signed requests for JSON-protocol operations (DynamoDB, KMS, SQS, Kinesis...):
botocore's serializer, one hash of the canonical request and one HMAC per request.

A botocore client call runs its whole pipeline per request (events, endpoint rules, the user
agent, a generic SigV4 signer): about 330 µs for a DynamoDB ``GetItem`` here, as much as the boto3
call itself. For a JSON-protocol operation everything but the body, the timestamp, the invocation
id and the signature is the same from one request to the next, for the same table (or whatever
input member the endpoint rules read) and the same credentials. This path serializes the body with
botocore's own serializer (validation included) and signs the rest from a template.

It never guesses: the first request of each (operation, endpoint-rule inputs, access key) goes
through botocore, and the template read off it is kept only if rebuilding that very request here
(botocore's timestamp and invocation id) gives the same bytes, headers and signature included.
Operations whose request can vary in other ways stay on botocore's path for good: a host prefix,
endpoint discovery, request checksums or compression, idempotency tokens filled in by botocore,
endpoint rules reading more than plain members, streaming, other protocols.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from botocore.handlers import add_recursion_detection_header
from botocore.serialize import create_serializer

from awspar._botocore_compat import protocol_of
from awspar.signer import sigv4
from awspar.signer.s3presign import epoch_of_amz_date
from awspar.signer.sigv4 import Second, SigningSeconds, host_of

__all__ = ["FastJsonSigner"]

#: ``slow(operation, params) -> (method, url, headers, body)``: botocore's own signed request.
SlowSign = Callable[[str, dict[str, Any]], tuple[str, str, dict[str, str], bytes]]
Lifted = tuple[str, str, dict[str, str], bytes]

_MAX_TEMPLATES = 4096
_UNKNOWN: Any = object()
_TRACE = "X-Amzn-Trace-Id"  # botocore adds it in AWS Lambda, outside the signature
# Headers whose values differ per request; every other one is copied from the template.
_PER_REQUEST = frozenset({"x-amz-date", "amz-sdk-invocation-id", "content-length", "x-amz-security-token",
                          "authorization", _TRACE.lower()})


@dataclass(frozen=True)
class _Template:
    """One operation's request as botocore shaped it, minus what changes per request."""

    url: str
    host: str
    region: str
    service: str
    headers: tuple[tuple[str, str], ...]  # in botocore's order; per-request values as placeholders
    signed: tuple[str, ...]  # lower-cased, sorted: the Authorization header's SignedHeaders
    traced: bool  # botocore added X-Amzn-Trace-Id


class FastJsonSigner:
    """Signs JSON-protocol requests of one client from per-operation templates (see the module
    docstring); :meth:`sign` answers ``None`` for what stays on botocore's path. Thread-safe."""

    def __init__(self, client: Any, credentials: Any, slow: SlowSign) -> None:
        self._model = client.meta.service_model
        self._credentials = credentials
        self._slow = slow
        self._serializer = create_serializer(protocol_of(self._model),
                                             include_validation=client.meta.config.parameter_validation)
        self._members: dict[str, tuple[str, ...] | None] = {}  # operation -> endpoint-rule members, or None
        self._templates: dict[tuple[Any, ...], _Template | None] = {}
        self._seconds = SigningSeconds(credentials)
        self._lock = threading.Lock()

    def sign(self, operation: str, params: dict[str, Any], *, calibrate: bool = True) -> Lifted | None:
        """The signed request for ``operation`` (PascalCase) with ``params``, or ``None`` when it
        is not one this path serves (nor, with ``calibrate=False``, one whose template is still to
        be learnt from botocore). Raises botocore's ``ParamValidationError`` like a call would."""
        if self._credentials is None:
            return None
        members = self._members.get(operation, _UNKNOWN)
        if members is _UNKNOWN:
            members = self._members.setdefault(operation, _rule_members(self._model.operation_model(operation)))
        if members is None:
            return None
        state = self._seconds.at(int(sigv4.wall_clock()))
        key = (operation, state.access_key, *(_hashable(params.get(m)) for m in members))
        template = self._templates.get(key)
        if template is None:
            if key in self._templates or not calibrate:
                return None
            return self._calibrate(key, operation, params)
        trace = _trace_header()
        if (trace is not None) != template.traced:
            return None
        body = self._serializer.serialize_to_request(params, self._model.operation_model(operation))["body"]
        try:
            return self._build(template, state, body, str(uuid.uuid4()), trace)
        except _Mismatch:  # the credentials gained or lost a session token since
            return None

    def _build(self, t: _Template, s: Second, body: bytes, invocation: str, trace: str | None) -> Lifted:
        headers: dict[str, str] = {}
        for name, value in t.headers:
            lowered = name.lower()
            if lowered in _PER_REQUEST:
                if lowered == "x-amz-date":
                    value = s.amz_date
                elif lowered == "amz-sdk-invocation-id":
                    value = invocation
                elif lowered == "content-length":
                    value = str(len(body))
                elif lowered == "x-amz-security-token":
                    if s.token is None:
                        raise _Mismatch
                    value = s.token
                elif lowered == _TRACE.lower():
                    value = trace or ""
            headers[name] = value
        if s.token is not None and "X-Amz-Security-Token" not in headers:
            raise _Mismatch
        lowered_headers = {name.lower(): value for name, value in headers.items()}
        lowered_headers["host"] = t.host
        canonical_headers = "".join(f"{name}:{' '.join(lowered_headers[name].split())}\n" for name in t.signed)
        signed = ";".join(t.signed)
        canonical = f"POST\n/\n\n{canonical_headers}\n{signed}\n{hashlib.sha256(body).hexdigest()}"
        scope = f"{s.amz_date[:8]}/{t.region}/{t.service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{s.amz_date}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
        signature = hmac.digest(self._seconds.signing_key(s, t.region, t.service), to_sign.encode("utf-8"),
                                "sha256").hex()
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={s.access_key}/{scope}, "
                                    f"SignedHeaders={signed}, Signature={signature}")
        return "POST", t.url, headers, body

    def _calibrate(self, key: tuple[Any, ...], operation: str, params: dict[str, Any]) -> Lifted:
        """botocore's request for ``params``; its template kept if rebuilding it gives the same bytes."""
        lifted = self._slow(operation, params)
        template = _read_template(lifted)
        if template is not None:
            method, url, headers, body = lifted
            stamp = epoch_of_amz_date(headers.get("X-Amz-Date", ""))
            try:
                rebuilt = None if stamp is None else self._build(
                    template, self._seconds.at(stamp), body, headers.get("amz-sdk-invocation-id", ""),
                    headers.get(_TRACE))
            except _Mismatch:
                rebuilt = None
            if rebuilt != lifted:
                template = None
        with self._lock:
            if len(self._templates) >= _MAX_TEMPLATES:
                self._templates = {}
            self._templates[key] = template
        return lifted


class _Mismatch(Exception):
    """The request no longer has its template's shape."""


def _rule_members(model: Any) -> tuple[str, ...] | None:
    """The input members the endpoint rules read (their values key the templates), or None when
    the operation's request can vary in ways a template cannot follow."""
    if (protocol_of(model.service_model) != "json" or model.http.get("method") != "POST"
            or model.http.get("requestUri", "/") != "/" or model.endpoint or model.endpoint_discovery
            or model.is_endpoint_discovery_operation or model.http_checksum or model.http_checksum_required
            or model.request_compression or model.has_streaming_input or model.has_streaming_output
            or model.has_event_stream_input or model.has_event_stream_output or model.idempotent_members
            or model.operation_context_parameters or model.unsigned_payload):
        return None
    return tuple(parameter.member_name for parameter in model.context_parameters)


def _read_template(lifted: Lifted) -> _Template | None:
    method, url, headers, _ = lifted
    parts = urlsplit(url)
    host = host_of(parts)
    authorization = headers.get("Authorization", "")
    if method != "POST" or parts.path != "/" or parts.query or host is None \
            or not authorization.startswith("AWS4-HMAC-SHA256 Credential="):
        return None
    fields = dict(item.strip().partition("=")[::2] for item in authorization[len("AWS4-HMAC-SHA256 "):].split(","))
    scope = fields.get("Credential", "").split("/")
    signed = tuple(fields.get("SignedHeaders", "").split(";"))
    if len(scope) != 5 or scope[4] != "aws4_request" or list(signed) != sorted(signed) or "host" not in signed:
        return None
    names = {name.lower() for name in headers} | {"host"}
    if not set(signed) <= names or _TRACE.lower() in signed:
        return None
    return _Template(url, host, scope[2], scope[3], tuple(headers.items()), signed, _TRACE in headers)


def _trace_header() -> str | None:
    """The X-Amzn-Trace-Id botocore would add now (in AWS Lambda, from its environment)."""
    probe: dict[str, Any] = {"headers": {}}
    add_recursion_detection_header(probe)
    value: str | None = probe["headers"].get(_TRACE)
    return value


def _hashable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value
