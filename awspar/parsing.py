"""Raw HTTP responses back into what boto3 returns: botocore's own parsers and handlers.

:func:`parse` takes the operation (or the :class:`~awspar._models.SignedRequest` it was sent for)
and the response's status, headers and body, and returns the dict boto3 would have returned, or
raises :class:`~awspar._errors.ServiceError` with the error code, message, HTTP status and request
id (S3 XML, JSON, query and every other protocol botocore parses). It runs the same documented
``before-parse`` and ``after-call`` events a boto3 client runs, so S3's 200-with-an-error bodies,
URL-encoded listing keys and GetBucketLocation come out as boto3 gives them. No credentials and no
client are needed: a parse can run anywhere the bytes are.

The functions are exported as ``awspar.parse`` and ``awspar.parse_response``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import Any

import botocore.exceptions
import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.parsers import create_parser

from awspar._botocore_compat import BytesRaw, protocol_of
from awspar._errors import ConfigurationError, ServiceError, UnknownOperationError, UnknownServiceError
from awspar._models import RawResponse, SignedRequest
from awspar._suggest import did_you_mean

__all__ = ["parse", "parse_response"]

_lock = threading.Lock()


def parse(
    request_or_operation: SignedRequest | str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    retry_attempts: int = 0,
) -> dict[str, Any]:
    """The dict boto3 returns for this response, or :class:`ServiceError` for an error response.

    ``request_or_operation`` is the :class:`SignedRequest` that was sent or its operation as
    ``"service.Operation"`` (e.g. ``"s3.GetObject"``). A streaming body (GetObject's ``Body``)
    comes back as botocore's ``StreamingBody`` over the bytes, an event stream (ConverseStream)
    as botocore's ``EventStream``, as boto3 returns them.

    >>> parse("sts.GetCallerIdentity", 200, {}, xml_bytes)["Account"]  # doctest: +SKIP
    """
    if isinstance(request_or_operation, SignedRequest):
        operation, params = request_or_operation.operation, request_or_operation.params
    else:
        operation, params = request_or_operation, None
    service, _, name = operation.partition(".")
    model = _operation_model(service, name)
    service_id = model.service_model.service_id.hyphenize()
    session = _session()
    response_dict: dict[str, Any] = {
        "status_code": status,
        "headers": AWSResponse("", status, headers, None).headers,
        "body": body,
        "context": {"operation_name": name},
    }
    if status < 300 and model.has_event_stream_output:
        response_dict["body"] = BytesRaw(body)
    elif status < 300 and model.has_streaming_output:
        from botocore.response import StreamingBody

        response_dict["body"] = StreamingBody(BytesRaw(body), len(body))
    customized: dict[str, Any] = {}
    session.emit(
        f"before-parse.{service_id}.{name}",
        operation_model=model,
        response_dict=response_dict,
        customized_response_dict=customized,
    )
    parsed = _parser(protocol_of(model.service_model)).parse(response_dict, model.output_shape)
    parsed.update(customized)
    if isinstance(parsed.get("ResponseMetadata"), dict):
        parsed["ResponseMetadata"]["RetryAttempts"] = retry_attempts
    # botocore sets EncodingType=url on S3 listings itself unless the caller chose one, and then
    # decodes the keys back after the call; this flag tells its handler which case this was.
    context: dict[str, Any] = {"encoding_type_auto_set": not (params and "EncodingType" in params)}
    status_code = response_dict["status_code"]
    session.emit(
        f"after-call.{service_id}.{name}",
        http_response=AWSResponse("", status_code, headers, BytesRaw(body)),
        parsed=parsed,
        model=model,
        context=context,
    )
    if status_code >= 300:
        error = parsed.get("Error", {})
        metadata = parsed.get("ResponseMetadata", {})
        raise ServiceError.from_parts(
            code=str(error.get("Code") or status_code),  # boto3's response["Error"]["Code"]
            message=" ".join(str(error.get("Message") or "").split()),
            status=status_code,
            request_id=metadata.get("RequestId") or None,
            operation=operation,
            attempts=retry_attempts + 1,
        )
    return parsed


def parse_response(raw: RawResponse) -> dict[str, Any]:
    """:func:`parse` for what an engine returned; re-raises its transport error if it has one.

    The response must carry the :class:`SignedRequest` it answers (``raw.request``).
    """
    if raw.error is not None:
        raise raw.error
    if raw.request is None:
        raise ConfigurationError("cannot parse a response without its request (RawResponse.request is None)")
    return parse(raw.request, raw.status, raw.headers, raw.body, retry_attempts=max(raw.attempts - 1, 0))


@functools.lru_cache(maxsize=1)
def _session() -> botocore.session.Session:
    """One botocore session for models and the built-in parse handlers (no credentials used)."""
    return botocore.session.get_session()


@functools.lru_cache(maxsize=256)
def _operation_model(service: str, name: str) -> Any:
    session = _session()
    with _lock:  # botocore's loader is not documented as thread-safe
        try:
            service_model = session.get_service_model(service)
        except botocore.exceptions.UnknownServiceError:
            hint = did_you_mean(service, session.get_available_services())
            raise UnknownServiceError(f"unknown service {service!r}{hint}", service=service) from None
    if name not in service_model.operation_names:
        hint = did_you_mean(name, service_model.operation_names)
        raise UnknownOperationError(f"{service} has no operation {name!r}{hint}", service=service, operation=name)
    return service_model.operation_model(name)


@functools.cache
def _parser(protocol: str) -> Any:
    return create_parser(protocol)
