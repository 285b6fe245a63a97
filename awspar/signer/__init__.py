"""Lifts fully signed requests out of botocore as plain data: the one place awspar signs.

A :class:`Signer` holds one botocore client per service and calls it the way boto3 would. Its
documented ``before-send`` event hands over the request botocore has serialized, addressed and
signed, and answers with an empty 200 so that nothing is sent. What comes out is a
:class:`~awspar._models.SignedRequest`: exactly what boto3 would have sent (method, URL, signed
headers, body) for any operation of any service, with every per-operation customisation
(S3 addressing, checksums, host prefixes, signing names such as ``bedrock`` for
``bedrock-runtime``) applied by botocore itself.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import botocore.exceptions
import botocore.session
from botocore import UNSIGNED, xform_name
from botocore.config import Config

from awspar import _log_redact
from awspar._botocore_compat import credential_expiry, header_items, protocol_of
from awspar._endpoint_url import check_endpoint_url, configured_endpoint_error
from awspar._errors import (
    AwsparError,
    ConfigurationError,
    NoCredentialsError,
    ParamValidationError,
    UnknownOperationError,
    UnknownServiceError,
)
from awspar._models import SignedRequest
from awspar._suggest import did_you_mean
from awspar.signer.fastjson import FastJsonSigner
from awspar.signer.s3presign import FAST_OPERATIONS, FastS3Presigner, epoch_of_amz_date, signed_at_of_url

__all__ = ["HEADER_SIGNATURE_LIFETIME", "MAX_PRESIGN_EXPIRES", "Signer", "botocore_session"]

#: Seconds a header-signed request stays fresh after its ``X-Amz-Date`` (AWS allows 15 minutes of
#: clock skew; 5 minutes is the safe bound awspar re-signs at).
HEADER_SIGNATURE_LIFETIME = 300
#: The longest a SigV4 presigned URL may live: 7 days.
MAX_PRESIGN_EXPIRES = 604800
# Headers botocore's own HTTP layer acts on but an engine sending a bytes body must not copy:
# the body goes out whole with a Content-Length. Neither is signed.
_TRANSPORT_HEADERS = frozenset({"expect", "transfer-encoding"})
_SIGV2 = frozenset({"s3", "s3-query", "s3-presign-post", "v2"})
# The value botocore quotes in a validation report line: "..., value: <it>, type: ..."
_REPORTED_VALUE = re.compile(r"value: .*?(, type:|, valid|$)")
# The list of signed header names in a SigV4 Authorization header: "..., SignedHeaders=a;b;c, ..."
_SIGNED_HEADERS = re.compile(r"SignedHeaders=([^,\s]*)")

_log_redact.install()  # botocore's and urllib3's debug logs never show a signature or a token


class _Captured(Exception):
    """Carries the request lifted at ``before-send`` out of the botocore call that made it."""

    def __init__(self, request: tuple[str, str, dict[str, str], bytes]) -> None:
        super().__init__("request captured")
        self.request = request


class Signer:
    """Signs requests for one AWS service, exactly as boto3 would send them.

    Built from a boto3 ``Session`` (or the default credential chain, or ``profile``) with the
    usual client options, or from a botocore ``Session`` (see :func:`botocore_session`: the same
    requests with botocore's ``User-Agent``, and boto3 is never imported); the standard settings apply as they do for boto3 (``AWS_PROFILE``,
    ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_<SERVICE>``,
    ``~/.aws/config``), and ``AWS_REGION`` when boto3 finds no region (region order: ``region``,
    the session's, ``AWS_REGION``). S3 always signs with SigV4 (``signature_version="s3v4"`` unless the given
    ``config`` chooses another SigV4 variant or ``UNSIGNED``).

    One client serves every call. A Signer may be shared between threads (engines re-sign from
    several): botocore clients are thread-safe and each thread captures into its own slot.

    >>> signer = Signer("s3", region="us-east-1")  # doctest: +SKIP
    >>> request = signer.sign("get_object", {"Bucket": "demo", "Key": "hello.txt"})  # doctest: +SKIP
    >>> url = signer.presign("GetObject", {"Bucket": "demo", "Key": "a.txt"}, expires_in=600).url  # doctest: +SKIP
    """

    def __init__(
        self,
        service: str,
        *,
        session: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        config: Config | None = None,
        profile: str | None = None,
    ) -> None:
        if endpoint_url is not None:
            check_endpoint_url(service, endpoint_url, given=True)
        session = _client_session(session, profile)
        if service == "s3":
            config = _s3_sigv4_config(config)
        try:
            # boto3 reads AWS_DEFAULT_REGION and the profile, not AWS_REGION; awspar takes that too.
            region = region or session.region_name or os.environ.get("AWS_REGION") or None
            self._client = session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)
        except botocore.exceptions.UnknownServiceError:
            raise UnknownServiceError(
                f"unknown service {service!r}{did_you_mean(service, session.get_available_services())}",
                service=service,
            ) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise _translate(exc, service) from None
        except ValueError as exc:  # botocore's "Invalid endpoint" for an AWS_ENDPOINT_URL* it cannot take
            raise configured_endpoint_error(service, exc) from None
        if endpoint_url is None:  # one botocore took (ftp://...) but no request could be sent to
            check_endpoint_url(service, self._client.meta.endpoint_url, given=False)
        self.service = service
        self._credentials = session.get_credentials()
        model = self._client.meta.service_model
        self._operations: dict[str, tuple[str, str]] = {}
        for name in model.operation_names:
            self._operations[name] = self._operations[xform_name(name)] = (name, xform_name(name))
        self._sensitive: dict[str, frozenset[str]] = {}
        self._local = threading.local()
        self._client.meta.events.register("before-send", self._capture_and_stop)
        self._client.meta.events.register("before-sign", self._remember_request)
        self._fast = FastS3Presigner(self._credentials, self._botocore_presign) if service == "s3" else None
        self._fast_json = (FastJsonSigner(self._client, self._credentials, self._botocore_sign)
                           if protocol_of(model) == "json" else None)
        _log_redact.install()  # again: making the client loaded botocore modules with loggers of their own

    def __repr__(self) -> str:
        return f"Signer(service={self.service!r}, region={self.region!r}, endpoint_url={self.endpoint_url!r})"

    @property
    def region(self) -> str | None:
        """The region requests are signed for."""
        return self._client.meta.region_name

    @property
    def endpoint_url(self) -> str:
        """The endpoint botocore resolved for the client (before per-request rules such as S3
        virtual-host addressing)."""
        return str(self._client.meta.endpoint_url)

    def operation_model(self, operation: str) -> Any:
        """botocore's ``OperationModel`` for ``operation`` (snake_case or PascalCase)."""
        return self._client.meta.service_model.operation_model(self._resolve(operation)[0])

    def sign(self, operation: str, params: Mapping[str, Any] | None = None) -> SignedRequest:
        """The signed request boto3 would send for ``operation`` with ``params``.

        ``operation`` is boto3's snake_case method name or the API's PascalCase name. A streaming
        body (e.g. PutObject's ``Body`` as a file object) is read once, whole, into bytes: the
        request is plain data. botocore's ``Expect``/``Transfer-Encoding`` headers (unsigned; its
        own HTTP layer acts on them) give way to a ``Content-Length`` for that body. ``params``
        are kept on the request for :meth:`resign` only when they are plain JSON data with no
        value for a sensitive member (passwords, SSE-C keys).
        """
        request = self._sign(operation, params, fast_only=False)
        assert request is not None
        return request

    def sign_fast(self, operation: str, params: Mapping[str, Any] | None = None) -> SignedRequest | None:
        """:meth:`sign` when a fast path serves the request (tens of microseconds, no botocore
        pipeline: what an event loop may do inline), else ``None``; then :meth:`sign` it, off the loop."""
        return self._sign(operation, params, fast_only=True)

    def _sign(self, operation: str, params: Mapping[str, Any] | None, *, fast_only: bool) -> SignedRequest | None:
        name, _ = self._resolve(operation)
        params = dict(params or {})
        kept = self._keepable(name, params)  # before botocore sees them
        try:
            lifted = self._fast_json.sign(name, params, calibrate=not fast_only) if self._fast_json is not None else None
            if lifted is None and fast_only:
                return None
            http_method, url, headers, body = lifted or self._botocore_sign(name, params)
        except botocore.exceptions.ParamValidationError as exc:
            raise self._validation_error(name, exc) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise _translate(exc, self.service, name) from None
        stamp = epoch_of_amz_date(headers.get("X-Amz-Date", ""))
        expires_at = None if stamp is None else self._cap(stamp + HEADER_SIGNATURE_LIFETIME)
        return SignedRequest(http_method, url, headers, body, f"{self.service}.{name}", expires_at, kept)

    def validate(self, operation: str, params: Mapping[str, Any]) -> None:
        """Check ``params`` against the operation's input shape as :meth:`sign` would (botocore's
        validator), without signing: :class:`~awspar.ParamValidationError` in one line, the values
        of sensitive members hidden."""
        from botocore.validate import validate_parameters

        name = self._resolve(operation)[0]
        shape = self.operation_model(name).input_shape
        if shape is None:
            if params:
                raise ParamValidationError(f"{self.service}.{name} takes no parameters, got: {', '.join(params)}",
                                           service=self.service, operation=name)
            return
        try:
            validate_parameters(params, shape)
        except botocore.exceptions.ParamValidationError as exc:
            raise self._validation_error(name, exc) from None

    def sign_many(self, operation: str, params_iterable: Iterable[Mapping[str, Any]]) -> Iterator[SignedRequest]:
        """Lazily :meth:`sign` each parameter dict: one signed request in memory at a time."""
        for params in params_iterable:
            yield self.sign(operation, params)

    def presign(
        self, operation: str, params: Mapping[str, Any] | None = None, *, expires_in: int = 3600
    ) -> SignedRequest:
        """A presigned (SigV4 query-signed) request valid for ``expires_in`` seconds.

        The URL is the request; ``headers`` holds any header the signature covers besides
        ``Host`` (e.g. ``Content-Type`` when given), which the sender must send as they are.
        S3 GetObject, HeadObject and PutObject with just ``Bucket`` and ``Key`` take a fast path
        whose URLs are byte-identical to boto3's ``generate_presigned_url`` (s3v4), and so do a
        PutObject with a checksum, ContentType, Metadata or StorageClass and an UploadPart with a
        checksum (see :mod:`awspar.signer.s3presign`).
        ``expires_at`` is the URL's expiry, capped by the credentials' own.
        """
        name, method = self._resolve(operation)
        if type(expires_in) is not int or not 1 <= expires_in <= MAX_PRESIGN_EXPIRES:
            raise ConfigurationError(
                f"expires_in must be a whole number of seconds from 1 to {MAX_PRESIGN_EXPIRES} (7 days)"
            )
        params = dict(params or {})
        kept = self._keepable(name, params)
        operation_id = f"{self.service}.{name}"
        fast = self._fast.presign(name, params, expires_in) if self._fast is not None else None
        if fast is not None:
            fast_url, fast_expires_at, fast_headers = fast
            return SignedRequest(FAST_OPERATIONS[name], fast_url, fast_headers, b"", operation_id, fast_expires_at,
                                 kept)
        local = self._local
        local.presigned = None
        try:
            url = self._client.generate_presigned_url(method, Params=params, ExpiresIn=expires_in)
            request = local.presigned
        except botocore.exceptions.ParamValidationError as exc:
            raise self._validation_error(name, exc) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise _translate(exc, self.service, name) from None
        finally:
            local.presigned = None
        http_method = request.method if request is not None else self.operation_model(name).http["method"]
        headers = {} if request is None else _text_headers(request.headers.items())
        stamp = signed_at_of_url(url)
        expires_at = None if stamp is None else self._cap(stamp + expires_in)
        return SignedRequest(http_method, url, headers, b"", operation_id, expires_at, kept)

    def presign_many(
        self, operation: str, params_iterable: Iterable[Mapping[str, Any]], *, expires_in: int = 3600
    ) -> Iterator[SignedRequest]:
        """Lazily :meth:`presign` each parameter dict."""
        for params in params_iterable:
            yield self.presign(operation, params, expires_in=expires_in)

    def resign(self, request: SignedRequest) -> SignedRequest:
        """A freshly signed copy of ``request`` (same operation and parameters, same kind:
        header-signed or presigned with the same lifetime). Engines call it for stale requests.

        Headers the caller added after signing, outside the signature (an unsigned ``Range`` or
        ``If-Match`` on a presigned S3 GET), are carried over as they are: any header of
        ``request`` that its signature does not cover (not in ``X-Amz-SignedHeaders``, or in the
        ``Authorization`` header's ``SignedHeaders``) and that the fresh request does not set.
        The body of a presigned request (a PUT's bytes: its signature does not cover them) is
        carried over too.
        """
        fresh = self._resign_from_params(request)
        if request.body and not fresh.body and "X-Amz-Signature=" in fresh.url:
            fresh = dataclasses.replace(fresh, body=request.body)
        added = _unsigned_headers(request)
        taken = {name.lower() for name in fresh.headers}
        extra = {name: value for name, value in added.items() if name.lower() not in taken}
        return dataclasses.replace(fresh, headers={**fresh.headers, **extra}) if extra else fresh

    def _resign_from_params(self, request: SignedRequest) -> SignedRequest:
        """``request`` signed anew from its operation and kept parameters alone."""
        if request.params is None:
            raise ConfigurationError(
                f"cannot re-sign {request.operation or 'this request'}: its parameters were not kept "
                "(they were not plain JSON data, or the operation has sensitive input)"
            )
        if request.service != self.service:
            raise ConfigurationError(f"cannot re-sign {request.operation} with a signer for {self.service!r}")
        if "Authorization" not in request.headers and "X-Amz-Signature=" in request.url:
            expires = parse_qs(urlsplit(request.url).query).get("X-Amz-Expires", ["3600"])[0]
            return self.presign(request.operation_name, request.params, expires_in=int(expires))
        return self.sign(request.operation_name, request.params)

    # -- botocore event handlers ------------------------------------------------------------

    def _capture_and_stop(self, request: Any, event_name: str, **_: Any) -> None:
        """``before-send``: lift the signed request as plain data and stop the call right there.

        Raising (rather than answering with a fake response) spares botocore parsing a response,
        the after-call handlers and its retry bookkeeping: botocore hands an exception raised here
        to its retry handler, which does not retry an unknown exception, and re-raises it.
        A call botocore makes on its own first (endpoint discovery, for Timestream) is let
        through: boto3 needs its answer to address the request awspar is signing.
        """
        operation = event_name.rpartition(".")[2]
        if operation == getattr(self._local, "operation", None):
            raise _Captured(_lift(request))

    def _remember_request(self, request: Any, **_: Any) -> None:
        """``before-sign``: remember the request a presigned URL is made from, to read the headers
        its signature covers once botocore has signed it."""
        self._local.presigned = request

    # -- helpers ------------------------------------------------------------------------------

    def _botocore_sign(self, name: str, params: dict[str, Any]) -> tuple[str, str, dict[str, str], bytes]:
        """The request botocore's client call makes for ``name`` (PascalCase), lifted at before-send."""
        self._local.operation = name
        try:
            getattr(self._client, self._operations[name][1])(**params)
        except _Captured as captured:
            return captured.request
        finally:
            self._local.operation = None
        raise AwsparError(f"{self.service}.{name}: botocore sent no request to capture")  # pragma: no cover

    def _botocore_presign(self, operation: str, params: dict[str, Any], expires_in: int) -> str:
        return str(self._client.generate_presigned_url(
            self._operations[operation][1], Params=params, ExpiresIn=expires_in
        ))

    def _resolve(self, operation: str) -> tuple[str, str]:
        try:
            return self._operations[operation]
        except KeyError:
            hint = did_you_mean(operation, {alias: names[0] for alias, names in self._operations.items()})
            raise UnknownOperationError(
                f"{self.service} has no operation {operation!r}{hint}",
                service=self.service,
                operation=operation,
            ) from None

    def _cap(self, expires_at: float) -> float:
        """``expires_at``, no later than the credentials' own expiry."""
        expiry = credential_expiry(self._credentials)
        return expires_at if expiry is None else min(expires_at, expiry)

    def _keepable(self, name: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """A JSON-plain copy of ``params`` to re-sign from, or None (not plain data, or a value
        given for a sensitive member such as a password or SSE-C key)."""
        if not self._sensitive_members(name).isdisjoint(params):
            return None
        try:
            return _plain_copy(params)
        except TypeError:
            return None

    def _sensitive_members(self, name: str) -> frozenset[str]:
        """The operation's top-level parameters that are, or hold, sensitive data."""
        members = self._sensitive.get(name)
        if members is None:
            shape = self.operation_model(name).input_shape
            items = shape.members.items() if shape is not None else ()
            members = self._sensitive[name] = frozenset(key for key, member in items if _has_sensitive(member, set()))
        return members

    def _validation_error(self, name: str, exc: Exception) -> ParamValidationError:
        """botocore's validation report in one line, values of sensitive parameters hidden."""
        sensitive = self._sensitive_members(name)
        lines = [
            _REPORTED_VALUE.sub(r"value: ***\1", line)
            if any(f"parameter {member}" in line for member in sensitive) else line
            for line in str(exc).splitlines()
        ]
        message = " ".join(" ".join(lines).split())
        return ParamValidationError(f"{self.service}.{name}: {message}", service=self.service, operation=name)


def botocore_session(profile: str | None = None) -> botocore.session.Session:
    """A botocore session for ``profile`` (or ``AWS_PROFILE``, or the default chain), checked now.

    What :func:`awspar.s3.get_objects` signs with unless given a session: presigned URLs are the
    same as through boto3, and not importing boto3 (and the s3transfer it loads) saves about
    40 ms of start-up per process (a CLI run, a Lambda cold start).
    """
    session = botocore.session.Session(profile=profile)
    try:
        session.get_scoped_config()
    except botocore.exceptions.BotoCoreError as exc:  # no such profile, a config file that does not parse
        raise _config_error(exc, profile) from None
    return _sharing_models(session)  # after the check: making the first loader reads the profile too


_MODELS: list[Any] = []  # the process's one botocore data loader, once a session of awspar's has made it


def _sharing_models(session: botocore.session.Session) -> botocore.session.Session:
    """``session`` (one awspar made) reading service models through the process's one loader,
    whose cache keeps every model parsed once: a second Signer costs ~6 ms instead of ~90 ms
    (the S3 model's JSON read and parsed again). Credentials stay the session's own."""
    if _MODELS:
        session.register_component("data_loader", _MODELS[0])
    else:
        _MODELS.append(session.get_component("data_loader"))
    return session


class _BotocoreSession:
    """A botocore session seen through the four boto3 ``Session`` members the Signer uses."""

    def __init__(self, session: botocore.session.Session) -> None:
        self._session = session

    @property
    def region_name(self) -> str | None:
        region: str | None = self._session.get_config_variable("region")
        return region

    def client(self, service: str, **options: Any) -> Any:
        return self._session.create_client(service, **options)

    def get_available_services(self) -> list[str]:
        services: list[str] = self._session.get_available_services()
        return services

    def get_credentials(self) -> Any:
        return self._session.get_credentials()


def _client_session(session: Any, profile: str | None) -> Any:
    """What to build clients from: the boto3 Session given, a botocore one as is, or a new boto3
    Session (the default chain, or ``profile``)."""
    if session is not None and profile is not None:
        raise ConfigurationError("pass either session= or profile=, not both")
    if isinstance(session, botocore.session.Session):
        return _BotocoreSession(session)
    if session is not None:
        return session
    import boto3  # here only: a Signer built on a botocore session never loads boto3

    try:
        made = boto3.Session(profile_name=profile)
    except botocore.exceptions.BotoCoreError as exc:
        raise _config_error(exc, profile) from None
    _sharing_models(made._session)
    return made


def _config_error(exc: Exception, profile: str | None) -> ConfigurationError:
    """A profile or config-file error from botocore, in one line."""
    return ConfigurationError(" ".join(str(exc).split()), profile=profile)


def _s3_sigv4_config(config: Config | None) -> Config:
    """S3 signs with SigV4 always: boto3 still presigns S3 with SigV2 unless told otherwise."""
    version = None if config is None else config.signature_version
    if version is UNSIGNED or (version is not None and version not in _SIGV2):
        return config  # type: ignore[return-value]
    if version is not None:
        raise ConfigurationError(f"awspar signs S3 with SigV4 only, not signature_version={version!r}")
    sigv4 = Config(signature_version="s3v4")
    return sigv4 if config is None else config.merge(sigv4)


def _lift(request: Any) -> tuple[str, str, dict[str, str], bytes]:
    """A botocore ``AWSPreparedRequest`` as ``(method, url, headers, body)`` plain data, the body
    read whole into bytes."""
    body = _read_body(request.body)
    headers = _text_headers(
        (name, value) for name, value in header_items(request.headers) if name.lower() not in _TRANSPORT_HEADERS
    )
    if body and not any(name.lower() == "content-length" for name in headers):
        headers["Content-Length"] = str(len(body))
    return request.method, request.url, headers, body


def _unsigned_headers(request: SignedRequest) -> dict[str, str]:
    """The headers of ``request`` its SigV4 signature does not cover (``Authorization`` aside)."""
    if "X-Amz-Signature=" in request.url and not any(name.lower() == "authorization" for name in request.headers):
        listed = parse_qs(urlsplit(request.url).query).get("X-Amz-SignedHeaders", [""])[0]
    else:
        authorization = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
        found = _SIGNED_HEADERS.search(authorization)
        listed = found.group(1) if found else ""
    signed = {name.strip().lower() for name in listed.split(";")} | {"authorization"}
    return {name: value for name, value in request.headers.items() if name.lower() not in signed}


def _text_headers(items: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """Header values as text: botocore signs the text and sends it UTF-8 encoded."""
    return {
        str(name): value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else str(value)
        for name, value in items
    }


def _read_body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    data = body.read()
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _plain_copy(value: Any) -> Any:
    """A copy made only of dict/list/str/int/float/bool/None; TypeError for anything else."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        copy = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(key)
            copy[key] = _plain_copy(item)
        return copy
    if isinstance(value, (list, tuple)):
        return [_plain_copy(item) for item in value]
    raise TypeError(type(value).__name__)


def _has_sensitive(shape: Any, seen: set[str]) -> bool:
    """True when ``shape`` or anything inside it is marked sensitive (passwords, secrets)."""
    if shape is None or shape.name in seen:
        return False
    seen.add(shape.name)
    if shape.metadata.get("sensitive"):
        return True
    if shape.type_name == "structure":
        return any(_has_sensitive(member, seen) for member in shape.members.values())
    if shape.type_name == "list":
        return _has_sensitive(shape.member, seen)
    if shape.type_name == "map":
        return _has_sensitive(shape.key, seen) or _has_sensitive(shape.value, seen)
    return False


def _translate(exc: Exception, service: str, operation: str | None = None) -> ConfigurationError:
    """botocore's configuration errors as awspar's, in one line and without secrets. The hints name
    the settings that the library and the command line share, not one front-end's arguments."""
    where = f"{service}.{operation}" if operation else service
    if isinstance(exc, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError,
                        botocore.exceptions.NoAuthTokenError)):
        return NoCredentialsError(
            f"{where}: no AWS credentials (or SSO token) found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY, or run `aws configure` / `aws sso login`",
            service=service,
        )
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return ConfigurationError(f"{where}: no region: set AWS_REGION, or a region in ~/.aws/config", service=service)
    return ConfigurationError(f"{where}: {' '.join(str(exc).split())}", service=service)
