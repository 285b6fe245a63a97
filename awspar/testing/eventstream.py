"""Encode AWS event-stream messages (``application/vnd.amazon.eventstream``), the binary framing
of Bedrock's streaming answers, for the local Bedrock simulator.

Only the encoder lives here; the decoder is botocore's own (``botocore.eventstream``), which is
how the tests prove the framing right. A message is::

    total length (uint32) | headers length (uint32) | CRC32 of those 8 bytes
    headers: name length (uint8), name, type 7 = string, value length (uint16), value
    payload | CRC32 of everything before it
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

__all__ = ["encode_event", "encode_exception", "encode_message"]

_STRING = 7


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message with string ``headers`` and ``payload``."""
    encoded_headers = b"".join(
        struct.pack(">B", len(name.encode())) + name.encode()
        + struct.pack(">BH", _STRING, len(value.encode())) + value.encode()
        for name, value in headers.items()
    )
    total = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + encoded_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def encode_event(event_type: str, body: Mapping[str, Any]) -> bytes:
    """An ``event`` message whose payload is ``body`` as JSON (the event shape's members)."""
    return encode_message(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        json.dumps(body, separators=(",", ":")).encode(),
    )


def encode_exception(exception_type: str, message: str) -> bytes:
    """An ``exception`` message, e.g. ``("throttlingException", "Too many requests ...")``."""
    return encode_message(
        {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"},
        json.dumps({"message": message}).encode(),
    )
