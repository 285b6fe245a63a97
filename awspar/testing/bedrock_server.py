"""A Bedrock runtime simulator on 127.0.0.1: InvokeModel, Converse and their streaming twins.

Operations (paths as boto3's ``bedrock-runtime`` client sends them, signed for ``bedrock``):

- ``POST /model/{modelId}/invoke``: InvokeModel, with the request and answer shapes of the
  Anthropic Messages API (``anthropic.*`` ids) or of Amazon Nova (``amazon.nova-*`` ids);
- ``POST /model/{modelId}/invoke-with-response-stream``: the model's own streaming events, each in
  an event-stream ``chunk`` whose payload is ``{"bytes": base64(event JSON)}``;
- ``POST /model/{modelId}/converse`` and ``/converse-stream``: the model-neutral Converse API
  (``messageStart``, ``contentBlockDelta``..., ``messageStop``, ``metadata`` events).

Inference profile ids (``us.anthropic...``, ``eu.amazon.nova...``) are accepted too. Answers are
deterministic: ``answer="echo"`` (default) answers the last user prompt back; ``"json"`` answers
``{"answer": ..., "prompt": ..., "words": N}`` as JSON text; ``"words"`` answers seeded words.
``max_tokens`` (one token = one word here) cuts the answer, with stop reason ``max_tokens``.

Model ids that fail like the real service: unknown -> 400 ``ValidationException`` ("The provided
model identifier is invalid."); :data:`NOT_ENABLED_MODEL_ID` -> 403 ``AccessDeniedException``
("You don't have access to the model with the specified model ID."); :data:`END_OF_LIFE_MODEL_ID`
-> 404 ``ResourceNotFoundException``. Bad signatures -> 403 ``InvalidSignatureException`` /
``UnrecognizedClientException``; malformed bodies -> 400 ``ValidationException``.

Latency is the time to first token; ``tokens_per_s`` paces the rest (streamed, or added to the
wait of a non-streaming answer). Faults (:mod:`awspar.testing.faults`): ``slowdown`` -> 503
``ServiceUnavailableException``, ``internal`` -> 500 ``InternalServerException``, ``throttle``
-> 429 ``ThrottlingException``, ``reset``, ``truncate`` (half the body or half the events),
``stall``, and ``invalid_json``: the answer text is cut-off JSON. A :class:`~awspar.testing.faults.Quota`
answers 429 ``ThrottlingException`` past K calls in flight or R calls a minute (counted as the
fault ``quota``); the capacity model (:mod:`awspar.testing.capacity`) counts per model id and
answers the same 429 above it. ``stats()["cancellations"]`` counts callers that hung up before their answer
was complete (what racing calls must cause).

>>> import boto3, json
>>> from awspar.testing import BedrockServer, TEST_CREDENTIALS
>>> with BedrockServer() as server:
...     rt = boto3.client("bedrock-runtime", endpoint_url=server.url, **TEST_CREDENTIALS.boto3_kwargs())
...     reply = rt.converse(modelId="amazon.nova-micro-v1:0",
...                         messages=[{"role": "user", "content": [{"text": "hello there"}]}])
...     reply["output"]["message"]["content"][0]["text"]
'hello there'
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import uuid
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from awspar.testing._endpoint import LocalEndpoint
from awspar.testing.eventstream import encode_event
from awspar.testing.faults import Decision, EndpointBehaviour
from awspar.testing.sigv4_verify import verify_sigv4

__all__ = ["ANSWER_MODES", "END_OF_LIFE_MODEL_ID", "NOT_ENABLED_MODEL_ID", "BedrockServer"]

NOT_ENABLED_MODEL_ID = "anthropic.claude-3-opus-20240229-v1:0"
END_OF_LIFE_MODEL_ID = "anthropic.claude-v2"
ANSWER_MODES = ("echo", "json", "words")
_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "global.", "jp.", "au.", "ca.")
_OPERATIONS = {
    "invoke": "InvokeModel",
    "invoke-with-response-stream": "InvokeModelWithResponseStream",
    "converse": "Converse",
    "converse-stream": "ConverseStream",
}
_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu"]
_ERRORS = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ThrottlingException": 429,
    "ServiceUnavailableException": 503,
    "InternalServerException": 500,
    "InvalidSignatureException": 403,
    "UnrecognizedClientException": 403,
    "MissingAuthenticationTokenException": 403,
    "IncompleteSignatureException": 400,
    "UnknownOperationException": 404,
}
_FAULT_ERRORS = {
    "slowdown": ("ServiceUnavailableException", "Bedrock is unable to process your request."),
    "internal": ("InternalServerException", "The server encountered an internal error while processing the request."),
    "throttle": ("ThrottlingException", "Too many requests, please wait before trying again."),
}
_AUTH_ERRORS = {  # S3-style code from the verifier -> what bedrock-runtime answers
    "AccessDenied": "MissingAuthenticationTokenException",
    "InvalidAccessKeyId": "UnrecognizedClientException",
    "InvalidToken": "UnrecognizedClientException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
    "RequestTimeTooSkewed": "InvalidSignatureException",
}


class _BadRequest(Exception):
    """A request Bedrock refuses; carries its error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _Prompt:
    """What the simulator reads from a request: the last user text, everything's size, the cap."""

    text: str
    input_tokens: int
    max_tokens: int


@dataclass(frozen=True)
class _Answer:
    tokens: tuple[str, ...]
    stop_reason: str  # "end_turn" or "max_tokens"
    input_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def output_tokens(self) -> int:
        return len(self.tokens)


class BedrockServer(LocalEndpoint):
    """The Bedrock runtime simulator (see the module docstring).

    ``answer`` is one of :data:`ANSWER_MODES` or a function ``prompt -> text``;
    ``not_enabled`` / ``end_of_life`` are the model ids refused as not enabled / retired.
    """

    signing_name = "bedrock"

    def __init__(
        self,
        *,
        answer: str | Callable[[str], str] = "echo",
        behaviour: EndpointBehaviour | None = None,
        verify: bool = True,
        not_enabled: Collection[str] = (NOT_ENABLED_MODEL_ID,),
        end_of_life: Collection[str] = (END_OF_LIFE_MODEL_ID,),
        host: str = "127.0.0.1",
        port: int = 0,
        process: bool = False,
    ) -> None:
        if isinstance(answer, str) and answer not in ANSWER_MODES:
            raise ValueError(f"answer must be one of {', '.join(ANSWER_MODES)} or a function, not {answer!r}")
        super().__init__(behaviour=behaviour, verify=verify, host=host, port=port, process=process)
        self.answer = answer
        self.not_enabled = frozenset(not_enabled)
        self.end_of_life = frozenset(end_of_life)

    # -- request handling ---------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        target = request.raw_path
        body = await request.content.read()
        if self.verify:
            failure = verify_sigv4(request.method, target, request.headers.items(), body, service="bedrock")
            if failure is not None:
                self.count("Unauthorized")
                return self._error(_AUTH_ERRORS.get(failure.code, "IncompleteSignatureException"), failure.message)
        parts = target.partition("?")[0].split("/")
        if request.method != "POST" or len(parts) != 4 or parts[1] != "model" or parts[3] not in _OPERATIONS:
            return self._error("UnknownOperationException", f"Unknown operation {request.method} {parts[1:]}")
        model_id, operation = unquote(parts[2]), _OPERATIONS[parts[3]]
        self.count(operation)
        scope = None if self.behaviour.capacity is None else model_id
        if scope is not None and not self.admit(scope):  # the capacity model is per model id
            return self._error("ThrottlingException", "Too many requests, please wait before trying again.")
        if not self._quota.try_enter():
            if scope is not None:
                self.leave(scope)
            self.count_fault("quota")
            return self._error("ThrottlingException", "Too many requests, please wait before trying again.")
        try:
            return await self._answer(request, model_id, operation, body)
        except _BadRequest as exc:
            return self._error(exc.code, exc.message)
        finally:
            self._quota.leave()
            if scope is not None:
                self.leave(scope)

    async def _answer(self, request: web.BaseRequest, model_id: str, operation: str,
                      body: bytes) -> web.StreamResponse:
        family = self._family(model_id)
        converse = operation.startswith("Converse")
        prompt = _read_prompt(body, "converse" if converse else family)
        decision = Decision() if self.quiet else self.decide(request)
        fault = decision.fault
        wait = decision.delay_s + (self.behaviour.faults.stall_s if fault == "stall" else 0.0)
        if fault == "stall":
            self.count_fault("stall")
        answer = self._compose(prompt, broken=fault == "invalid_json")
        if fault == "invalid_json":
            self.count_fault("invalid_json")
        streaming = operation.endswith("Stream")
        rate = self.behaviour.tokens_per_s
        if not streaming and rate is not None:
            wait += answer.output_tokens / rate
        if wait > 0:
            await asyncio.sleep(wait)
        if fault in _FAULT_ERRORS:
            self.count_fault(fault)
            return self._error(*_FAULT_ERRORS[fault])
        if fault == "reset":
            return await self.reset_and_wait(request)
        latency_ms = int(wait * 1000)
        if streaming:
            events = (_converse_events(answer, latency_ms) if converse
                      else [_chunk(e) for e in _model_stream_events(family, model_id, answer, latency_ms)])
            return await self._stream_events(request, events, truncate=fault == "truncate")
        if converse:
            payload: dict[str, Any] = _converse_response(answer, latency_ms)
        else:
            payload = _model_response(family, model_id, answer)
        data = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "x-amzn-RequestId": str(uuid.uuid4()),
            "X-Amzn-Bedrock-Input-Token-Count": str(answer.input_tokens),
            "X-Amzn-Bedrock-Output-Token-Count": str(answer.output_tokens),
            "X-Amzn-Bedrock-Invocation-Latency": str(latency_ms),
        }
        if fault != "truncate":
            return web.Response(body=data, headers=headers)
        response = web.StreamResponse(headers=headers)
        response.content_length = len(data)
        return await self.stream(request, response, [data], truncate_after=len(data) // 2)

    async def _stream_events(self, request: web.BaseRequest, events: list[bytes],
                             *, truncate: bool) -> web.StreamResponse:
        rate = self.behaviour.tokens_per_s

        async def paced() -> AsyncIterator[bytes]:
            for index, event in enumerate(events):
                if rate is not None and index > 0:
                    await asyncio.sleep(1 / rate)
                yield event

        response = web.StreamResponse(headers={
            "Content-Type": "application/vnd.amazon.eventstream",
            "X-Amzn-Bedrock-Content-Type": "application/json",
            "x-amzn-RequestId": str(uuid.uuid4()),
        })
        cut = sum(len(e) for e in events[: len(events) // 2]) + 10 if truncate else None
        return await self.stream(request, response, paced(), truncate_after=cut)

    def _family(self, model_id: str) -> str:
        if model_id in self.not_enabled:
            raise _BadRequest("AccessDeniedException", "You don't have access to the model with the specified model ID.")
        if model_id in self.end_of_life:
            raise _BadRequest("ResourceNotFoundException",
                              "This model version has reached the end of its life. "
                              "Please refer to the AWS documentation for more details.")
        base = model_id
        for prefix in _PROFILE_PREFIXES:
            if base.startswith(prefix):
                base = base[len(prefix):]
                break
        if base.startswith("anthropic.claude"):
            return "anthropic"
        if base.startswith("amazon.nova"):
            return "nova"
        raise _BadRequest("ValidationException", "The provided model identifier is invalid.")

    def _compose(self, prompt: _Prompt, *, broken: bool) -> _Answer:
        mode = self.answer
        rng = random.Random(f"{self.behaviour.seed}|{prompt.text}")
        words = " ".join(rng.choice(_WORDS) for _ in range(12))
        if callable(mode):
            text = mode(prompt.text)
        elif mode == "echo":
            text = prompt.text
        elif mode == "json":
            text = json.dumps({"answer": words, "prompt": prompt.text, "words": len(prompt.text.split())})
        else:
            text = words
        if broken:
            text = '{"answer": "' + words  # cut-off JSON: what a model sometimes sends back
        tokens = _tokens(text)
        if len(tokens) > prompt.max_tokens:
            return _Answer(tuple(tokens[: prompt.max_tokens]), "max_tokens", prompt.input_tokens)
        return _Answer(tuple(tokens), "end_turn", prompt.input_tokens)

    def _error(self, code: str, message: str) -> web.Response:
        body = json.dumps({"message": message}).encode()
        return web.Response(status=_ERRORS.get(code, 400), body=body, content_type="application/json",
                            headers={"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                                     "x-amzn-RequestId": str(uuid.uuid4())})


# -- reading requests -------------------------------------------------------------------------

def _tokens(text: str) -> list[str]:
    """Words with their following whitespace, so that ``"".join(tokens) == text``."""
    tokens: list[str] = []
    for piece in text.split(" "):
        if tokens:
            tokens[-1] += " "
        tokens.append(piece)
    return [t for t in tokens if t] or ([text] if text else [])


def _content_text(content: Any) -> str:
    """The text of a message's content: a string, or a list of ``{"text"}`` / ``{"type":"text"}`` blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(block.get("text", "")) for block in content if isinstance(block, dict))
    raise _BadRequest("ValidationException", "Malformed input request: message content must be text")


def _read_prompt(body: bytes, shape: str) -> _Prompt:
    try:
        request = json.loads(body)
    except ValueError:
        raise _BadRequest("ValidationException",
                          "Malformed input request, please reformat your input and try again.") from None
    if not isinstance(request, dict) or not isinstance(request.get("messages"), list) or not request["messages"]:
        raise _BadRequest("ValidationException", "Malformed input request: #: required key [messages] not found")
    if shape == "anthropic":
        if "anthropic_version" not in request or "max_tokens" not in request:
            raise _BadRequest("ValidationException",
                              "Malformed input request: #: required key [anthropic_version, max_tokens] not found")
        max_tokens = request["max_tokens"]
        system = request.get("system") or ""
        system_text = system if isinstance(system, str) else _content_text(system)
    else:
        config = request.get("inferenceConfig") or {}
        max_tokens = config.get("maxTokens", config.get("max_new_tokens", 4096))
        system_text = _content_text(request.get("system") or [])
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise _BadRequest("ValidationException", "Malformed input request: max_tokens must be a positive integer")
    texts = [_content_text(m.get("content", "")) for m in request["messages"] if isinstance(m, dict)]
    user = [_content_text(m.get("content", "")) for m in request["messages"]
            if isinstance(m, dict) and m.get("role") == "user"]
    input_tokens = sum(len(t.split()) for t in [*texts, system_text])
    return _Prompt(user[-1] if user else texts[-1], max(1, input_tokens), max_tokens)


# -- answer shapes ----------------------------------------------------------------------------

def _usage(answer: _Answer) -> dict[str, int]:
    return {"inputTokens": answer.input_tokens, "outputTokens": answer.output_tokens,
            "totalTokens": answer.input_tokens + answer.output_tokens}


def _converse_response(answer: _Answer, latency_ms: int) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": answer.text}]}},
        "stopReason": answer.stop_reason,
        "usage": _usage(answer),
        "metrics": {"latencyMs": latency_ms},
    }


def _model_response(family: str, model_id: str, answer: _Answer) -> dict[str, Any]:
    if family == "anthropic":
        return {
            "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model_id,
            "content": [{"type": "text", "text": answer.text}],
            "stop_reason": answer.stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens},
        }
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": answer.text}]}},
        "stopReason": answer.stop_reason,
        "usage": _usage(answer),
    }


def _deltas(answer: _Answer) -> tuple[str, ...]:
    """The streamed text pieces: one token each (one empty piece for an empty answer)."""
    return answer.tokens or ("",)


def _converse_events(answer: _Answer, latency_ms: int) -> list[bytes]:
    deltas = [encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}})
              for text in _deltas(answer)]
    return [
        encode_event("messageStart", {"role": "assistant"}),
        *deltas,
        encode_event("contentBlockStop", {"contentBlockIndex": 0}),
        encode_event("messageStop", {"stopReason": answer.stop_reason}),
        encode_event("metadata", {"usage": _usage(answer), "metrics": {"latencyMs": latency_ms}}),
    ]


def _model_stream_events(family: str, model_id: str, answer: _Answer, latency_ms: int) -> list[dict[str, Any]]:
    metrics = {"inputTokenCount": answer.input_tokens, "outputTokenCount": answer.output_tokens,
               "invocationLatency": latency_ms, "firstByteLatency": latency_ms}
    deltas = _deltas(answer)
    if family == "anthropic":
        start = _model_response(family, model_id, _Answer((), answer.stop_reason, answer.input_tokens))
        start.update(content=[], stop_reason=None)
        return [
            {"type": "message_start", "message": start},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            *({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}} for t in deltas),
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": answer.stop_reason, "stop_sequence": None},
             "usage": {"output_tokens": answer.output_tokens}},
            {"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics},
        ]
    return [
        {"messageStart": {"role": "assistant"}},
        *({"contentBlockDelta": {"delta": {"text": t}, "contentBlockIndex": 0}} for t in deltas),
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": answer.stop_reason}},
        {"metadata": {"usage": _usage(answer), "metrics": {}, "trace": {}},
         "amazon-bedrock-invocationMetrics": metrics},
    ]


def _chunk(event: dict[str, Any]) -> bytes:
    """An InvokeModelWithResponseStream ``chunk``: the model's event JSON, base64 in ``bytes``."""
    raw = json.dumps(event, separators=(",", ":")).encode()
    return encode_event("chunk", {"bytes": base64.b64encode(raw).decode()})

