"""One uniform answer from any Bedrock API: Converse, InvokeModel (Anthropic, Nova) or a stream.

Pure functions, no I/O. :class:`BedrockAnswer` is what every call of :mod:`awspar.bedrock` yields;
the ``answer_from_*`` functions build it from boto3-shaped parsed responses, and
:class:`AnswerBuilder` from the :class:`Piece` values that streaming events decode to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AnswerBuilder",
    "BedrockAnswer",
    "Piece",
    "answer_from_converse",
    "answer_from_invoke",
    "piece_from_converse_event",
    "piece_from_model_chunk",
]


@dataclass(frozen=True)
class BedrockAnswer:
    """A model's answer to one call.

    ``latency`` is seconds from the call's start to its last byte; ``first_token`` seconds from
    the call's start to its first text token (to its response headers when not streaming).
    ``index`` is the call's position in the input. ``raw`` is the parsed response (for an
    InvokeModel call, the model's own JSON body; for a stream, ``{"events": [...]}``).
    """

    text: str
    stop_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency: float | None = None
    first_token: float | None = None
    index: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Piece:
    """What one streaming event says: a text token, the stop reason and/or token counts."""

    text: str = ""
    stop_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


def _join_text(blocks: Sequence[Mapping[str, Any]]) -> str:
    return "".join(b["text"] for b in blocks if isinstance(b.get("text"), str))


def answer_from_converse(parsed: Mapping[str, Any], **timing: Any) -> BedrockAnswer:
    """From a parsed ``Converse`` response (as boto3's ``converse`` returns it)."""
    usage = parsed.get("usage") or {}
    return BedrockAnswer(
        text=_join_text(parsed.get("output", {}).get("message", {}).get("content", [])),
        stop_reason=parsed.get("stopReason"),
        input_tokens=usage.get("inputTokens"),
        output_tokens=usage.get("outputTokens"),
        raw=parsed,
        **timing,
    )


def _body_bytes(parsed: Mapping[str, Any]) -> bytes:
    body = parsed.get("body", b"")
    if hasattr(body, "read"):  # botocore's StreamingBody
        body = body.read()
    return body if isinstance(body, bytes) else str(body).encode()


def answer_from_invoke(parsed: Mapping[str, Any], **timing: Any) -> BedrockAnswer:
    """From a parsed ``InvokeModel`` response: the Anthropic Messages or the Nova body.

    Raises ``ValueError`` when the body is not a JSON object of either family.
    """
    try:
        body = json.loads(_body_bytes(parsed))
    except ValueError as exc:
        raise ValueError(f"the InvokeModel body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValueError("the InvokeModel body is not a JSON object")
    if body.get("type") == "message" or "stop_reason" in body:  # Anthropic Messages
        usage = body.get("usage") or {}
        return BedrockAnswer(
            text=_join_text(body.get("content") or []),
            stop_reason=body.get("stop_reason"),
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
            raw=body,
            **timing,
        )
    if "output" in body:  # Amazon Nova: the Converse shape
        return answer_from_converse(body, **timing)
    raise ValueError("the InvokeModel body is neither an Anthropic nor a Nova answer")


def piece_from_converse_event(event: Mapping[str, Any]) -> Piece | None:
    """A :class:`Piece` from one parsed ``ConverseStream`` event (or a Nova streaming chunk,
    which has the same shape); ``None`` for events that carry nothing of the answer."""
    if "contentBlockDelta" in event:
        text = event["contentBlockDelta"].get("delta", {}).get("text")
        return Piece(text=text) if text else None
    if "messageStop" in event:
        return Piece(stop_reason=event["messageStop"].get("stopReason"))
    if "metadata" in event:
        usage = event["metadata"].get("usage") or {}
        return Piece(input_tokens=usage.get("inputTokens"), output_tokens=usage.get("outputTokens"))
    return None


def _piece_from_anthropic_chunk(chunk: Mapping[str, Any]) -> Piece | None:
    kind = chunk.get("type")
    if kind == "content_block_delta":
        text = chunk.get("delta", {}).get("text")
        return Piece(text=text) if text else None
    if kind == "message_start":
        usage = chunk.get("message", {}).get("usage") or {}
        return Piece(input_tokens=usage.get("input_tokens"))
    if kind == "message_delta":
        usage = chunk.get("usage") or {}
        return Piece(
            stop_reason=chunk.get("delta", {}).get("stop_reason"), output_tokens=usage.get("output_tokens")
        )
    return None


def piece_from_model_chunk(chunk: Mapping[str, Any]) -> Piece | None:
    """A :class:`Piece` from one ``InvokeModelWithResponseStream`` chunk: the model's own
    streaming JSON (Anthropic ``content_block_delta``..., Nova ``contentBlockDelta``...)."""
    if "type" in chunk:
        return _piece_from_anthropic_chunk(chunk)
    return piece_from_converse_event(chunk)


class AnswerBuilder:
    """Collects the pieces of a streamed answer, in order, into one :class:`BedrockAnswer`."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.events: list[Mapping[str, Any]] = []
        self._stop_reason: str | None = None
        self._input_tokens: int | None = None
        self._output_tokens: int | None = None

    def add(self, event: Mapping[str, Any], piece: Piece | None) -> None:
        """Record a decoded event and what it says of the answer."""
        self.events.append(event)
        if piece is None:
            return
        if piece.text:
            self.tokens.append(piece.text)
        self._stop_reason = piece.stop_reason or self._stop_reason
        if piece.input_tokens is not None:
            self._input_tokens = piece.input_tokens
        if piece.output_tokens is not None:
            self._output_tokens = piece.output_tokens

    def build(self, **timing: Any) -> BedrockAnswer:
        """The answer so far (the whole answer once the stream has ended)."""
        return BedrockAnswer(
            text="".join(self.tokens),
            stop_reason=self._stop_reason,
            input_tokens=self._input_tokens,
            output_tokens=self._output_tokens,
            raw={"events": list(self.events)},
            **timing,
        )
