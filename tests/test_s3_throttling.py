"""Throttling never loses an object (issue 19 item 1): the retry policy backs off for a throttling
answer as botocore's standard mode does, within a time budget, in every engine."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
import time

import boto3
import pytest

from awspar import EngineConfig, RetryPolicy
from awspar._errors import ConnectError
from awspar.engines._attempts import Outcome, RequestRun, RunPolicy, retry_after
from awspar.s3 import get_objects
from awspar.testing import TEST_CREDENTIALS, EndpointBehaviour, FaultRates, GeneratedBucket, ObjectServer

SPEC = GeneratedBucket(200, 1024)
#: With this seed, 4 of the 200 keys get five or more 503 SlowDown answers in a row (the old
#: policy's 4 attempts dropped them).
SEED = 3
#: The default policy scaled down: throttling backs off from 20 ms (20 x base_delay), capped at 40 ms.
FAST = RetryPolicy(base_delay=0.001, max_delay=0.04)
MODES = ["sequential", "threads", "async", "processes", "boto3",
         pytest.param("subinterpreters", marks=pytest.mark.skipif(sys.version_info < (3, 13), reason="3.13+ only")),
         pytest.param("dask", marks=pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                                       reason="needs the dask extra"))]


def _answer(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Outcome:
    now = time.perf_counter()
    return Outcome(start=now, end=now, status=status, headers=headers or {}, body=body)


def _run(policy: RetryPolicy) -> RequestRun:
    from awspar import SignedRequest

    request = SignedRequest("GET", "https://b.s3.amazonaws.com/k", expires_at=time.time() + 3600)
    return RequestRun(0, request, RunPolicy(EngineConfig(retry=policy), rng=random.Random(5)))


def test_throttling_backs_off_from_a_larger_base_than_other_failures() -> None:
    policy = RetryPolicy()
    rng = random.Random(0)
    throttled = [policy.delay(1, rng, throttled=True) for _ in range(2000)]
    other = [policy.delay(1, rng) for _ in range(2000)]
    assert max(other) <= 0.05 and max(throttled) <= 1.0 and sum(throttled) / len(throttled) > 0.4
    assert max(policy.delay(12, rng, throttled=True) for _ in range(2000)) == pytest.approx(20.0, rel=0.02)


def test_throttling_is_retried_past_four_attempts_but_a_dead_endpoint_is_not() -> None:
    throttled = _run(RetryPolicy(base_delay=0.0))
    for _ in range(10):
        throttled.prepare()
        assert isinstance(throttled.record([_answer(503, body=b"<Error><Code>SlowDown</Code></Error>")]), float)
    refused = _run(RetryPolicy(base_delay=0.0))
    steps = []
    for _ in range(4):
        refused.prepare()
        steps.append(refused.record([Outcome.failed(time.perf_counter(), ConnectError("refused"))]))
    assert steps[:3] == [0.0, 0.0, 0.0] and steps[3].attempts == 4  # type: ignore[union-attr]


def test_retry_after_headers_are_honoured() -> None:
    assert retry_after({"Retry-After": "3"}) == 3.0
    assert retry_after({"x-amz-retry-after": "1500"}) == 1.5
    assert retry_after({"Retry-After": "soon"}) is None and retry_after({}) is None
    run = _run(RetryPolicy(base_delay=0.0))
    run.prepare()
    assert run.record([_answer(429, {"Retry-After": "2"})]) == 2.0


def test_the_budget_is_time() -> None:
    run = _run(RetryPolicy(max_elapsed=1.0, base_delay=0.0))
    run.prepare()
    assert run.record([_answer(503, {"Retry-After": "0.5"})]) == 0.5  # within the budget
    run.prepare()
    final = run.record([_answer(503, {"Retry-After": "5"})])  # would end past it: the answer stands
    assert not isinstance(final, float) and final.status == 503 and final.attempts == 2


BEHAVIOUR = EndpointBehaviour(faults=FaultRates(slowdown=0.3), seed=SEED)


@pytest.fixture(scope="module")
def server():
    with ObjectServer({"gen": SPEC}) as srv:
        yield srv


@pytest.fixture(scope="module")
def session():
    return boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())


@pytest.mark.timeout(180)
@pytest.mark.parametrize("mode", MODES)
def test_every_object_arrives_through_30_percent_slowdown(server, session, tmp_path, mode) -> None:
    server.reset()
    server.configure(BEHAVIOUR)  # the same draws for every mode
    config = EngineConfig(concurrency=16, workers=2, retry=FAST)
    results = list(get_objects("gen", list(SPEC.keys()), out_dir=tmp_path, mode=mode, config=config,
                               endpoint_url=server.url, session=session))
    failed = [r for r in results if not r.ok]
    assert not failed, failed[:3]
    assert len(results) == 200 and max(r.requests for r in results) > 4  # past the old 4-attempt budget
    assert server.stats()["faults"]["slowdown"] == sum(r.requests - 1 for r in results) > 0
    for key in SPEC.keys()[::37]:
        assert (tmp_path / key).read_bytes() == SPEC.read(key)


def _s3_get(server, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": server.url}
    return subprocess.run([sys.executable, "-c", "from awspar.cli import main; main()", "s3-get", "gen", *args],
                          check=False, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.timeout(90)
def test_cli_retries_and_timeout_set_the_policy(server, tmp_path) -> None:
    server.reset()
    server.configure(EndpointBehaviour(faults=FaultRates(slowdown=1.0)))
    keys = list(SPEC.keys()[:3])
    once = _s3_get(server, *keys, "--out", str(tmp_path / "a"), "--json", "--retries", "0")
    assert once.returncode == 1, once.stderr
    assert json.loads(once.stdout)["requests"] == 3
    began = time.perf_counter()
    bounded = _s3_get(server, *keys, "--out", str(tmp_path / "b"), "--json", "--retries", "1000", "--timeout", "1.5")
    took = time.perf_counter() - began
    report = json.loads(bounded.stdout)
    assert bounded.returncode == 1 and report["error_codes"] == {"SlowDown": 3}
    assert report["requests"] > 3 and took < 15  # backed off, then gave up at the time budget
    bad = _s3_get(server, *keys, "--retries", "-1")
    assert bad.returncode == 2 and "--retries" in bad.stderr
