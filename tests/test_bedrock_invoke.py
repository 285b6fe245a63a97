"""awspar.bedrock against the local Bedrock runtime simulator, on every engine.

The simulator checks every SigV4 signature (signing name ``bedrock``), draws each call's latency
and fault from a seed (keyed on the request path and how many times it was seen), and counts the
callers that hang up early. A replica of its :class:`FaultPlanner` tells each test in advance
which call will be fastest, which answer will be broken, and which will be throttled.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("aiohttp", reason="the Bedrock simulator needs aiohttp: pip install 'awspar[local]'")

import boto3

from awspar import bedrock
from awspar._config import EngineConfig, RetryPolicy
from awspar._errors import ConfigurationError, NoWinnerError
from awspar.signer import Signer
from awspar.testing.bedrock_server import NOT_ENABLED_MODEL_ID, BedrockServer
from awspar.testing.credentials import TEST_CREDENTIALS
from awspar.testing.faults import EndpointBehaviour, FaultPlanner, FaultRates, Latency, Quota

ENGINES = ["sequential", "threads", "async", "processes"]
if sys.version_info >= (3, 13):
    ENGINES.append("subinterpreters")
PARALLEL = [e for e in ENGINES if e != "sequential"]
HAIKU = bedrock.DEFAULT_MODEL
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)
CONFIG = EngineConfig(concurrency=8, read_timeout=30, retry=FAST_RETRY, workers=2)


@pytest.fixture(scope="module")
def server() -> Iterator[BedrockServer]:
    with BedrockServer() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def signer(server: BedrockServer) -> Signer:
    return Signer(
        "bedrock-runtime", session=boto3.Session(**TEST_CREDENTIALS.boto3_kwargs()), endpoint_url=server.url
    )


@pytest.fixture(autouse=True)
def _fresh(server: BedrockServer) -> Iterator[None]:
    server.answer = "echo"
    server.reset()
    yield
    server.reset()


def draws(behaviour: EndpointBehaviour, path: str, count: int) -> list[Any]:
    """The simulator's decisions for the next ``count`` calls to ``path``, in arrival order."""
    planner = FaultPlanner(behaviour)
    return [planner.decide(f"POST {path}") for _ in range(count)]


def wait_for(condition, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def spread_seed(path: str, n: int, gap: float, **faults: float) -> tuple[EndpointBehaviour, list[Any]]:
    """A seed whose first ``n`` latencies are at least ``gap`` seconds apart (stable ordering)."""
    for seed in range(500):
        behaviour = EndpointBehaviour(latency=Latency(250, 0.7), faults=FaultRates(**faults), seed=seed)
        planned = draws(behaviour, path, n)
        delays = sorted(d.delay_s for d in planned)
        if all(b - a >= gap for a, b in zip(delays, delays[1:])) and delays[-1] < 1.5:
            return behaviour, planned
    raise AssertionError("no seed found")


CONVERSE = f"/model/{HAIKU}/converse"


@pytest.mark.parametrize("mode", ENGINES)
def test_all_returns_every_answer_in_input_order(server, signer, mode):
    server.configure(EndpointBehaviour(latency=Latency(60, 0.8), seed=1))  # they finish out of order
    prompts = [f"prompt number {i}" for i in range(5)]
    run = bedrock.invoke(prompts, strategy="all", mode=mode, config=CONFIG, signer=signer)
    assert [a.text for a in run.answers] == prompts
    assert [c.outcome for c in run.calls] == ["ok"] * 5 and [c.index for c in run.calls] == list(range(5))
    assert all(c.output_tokens == 2 + 1 and c.input_tokens == 3 for c in run.calls)
    assert server.stats()["operations"] == {"Converse": 5}


@pytest.mark.parametrize("mode", PARALLEL)
@pytest.mark.timeout(60)
def test_race_returns_the_fastest_and_cancels_the_rest(server, signer, mode):
    behaviour, planned = spread_seed(CONVERSE, 3, gap=0.2)
    server.configure(behaviour)
    fastest = min(d.delay_s for d in planned)
    run = bedrock.invoke("race me", n=3, strategy="race", mode=mode, config=CONFIG, signer=signer)
    assert run.text == "race me"
    assert sorted(c.outcome for c in run.calls) == ["cancelled", "cancelled", "won"]
    assert fastest <= run.winner.latency < fastest + 0.15
    assert wait_for(lambda: server.stats()["cancellations"] == 2), server.stats()
    assert server.stats()["requests"] == 3  # the losers were never retried


def test_async_race_returns_as_soon_as_the_winner_answers(server, signer):
    behaviour, planned = spread_seed(CONVERSE, 3, gap=0.2)
    server.configure(behaviour)
    delays = sorted(d.delay_s for d in planned)
    run = bedrock.invoke("quick", n=3, strategy="race", config=CONFIG, signer=signer)
    assert delays[0] <= run.elapsed < delays[1]
    assert all(c.latency < delays[1] for c in run.calls if c.outcome == "cancelled")


def test_sequential_race_keeps_the_first_success_and_sends_no_more(server, signer):
    run = bedrock.invoke(
        "one at a time", n=3, strategy="race", mode="sequential", config=CONFIG, signer=signer
    )
    assert [c.outcome for c in run.calls] == ["won", "cancelled", "cancelled"]
    assert server.stats()["requests"] == 1


@pytest.mark.parametrize("mode", ENGINES)
@pytest.mark.timeout(60)
def test_first_valid_skips_invalid_json(server, signer, mode):
    server.answer = "json"
    for seed in range(500):  # the fastest answer is broken JSON, another one is fine
        behaviour = EndpointBehaviour(
            latency=Latency(150, 0.6), faults=FaultRates(invalid_json=0.5), seed=seed
        )
        planned = draws(behaviour, CONVERSE, 3)
        order = sorted(planned, key=lambda d: d.delay_s)
        if (
            order[0].fault == "invalid_json"
            and order[1].fault is None
            and order[1].delay_s - order[0].delay_s > 0.1
        ):
            break
    server.configure(behaviour)
    run = bedrock.invoke(
        "give me json", n=3, strategy="first-valid", validator="json", mode=mode, config=CONFIG, signer=signer
    )
    assert json.loads(run.text)["prompt"] == "give me json"
    rejected = [c for c in run.calls if c.outcome == "rejected"]
    if mode != "sequential":
        assert len(rejected) >= 1 and rejected[0].reason.startswith("not JSON")
        assert run.winner.latency >= order[1].delay_s
    assert sum(c.outcome == "won" for c in run.calls) == 1


def test_first_valid_with_no_valid_answer_says_so(server, signer):
    server.answer = "json"
    server.configure(EndpointBehaviour(faults=FaultRates(invalid_json=1.0)))
    with pytest.raises(
        NoWinnerError, match=r"no answer passed the validator: 3 of 3 rejected .*not JSON"
    ) as info:
        bedrock.invoke(
            "json please", n=3, strategy="first-valid", validator="json", config=CONFIG, signer=signer
        )
    assert [c.outcome for c in info.value.run.calls] == ["rejected"] * 3
    copy = pickle.loads(pickle.dumps(info.value))  # errors cross process boundaries
    assert str(copy) == str(info.value) and [c.reason for c in copy.run.calls] == [
        c.reason for c in info.value.run.calls
    ]


def test_first_valid_with_a_regex_and_a_callable(server, signer):
    run = bedrock.invoke(
        ["SELECT 1", "DROP TABLE t", "SELECT 2"],
        strategy="first-valid",
        validator=lambda text: text.startswith("SELECT") and "2" in text,
        config=CONFIG,
        signer=signer,
    )
    assert run.text == "SELECT 2" and run.winner.index == 2
    run = bedrock.invoke(
        ["hello", "SELECT x FROM t"],
        strategy="first-valid",
        validator="regex:^SELECT",
        config=CONFIG,
        signer=signer,
    )
    assert run.winner.index == 1


@pytest.mark.parametrize("mode", ENGINES)
def test_throttling_is_retried_with_backoff(server, signer, mode):
    for seed in range(500):  # the first four answers include a 429 and a 503
        behaviour = EndpointBehaviour(faults=FaultRates(throttle=0.3, slowdown=0.3), seed=seed)
        first = [d.fault for d in draws(behaviour, CONVERSE, 4)]
        if "throttle" in first and "slowdown" in first:
            break
    server.configure(behaviour)
    run = bedrock.invoke("patience", n=4, strategy="all", mode=mode, config=CONFIG, signer=signer)
    assert [a.text for a in run.answers] == ["patience"] * 4
    faults = server.stats()["faults"]
    assert faults["throttle"] >= 1 and faults["slowdown"] >= 1
    assert sum(c.attempts for c in run.calls) == server.stats()["requests"] > 4


def test_quota_throttling_is_retried_until_every_call_answers(server, signer):
    server.configure(EndpointBehaviour(latency=Latency(50), quota=Quota(max_concurrent=1)))
    patient = CONFIG.with_(retry=RetryPolicy(max_attempts=30, base_delay=0.02, max_delay=0.1))
    run = bedrock.invoke("one by one", n=3, config=patient, signer=signer)
    assert [a.text for a in run.answers] == ["one by one"] * 3
    assert server.stats()["faults"]["quota"] >= 1


@pytest.mark.parametrize("strategy", ["all", "race"])
def test_throttled_to_the_end_is_reported(server, signer, strategy):
    server.configure(EndpointBehaviour(faults=FaultRates(throttle=1.0)))
    with pytest.raises(NoWinnerError) as info:
        bedrock.invoke("no chance", n=2, strategy=strategy, config=CONFIG, signer=signer)
    message = str(info.value)
    assert message.startswith("every call failed (2 of 2)") and "ThrottlingException" in message
    assert "throttled to the end" in message and "after 4 attempts" in message
    assert all(c.attempts == FAST_RETRY.max_attempts for c in info.value.run.calls)
    assert server.stats()["requests"] == 2 * FAST_RETRY.max_attempts


@pytest.mark.parametrize(
    ("model", "code", "hint"),
    [
        (NOT_ENABLED_MODEL_ID, "AccessDeniedException", "is the model enabled"),
        ("meta.llama-nonexistent-v9:0", "ValidationException", "check the model id"),
    ],
)
def test_model_errors_are_plain(signer, model, code, hint):
    with pytest.raises(NoWinnerError) as info:
        bedrock.invoke("hi", model=model, n=2, strategy="race", config=CONFIG, signer=signer)
    assert code in str(info.value) and hint in str(info.value)
    assert TEST_CREDENTIALS.secret_key not in str(info.value)


@pytest.mark.parametrize("api", ["converse", "invoke"])
@pytest.mark.parametrize(
    "model", [HAIKU, "us.anthropic.claude-3-5-haiku-20241022-v1:0", "eu.amazon.nova-lite-v1:0"]
)
@pytest.mark.parametrize("stream", [False, True])
def test_both_apis_every_family_profiles_pass_through(server, signer, api, model, stream):
    run = bedrock.invoke(
        "a b c d e f",
        model=model,
        api=api,
        stream=stream,
        n=1,
        max_tokens=4,
        system="be short",
        signer=signer,
        config=CONFIG,
    )
    answer = run.answers[0]
    assert (answer.text, answer.stop_reason, answer.output_tokens) == ("a b c d ", "max_tokens", 4)
    assert answer.input_tokens == 8  # six prompt words and two system words
    operation = {
        ("converse", False): "Converse",
        ("converse", True): "ConverseStream",
        ("invoke", False): "InvokeModel",
        ("invoke", True): "InvokeModelWithResponseStream",
    }[api, stream]
    assert server.stats()["operations"] == {operation: 1}


def test_the_signature_uses_the_bedrock_signing_name(server, signer):
    request = signer.sign(
        "Converse", {"modelId": HAIKU, "messages": [{"role": "user", "content": [{"text": "x"}]}]}
    )
    assert "/us-east-1/bedrock/aws4_request" in request.headers["Authorization"]
    # The same request signed for the endpoint prefix instead of the signing name is refused.
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    wrong = AWSRequest("POST", request.url, data=request.body, headers={"Content-Type": "application/json"})
    SigV4Auth(
        boto3.Session(**TEST_CREDENTIALS.boto3_kwargs()).get_credentials(), "bedrock-runtime", "us-east-1"
    ).add_auth(wrong)
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(
            urllib.request.Request(
                request.url, data=request.body, method="POST", headers=dict(wrong.headers)
            ),
            timeout=10,
        )
    assert info.value.headers["x-amzn-ErrorType"].startswith("IncompleteSignatureException")
    assert "scoped to correct service: 'bedrock'" in json.loads(info.value.read())["message"]
    assert bedrock.invoke("x", n=1, signer=signer, config=CONFIG).text == "x"


@pytest.mark.parametrize("mode", ENGINES)
def test_stream_tokens_in_order_on_every_engine(server, signer, mode):
    server.configure(EndpointBehaviour(latency=Latency(30), tokens_per_s=200))
    tokens: list[str] = []
    prompt = "one two three four five six"
    run = bedrock.invoke(
        prompt,
        n=2,
        strategy="race",
        stream=True,
        mode=mode,
        config=CONFIG,
        signer=signer,
        on_token=tokens.append,
    )
    assert "".join(tokens) == prompt == run.text
    if mode == "async":  # decoded live: one callback per token
        assert tokens == ["one ", "two ", "three ", "four ", "five ", "six"]
        assert run.winner.first_token < run.winner.latency


@pytest.mark.timeout(60)
def test_live_stream_race_is_won_on_the_first_token(server, signer):
    path = f"/model/{HAIKU}/converse-stream"
    behaviour, planned = spread_seed(path, 3, gap=0.2)
    server.configure(behaviour.replace(tokens_per_s=10))  # 10 tokens take about 1 s after the first
    arrivals: list[float] = []
    prompt = " ".join(f"w{i}" for i in range(10))
    run = bedrock.invoke(
        prompt,
        n=3,
        strategy="race",
        stream=True,
        config=CONFIG,
        signer=signer,
        on_token=lambda token: arrivals.append(time.perf_counter()),
    )
    assert run.text == prompt and len(arrivals) == 10
    assert arrivals[-1] - arrivals[0] > 0.6  # handed out as they came, not at the end
    fastest = min(d.delay_s for d in planned)
    # The simulator sends messageStart at the drawn latency, the first text delta 1/rate later.
    assert fastest + 0.1 <= run.winner.first_token < fastest + 0.1 + 0.2
    losers = [c for c in run.calls if c.outcome == "cancelled"]
    assert len(losers) == 2 and all(
        c.latency < run.winner.first_token + 0.1 for c in losers
    )  # stopped at token 1
    assert wait_for(lambda: server.stats()["cancellations"] == 2)


def test_astream_yields_tokens_then_holds_the_run(server, signer):
    server.configure(EndpointBehaviour(tokens_per_s=500))

    async def main() -> tuple[list[str], Any]:
        tokens = bedrock.astream("alpha beta gamma", n=3, config=CONFIG, signer=signer)
        return [token async for token in tokens], tokens.run

    tokens, run = asyncio.run(main())
    assert tokens == ["alpha ", "beta ", "gamma"] and run.text == "alpha beta gamma" and run.stream


def test_ainvoke_in_a_running_loop(server, signer):
    async def main() -> Any:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.ensure_future(ticker())
        run = await bedrock.ainvoke(
            "loop",
            n=3,
            strategy="race",
            session=boto3.Session(**TEST_CREDENTIALS.boto3_kwargs()),
            endpoint_url=server.url,
            config=CONFIG,
        )
        task.cancel()
        return run, ticks

    server.configure(EndpointBehaviour(latency=Latency(200)))
    run, ticks = asyncio.run(main())
    assert run.text == "loop" and ticks >= 10  # the loop kept running while the calls were out


def test_racing_many_calls_warns_about_the_quota(signer):
    with pytest.warns(bedrock.LargeRaceWarning, match=r"racing 6 calls reserves 6 x 100 = 600 tokens"):
        bedrock.invoke("many", n=6, strategy="race", max_tokens=100, config=CONFIG, signer=signer)


def test_bad_arguments_are_refused_before_sending(server, signer):
    for kwargs, message in [
        ({"strategy": "first-valid"}, "needs a validator"),
        ({"strategy": "race", "validator": "json"}, "only used with strategy='first-valid'"),
        ({"strategy": "best"}, "strategy must be one of"),
        ({"n": 0}, "n must be at least 1"),
        ({"on_token": print}, "on_token streams one winner"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            bedrock.invoke("x", signer=signer, **kwargs)
    with pytest.raises(ConfigurationError, match="n=2 but 3 prompts"):
        bedrock.invoke(["a", "b", "c"], n=2, signer=signer)
    assert server.stats()["requests"] == 0


def test_default_read_timeout_outlasts_botocores():
    assert bedrock.BEDROCK_CONFIG.read_timeout >= 300 > 60


def test_all_keeps_the_answers_when_some_calls_fail(server, signer):
    for seed in range(500):  # exactly one of the three calls gets a 500
        behaviour = EndpointBehaviour(faults=FaultRates(internal=0.3), seed=seed)
        if sum(d.fault == "internal" for d in draws(behaviour, CONVERSE, 3)) == 1:
            break
    server.configure(behaviour)
    once = CONFIG.with_(retry=RetryPolicy(max_attempts=1))
    run = bedrock.invoke("most of us", n=3, strategy="all", config=once, signer=signer)
    assert len(run.failures) == 1 and "InternalServerException" in run.failures[0].reason
    assert sorted(a.text for a in run.answers if a is not None) == ["most of us"] * 2
    assert run.answers[run.failures[0].index] is None


def test_a_streamed_leader_that_breaks_is_reported(server, signer):
    path = f"/model/{HAIKU}/converse-stream"
    for seed in range(500):  # the fastest call's stream is cut half way, well after its first token
        behaviour = EndpointBehaviour(latency=Latency(200, 0.7), faults=FaultRates(truncate=0.4), seed=seed)
        order = sorted(draws(behaviour, path, 3), key=lambda d: d.delay_s)
        if order[0].fault == "truncate" and order[1].delay_s - order[0].delay_s > 0.2:
            break
    server.configure(behaviour.replace(tokens_per_s=100))
    with pytest.raises(NoWinnerError, match=r"no call answered \(1 failed, 2 cancelled\)") as info:
        bedrock.invoke(
            " ".join(["word"] * 20),
            n=3,
            strategy="race",
            stream=True,
            config=CONFIG,
            signer=signer,
            on_token=lambda token: None,
        )
    assert [c.outcome for c in info.value.run.calls].count("cancelled") == 2
