"""boto3 values to and from JSON text, the way the AWS CLI v2 writes them: blobs as base64,
timestamps as ISO 8601."""

from __future__ import annotations

import base64
import binascii
import datetime
from typing import Any

__all__ = ["BINARY_FORMATS", "decode_blobs", "json_default"]

#: ``--binary``: ``base64`` (blob parameters are given as base64, as blobs come out) or
#: ``raw-in-base64-out`` (blob parameters are taken as text, UTF-8 encoded); the AWS CLI's names.
BINARY_FORMATS = ("base64", "raw-in-base64-out")


def decode_blobs(value: Any, shape: Any, path: str = "") -> Any:
    """``value`` (parameters read from JSON) with every base64 text in a blob member decoded to
    bytes, following ``shape`` (botocore's input shape); ``ValueError`` naming the member when a
    text is not base64. Members the shape does not know are left for the validator to name."""
    if shape is None:
        return value
    kind = shape.type_name
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{path or 'the value'} is a blob: give it as base64 (or use --binary "
                             "raw-in-base64-out)") from None
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {key: decode_blobs(item, members.get(key), f"{path}.{key}" if path else key)
                for key, item in value.items()}
    if kind == "list" and isinstance(value, list):
        return [decode_blobs(item, shape.member, f"{path}[{i}]") for i, item in enumerate(value)]
    if kind == "map" and isinstance(value, dict):
        return {key: decode_blobs(item, shape.value, f"{path}.{key}") for key, item in value.items()}
    return value


def json_default(value: Any) -> Any:
    """For :func:`json.dumps`: bytes (and a streaming body, read whole) as base64 text,
    timestamps as ISO 8601."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    read = getattr(value, "read", None)
    if callable(read):  # botocore's StreamingBody
        return base64.b64encode(read()).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
