"""Decodes Bedrock's streaming answers (AWS event-stream framing) chunk by chunk, with botocore.

``ConverseStream`` and ``InvokeModelWithResponseStream`` answer with an ``application/
vnd.amazon.eventstream`` body. botocore's :class:`~botocore.eventstream.EventStreamBuffer` splits
it into messages (checking every CRC) and its ``EventStreamJSONParser``, driven by the operation's
output shape, turns each into the event dict boto3 would yield. For InvokeModelWithResponseStream
each event is ``{"chunk": {"bytes": ...}}`` whose bytes are the model's own streaming JSON.

:class:`StreamDecoder` takes the body in chunks of any size as they arrive, so that the tokens of a
racing call can be shown before its answer is complete.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from awspar._errors import ServiceError, TransportError
from awspar.bedrock.answer import (
    AnswerBuilder,
    BedrockAnswer,
    piece_from_converse_event,
    piece_from_model_chunk,
)

__all__ = ["STREAMING_OPERATIONS", "StreamDecoder", "decode_stream"]

STREAMING_OPERATIONS = ("ConverseStream", "InvokeModelWithResponseStream")
# The HTTP status the same error has when it comes as a whole response rather than mid-stream.
_EXCEPTION_STATUS = {
    "ThrottlingException": 429,
    "ServiceUnavailableException": 503,
    "InternalServerException": 500,
    "ModelTimeoutException": 408,
}


@functools.cache
def _event_stream_shape(operation: str) -> Any:
    """The output member of ``operation`` that is an event stream (botocore's shape)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    return model.operation_model(operation).get_event_stream_output()


def _stream_error(parsed: Mapping[str, Any], operation: str) -> ServiceError:
    """An exception event (``throttlingException``...) as the error boto3 would raise."""
    error = parsed.get("Error", {})
    code = error.get("Code", "") or "UnknownError"
    # Exception events name the member ("throttlingException"); error codes are capitalised.
    code = code[:1].upper() + code[1:]
    status = _EXCEPTION_STATUS.get(code, 400)
    return ServiceError.from_parts(
        code, error.get("Message", ""), status, operation=f"bedrock-runtime.{operation}"
    )


class StreamDecoder:
    """Feed the body of a streaming call in chunks; get its text tokens as soon as they complete.

    >>> decoder = StreamDecoder("ConverseStream")  # doctest: +SKIP
    >>> for chunk in body_chunks:  # doctest: +SKIP
    ...     for token in decoder.feed(chunk):
    ...         print(token, end="")
    >>> answer = decoder.finish(index=0)  # doctest: +SKIP

    A mid-stream exception event raises :class:`ServiceError`; corrupt framing or a body that
    ends inside a message raises :class:`TransportError`.
    """

    def __init__(self, operation: str) -> None:
        if operation not in STREAMING_OPERATIONS:
            raise ValueError(f"{operation!r} is not a streaming Bedrock operation")
        from botocore.eventstream import EventStreamBuffer
        from botocore.parsers import EventStreamJSONParser

        self.operation = operation
        self._shape = _event_stream_shape(operation)
        self._parser = EventStreamJSONParser()
        self._buffer = EventStreamBuffer()
        self._fed = 0
        self._decoded = 0
        self.builder = AnswerBuilder()

    def feed(self, chunk: bytes) -> list[str]:
        """Add the next bytes of the body; return the text tokens completed by them, in order."""
        from botocore.eventstream import ParserError

        self._fed += len(chunk)
        self._buffer.add_data(chunk)
        tokens = []
        try:
            for message in self._buffer:
                self._decoded += message.prelude.total_length
                token = self._take(message.to_response_dict())
                if token:
                    tokens.append(token)
        except ParserError as exc:
            raise TransportError(f"the {self.operation} event stream is corrupt: {exc}") from None
        return tokens

    def _take(self, response: dict[str, Any]) -> str:
        parsed = self._parser.parse(response, self._shape)
        if response["status_code"] != 200:
            raise _stream_error(parsed, self.operation)
        if self.operation == "ConverseStream":
            event: Mapping[str, Any] = parsed
            piece = piece_from_converse_event(event)
        elif "chunk" in parsed:
            event = json.loads(parsed["chunk"]["bytes"])
            piece = piece_from_model_chunk(event)
        else:
            return ""
        self.builder.add(event, piece)
        return piece.text if piece is not None else ""

    def finish(self, **timing: Any) -> BedrockAnswer:
        """The whole answer; raises :class:`TransportError` if the body stopped mid-message."""
        if self._decoded != self._fed:
            raise TransportError(
                f"the {self.operation} event stream ended inside a message "
                f"({self._fed - self._decoded} bytes left over)"
            )
        return self.builder.build(**timing)


def decode_stream(operation: str, body: bytes, **timing: Any) -> BedrockAnswer:
    """The answer in a complete streaming body (for engines that hand back the whole body)."""
    decoder = StreamDecoder(operation)
    decoder.feed(body)
    return decoder.finish(**timing)
