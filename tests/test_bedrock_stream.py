"""Streamed answers decoded with botocore's event-stream parser, chunk by chunk: no sockets.

The bodies are framed by the simulator's encoder (:mod:`awspar.testing.eventstream`); botocore
decodes them, so a framing mistake on either side fails here.
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from awspar._errors import ServiceError, TransportError
from awspar.bedrock.stream import StreamDecoder, decode_stream
from awspar.testing.eventstream import encode_event, encode_exception

TOKENS = ["The", " quick", " brown", " fox", " — ünïcode", "!"]


def converse_stream(tokens: list[str]) -> bytes:
    events = [encode_event("messageStart", {"role": "assistant"})]
    events += [
        encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": t}}) for t in tokens
    ]
    events += [
        encode_event("contentBlockStop", {"contentBlockIndex": 0}),
        encode_event("messageStop", {"stopReason": "end_turn"}),
        encode_event(
            "metadata",
            {
                "usage": {"inputTokens": 11, "outputTokens": len(tokens), "totalTokens": 0},
                "metrics": {"latencyMs": 5},
            },
        ),
    ]
    return b"".join(events)


def chunk(payload: dict) -> bytes:
    return encode_event("chunk", {"bytes": base64.b64encode(json.dumps(payload).encode()).decode()})


def anthropic_stream(tokens: list[str]) -> bytes:
    chunks = [
        {
            "type": "message_start",
            "message": {"role": "assistant", "usage": {"input_tokens": 9, "output_tokens": 1}},
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    chunks += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}
        for t in tokens
    ]
    chunks += [
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 6}},
        {"type": "message_stop"},
    ]
    return b"".join(chunk(c) for c in chunks)


def nova_stream(tokens: list[str]) -> bytes:
    chunks = [{"messageStart": {"role": "assistant"}}]
    chunks += [{"contentBlockDelta": {"delta": {"text": t}, "contentBlockIndex": 0}} for t in tokens]
    chunks += [
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {"usage": {"inputTokens": 4, "outputTokens": 6}}},
    ]
    return b"".join(chunk(c) for c in chunks)


CASES = {
    "converse": ("ConverseStream", converse_stream, ("end_turn", 11, 6)),
    "anthropic": ("InvokeModelWithResponseStream", anthropic_stream, ("max_tokens", 9, 6)),
    "nova": ("InvokeModelWithResponseStream", nova_stream, ("end_turn", 4, 6)),
}


@pytest.mark.parametrize("case", list(CASES))
@settings(deadline=None)  # the first example loads botocore's service model
@given(cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=12))
def test_tokens_come_out_in_order_whatever_the_chunking(case, cuts):
    operation, build, (stop, tokens_in, tokens_out) = CASES[case]
    body = build(TOKENS)
    edges = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    decoder = StreamDecoder(operation)
    seen = []
    for start, end in zip(edges, edges[1:]):
        seen.extend(decoder.feed(body[start:end]))
    answer = decoder.finish(index=2, latency=1.0)
    assert seen == TOKENS
    assert answer.text == "".join(TOKENS)
    assert (answer.stop_reason, answer.input_tokens, answer.output_tokens, answer.index) == (
        stop,
        tokens_in,
        tokens_out,
        2,
    )


def test_a_token_is_handed_out_as_soon_as_its_message_is_complete():
    decoder = StreamDecoder("ConverseStream")
    first = encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
    assert decoder.feed(first[:-1]) == []
    assert decoder.feed(first[-1:]) == ["Hi"]


def test_exception_event_mid_stream_is_a_service_error():
    decoder = StreamDecoder("ConverseStream")
    assert decoder.feed(
        encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "a"}})
    ) == ["a"]
    with pytest.raises(ServiceError) as info:
        decoder.feed(encode_exception("throttlingException", "Too many tokens"))
    assert info.value.code == "ThrottlingException" and info.value.throttling
    assert "Too many tokens" in str(info.value)


def test_truncated_or_corrupt_streams_are_transport_errors():
    body = converse_stream(TOKENS)
    with pytest.raises(TransportError, match="ended inside a message"):
        decode_stream("ConverseStream", body[:-7])
    corrupt = bytearray(body)
    corrupt[30] ^= 0xFF
    with pytest.raises(TransportError, match="corrupt"):
        decode_stream("ConverseStream", bytes(corrupt))


def test_only_streaming_operations_decode():
    with pytest.raises(ValueError, match="not a streaming"):
        StreamDecoder("Converse")
