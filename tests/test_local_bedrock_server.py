"""The Bedrock runtime simulator, driven by boto3's own bedrock-runtime client and parsers."""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ResponseStreamingError
from urllib3.exceptions import ProtocolError

pytest.importorskip("aiohttp")  # the local endpoints need the "local" extra

from awspar.testing import TEST_CREDENTIALS, BedrockServer
from awspar.testing.bedrock_server import END_OF_LIFE_MODEL_ID, NOT_ENABLED_MODEL_ID
from awspar.testing.credentials import TestCredentials
from awspar.testing.faults import EndpointBehaviour, FaultRates, Latency, Quota

pytestmark = pytest.mark.timeout(60)

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "us.amazon.nova-micro-v1:0"
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def _runtime(server: BedrockServer, creds: TestCredentials = TEST_CREDENTIALS, **config: object):  # type: ignore[no-untyped-def]
    return boto3.client("bedrock-runtime", endpoint_url=server.url, config=NO_RETRY.merge(Config(**config)),
                        **creds.boto3_kwargs())


def _anthropic_body(prompt: str, max_tokens: int = 100) -> str:
    return json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": max_tokens, "system": "be brief",
                       "temperature": 0.2, "messages": [{"role": "user", "content": prompt}]})


def _messages(prompt: str) -> list[dict[str, object]]:
    return [{"role": "user", "content": [{"text": prompt}]}]


def _error(call) -> tuple[str, str, int]:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response["Error"]
    return str(error["Code"]), str(error["Message"]), int(info.value.response["ResponseMetadata"]["HTTPStatusCode"])


def test_every_operation_through_the_standard_endpoint_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with BedrockServer() as server:
        for name, value in {"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": server.url, **TEST_CREDENTIALS.env()}.items():
            monkeypatch.setenv(name, value)
        rt = boto3.client("bedrock-runtime")

        claude = json.loads(rt.invoke_model(modelId=HAIKU, body=_anthropic_body("echo this please"))["body"].read())
        assert claude["type"] == "message" and claude["role"] == "assistant"
        assert claude["content"] == [{"type": "text", "text": "echo this please"}]
        assert claude["stop_reason"] == "end_turn" and claude["usage"] == {"input_tokens": 5, "output_tokens": 3}

        nova_body = json.dumps({"messages": _messages("nova says hi"), "inferenceConfig": {"maxTokens": 2}})
        nova = json.loads(rt.invoke_model(modelId=NOVA, body=nova_body)["body"].read())
        assert nova["output"]["message"]["content"][0]["text"] == "nova says "
        assert nova["stopReason"] == "max_tokens" and nova["usage"] == {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}

        reply = rt.converse(modelId=HAIKU, messages=_messages("converse with me"), system=[{"text": "sys"}])
        assert reply["output"]["message"]["content"][0]["text"] == "converse with me"
        assert reply["usage"]["totalTokens"] == 7 and reply["stopReason"] == "end_turn"

        events = list(rt.converse_stream(modelId=NOVA, messages=_messages("stream these four words"))["stream"])
        assert list(events[0]) == ["messageStart"] and list(events[-1]) == ["metadata"]
        text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
        assert text == "stream these four words"
        assert events[-2] == {"messageStop": {"stopReason": "end_turn"}}

        for model, body, pick in (
            (HAIKU, _anthropic_body("claude streams", 1),
             lambda c: c["delta"]["text"] if c["type"] == "content_block_delta" else ""),
            (NOVA, json.dumps({"messages": _messages("nova streams"), "inferenceConfig": {"maxTokens": 1}}),
             lambda c: c["contentBlockDelta"]["delta"]["text"] if "contentBlockDelta" in c else ""),
        ):
            chunks = [json.loads(e["chunk"]["bytes"]) for e in
                      rt.invoke_model_with_response_stream(modelId=model, body=body)["body"]]
            assert "".join(pick(c) for c in chunks).strip() in ("claude", "nova")
        assert server.stats()["operations"] == {
            "InvokeModel": 2, "Converse": 1, "ConverseStream": 1, "InvokeModelWithResponseStream": 2}


def test_json_answers_and_seeded_words_are_deterministic() -> None:
    with BedrockServer(answer="json") as server:
        text = _runtime(server).converse(modelId=HAIKU, messages=_messages("give json"))["output"]["message"]["content"][0]["text"]
        parsed = json.loads(text)
        assert parsed["prompt"] == "give json" and parsed["words"] == 2
    answers = []
    for seed in (1, 1, 2):
        with BedrockServer(answer="words", behaviour=EndpointBehaviour(seed=seed)) as server:
            answers.append(_runtime(server).converse(modelId=NOVA, messages=_messages("p"))["output"]["message"])
    assert answers[0] == answers[1] != answers[2]
    with BedrockServer(answer=str.upper) as server:
        reply = _runtime(server).converse(modelId=NOVA, messages=_messages("shout"))
        assert reply["output"]["message"]["content"][0]["text"] == "SHOUT"


def test_model_ids_fail_like_the_real_service() -> None:
    with BedrockServer() as server:
        rt = _runtime(server)
        assert _error(lambda: rt.converse(modelId="acme.unknown-v1", messages=_messages("x"))) == (
            "ValidationException", "The provided model identifier is invalid.", 400)
        code, message, status = _error(lambda: rt.invoke_model(modelId=NOT_ENABLED_MODEL_ID, body=_anthropic_body("x")))
        assert (code, status) == ("AccessDeniedException", 403)
        assert message == "You don't have access to the model with the specified model ID."
        assert _error(lambda: rt.converse(modelId=END_OF_LIFE_MODEL_ID, messages=_messages("x")))[0] == "ResourceNotFoundException"
        code, message, status = _error(lambda: rt.invoke_model(modelId=HAIKU, body=b"{not json"))
        assert (code, status) == ("ValidationException", 400) and "Malformed input request" in message
        assert _error(lambda: rt.invoke_model(modelId=HAIKU, body=json.dumps({"messages": _messages("x")})))[0] == "ValidationException"


def test_signatures_are_checked_with_the_bedrock_signing_name() -> None:
    with BedrockServer() as server:
        wrong = TestCredentials(TEST_CREDENTIALS.access_key, "wrong-secret")
        code, message, _ = _error(lambda: _runtime(server, wrong).converse(modelId=NOVA, messages=_messages("x")))
        assert code == "InvalidSignatureException" and "wrong-secret" not in message
        unknown = TestCredentials("AKIAUNKNOWNKEY000000", "x")
        assert _error(lambda: _runtime(server, unknown).converse(modelId=NOVA, messages=_messages("x")))[0] == \
            "UnrecognizedClientException"

        rt = _runtime(server)

        def tamper(request, **_: object) -> None:  # type: ignore[no-untyped-def]
            request.body = request.body.replace(b"original", b"tampered")

        rt.meta.events.register_last("before-send.bedrock-runtime.Converse", tamper)
        assert _error(lambda: rt.converse(modelId=NOVA, messages=_messages("original")))[0] == "InvalidSignatureException"
        assert server.stats()["operations"]["Unauthorized"] == 3 and "Converse" not in server.stats()["operations"]


def test_invalid_json_answers_are_reproducible_from_the_seed() -> None:
    def validity(seed: int) -> list[bool]:
        behaviour = EndpointBehaviour(faults=FaultRates(invalid_json=0.4), seed=seed)
        out = []
        with BedrockServer(answer="json", behaviour=behaviour) as server:
            rt = _runtime(server)
            for _ in range(15):
                text = rt.converse(modelId=NOVA, messages=_messages("json please"))["output"]["message"]["content"][0]["text"]
                try:
                    json.loads(text)
                    out.append(True)
                except ValueError:
                    out.append(False)
            assert server.stats()["faults"].get("invalid_json", 0) == out.count(False)
        return out

    first = validity(7)
    assert first == validity(7) and 0 < first.count(False) < 15 and first != validity(8)


def test_throttling_fault_and_boto3_retry() -> None:
    behaviour = EndpointBehaviour(faults=FaultRates(throttle=1.0))
    with BedrockServer(behaviour=behaviour) as server:
        code, message, status = _error(lambda: _runtime(server).converse(modelId=NOVA, messages=_messages("x")))
        assert (code, status) == ("ThrottlingException", 429)
        assert message == "Too many requests, please wait before trying again."
        assert server.stats()["faults"] == {"throttle": 1}


def test_quota_of_concurrent_calls() -> None:
    behaviour = EndpointBehaviour(latency=Latency(1500), quota=Quota(max_concurrent=2))
    with BedrockServer(behaviour=behaviour) as server:
        clients = [_runtime(server) for _ in range(4)]
        barrier = threading.Barrier(4)

        def call(rt) -> str:  # type: ignore[no-untyped-def]
            barrier.wait()
            try:
                rt.converse(modelId=NOVA, messages=_messages("x"))
                return "ok"
            except ClientError as exc:
                return str(exc.response["Error"]["Code"])

        with ThreadPoolExecutor(4) as pool:
            outcomes = sorted(pool.map(call, clients))
        assert outcomes == ["ThrottlingException", "ThrottlingException", "ok", "ok"]
        assert server.stats()["faults"] == {"quota": 2}


def test_quota_per_minute() -> None:
    with BedrockServer(behaviour=EndpointBehaviour(quota=Quota(per_minute=3))) as server:
        rt = _runtime(server)
        for _ in range(3):
            rt.converse(modelId=NOVA, messages=_messages("x"))
        assert _error(lambda: rt.converse(modelId=NOVA, messages=_messages("x")))[0] == "ThrottlingException"


def test_time_to_first_token_and_token_rate() -> None:
    behaviour = EndpointBehaviour(latency=Latency(200), tokens_per_s=20)
    with BedrockServer(behaviour=behaviour) as server:
        rt = _runtime(server)
        start = time.perf_counter()
        stream = rt.converse_stream(modelId=NOVA, messages=_messages(" ".join(["word"] * 10)))["stream"]
        arrivals = [time.perf_counter() - start for _ in stream]
        assert arrivals[0] >= 0.2
        assert arrivals[-1] - arrivals[0] >= 0.9 * (len(arrivals) - 1) / 20
        start = time.perf_counter()
        rt.converse(modelId=NOVA, messages=_messages(" ".join(["word"] * 10)))
        assert time.perf_counter() - start >= 0.2 + 10 / 20


def test_callers_hanging_up_are_counted_as_cancellations() -> None:
    behaviour = EndpointBehaviour(tokens_per_s=10)
    with BedrockServer(behaviour=behaviour) as server:
        rt = _runtime(server)
        response = rt.converse_stream(modelId=NOVA, messages=_messages(" ".join(["word"] * 40)))
        events = iter(response["stream"])
        next(events), next(events)
        response["stream"].close()
        slow = _runtime(server, read_timeout=0.3)
        server.configure(EndpointBehaviour(latency=Latency(2000)))
        with pytest.raises(Exception, match="timeout|timed out"):
            slow.converse(modelId=NOVA, messages=_messages("x"))
        deadline = time.monotonic() + 5
        while server.stats()["cancellations"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        stats = server.stats()
        assert stats["cancellations"] == 2 and stats["completed"] == 0 and stats["in_flight"] == 0


def test_reset_truncate_and_stall_faults() -> None:
    with BedrockServer(verify=False) as server:
        rt = _runtime(server)
        server.configure(EndpointBehaviour(faults=FaultRates(reset=1.0)))
        with pytest.raises(Exception, match="(?i)connection"):
            rt.converse(modelId=NOVA, messages=_messages("x"))
        server.configure(EndpointBehaviour(faults=FaultRates(truncate=1.0)))
        # a raw client sees the short body (botocore, out of retries, returns a dict with no output)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("POST", "/model/amazon.nova-micro-v1%3A0/converse", body=json.dumps({"messages": _messages("x")}))
        response = conn.getresponse()
        with pytest.raises(http.client.IncompleteRead):
            response.read()
        conn.close()
        with pytest.raises((ProtocolError, ResponseStreamingError)):  # the event stream ends mid-event
            list(rt.converse_stream(modelId=NOVA, messages=_messages("some words to cut in half"))["stream"])
        server.configure(EndpointBehaviour(faults=FaultRates(stall=1.0, stall_s=0.3)))
        start = time.perf_counter()
        rt.converse(modelId=NOVA, messages=_messages("x"))
        assert time.perf_counter() - start >= 0.3
        assert server.stats()["faults"] == {"reset": 1, "truncate": 2, "stall": 1}
        assert server.stats()["cancellations"] == 0
