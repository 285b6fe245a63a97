"""The engines' shared policy without sockets: retry decisions, throttling codes, hedge delays,
re-signing, spans, and the registry of engine names."""

from __future__ import annotations

import random
import sys
import time

import pytest

from awspar import EngineConfig, RetryPolicy, SignedRequest
from awspar._errors import (
    CancelledError,
    ConfigurationError,
    ConnectError,
    EngineUnavailableError,
    TimeoutError,
    WorkerCrashedError,
)
from awspar.engines import ENGINE_NAMES, engine_class, get_engine
from awspar.engines._attempts import (
    HEDGE_MIN_SAMPLES,
    HedgeTracker,
    Outcome,
    RequestRun,
    RunPolicy,
    error_code,
)

REQUEST = SignedRequest("GET", "https://b.s3.amazonaws.com/k?X-Amz-Signature=abc123", {"Authorization": "secret"},
                        operation="s3.GetObject", expires_at=time.time() + 3600)


def run_for(config: EngineConfig, request: SignedRequest = REQUEST, resign=None) -> RequestRun:  # type: ignore[no-untyped-def]
    return RequestRun(0, request, RunPolicy(config, resign, rng=random.Random(1)))


def answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Outcome:
    return Outcome(start=1.0, end=2.0, status=status, headers=headers or {}, body=body, first_byte=1.5)


@pytest.mark.parametrize(
    ("status", "headers", "body", "code"),
    [
        (400, {}, b'{"__type":"com.amazon.coral#ThrottlingException","message":"slow"}', "ThrottlingException"),
        (400, {"x-amzn-ErrorType": "TooManyRequestsException:http://internal"}, b"{}", "TooManyRequestsException"),
        (503, {}, b"<Error><Code>SlowDown</Code><Message>x</Message></Error>", "SlowDown"),
        (403, {}, b"<Error><Code>AccessDenied</Code></Error>", "AccessDenied"),
        (200, {}, b"<Code>SlowDown</Code>", None),
    ],
)
def test_error_code_from_json_xml_or_header(status: int, headers: dict[str, str], body: bytes, code: str | None) -> None:
    assert error_code(status, headers, body) == code


def test_throttling_code_in_a_400_body_is_retried_but_access_denied_is_not() -> None:
    run = run_for(EngineConfig())
    assert run.prepare() is REQUEST
    delay = run.record([answer(400, b'{"__type":"ThrottlingException"}')])
    assert isinstance(delay, float) and 0 <= delay <= RetryPolicy().throttle_base
    run.prepare()
    final = run.record([answer(403, b"<Error><Code>AccessDenied</Code></Error>")])
    assert not isinstance(final, float)
    assert final.status == 403 and [s.outcome for s in final.spans] == ["retry", "ok"]


def test_backoff_is_capped_full_jitter() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=0.1, max_delay=0.5)
    rng = random.Random(0)
    delays = [policy.delay(attempt, rng) for attempt in range(1, 9) for _ in range(200)]
    assert max(delays) <= 0.5 and min(delays) >= 0
    assert max(policy.delay(1, rng) for _ in range(200)) <= 0.1


def test_transport_errors_are_retried_and_the_final_error_counts_attempts() -> None:
    run = run_for(EngineConfig(retry=RetryPolicy(max_attempts=2, base_delay=0)))
    run.prepare()
    assert run.record([Outcome.failed(1.0, TimeoutError("read timed out"))]) == 0.0
    run.prepare()
    final = run.record([Outcome.failed(2.0, ConnectError("refused"))])
    assert not isinstance(final, float)
    assert isinstance(final.error, ConnectError) and final.error.attempts == 2
    assert str(final.error) == "refused (after 2 attempts)"


def test_worker_crash_is_not_retried() -> None:
    run = run_for(EngineConfig())
    run.prepare()
    final = run.record([Outcome.failed(1.0, WorkerCrashedError("worker 12 died"))])
    assert not isinstance(final, float) and isinstance(final.error, WorkerCrashedError) and final.attempts == 1


def test_a_cancelled_attempt_is_not_retried_and_crosses_as_plain_data() -> None:
    run = run_for(EngineConfig())
    run.prepare()
    stopped = Outcome.failed(1.0, CancelledError("cancelled"))
    final = run.record([Outcome.from_tuple(stopped.to_tuple())])
    assert not isinstance(final, float) and isinstance(final.error, CancelledError) and final.attempts == 1


def test_stale_request_is_resigned_through_the_callback() -> None:
    stale = SignedRequest("GET", "https://x/k", expires_at=time.time() + 10)
    fresh = SignedRequest("GET", "https://x/k?fresh", expires_at=time.time() + 600)
    run = run_for(EngineConfig(resign_margin=30), stale, resign=lambda r: fresh)
    assert run.prepare() is fresh
    still_stale = run_for(EngineConfig(resign_margin=30), stale, resign=lambda r: stale).prepare()
    assert isinstance(still_stale.error, ConfigurationError) and "still stale" in str(still_stale.error)  # type: ignore[union-attr]


def test_hedge_after_a_percentile_of_the_latencies_seen() -> None:
    tracker = HedgeTracker("p90")
    for latency in range(1, HEDGE_MIN_SAMPLES):
        tracker.observe(latency / 100)
    assert tracker.delay() is None  # too few samples yet
    for latency in range(HEDGE_MIN_SAMPLES, 101):
        tracker.observe(latency / 100)
    assert tracker.delay() == pytest.approx(0.91)
    assert HedgeTracker(0.25).delay() == 0.25


def test_a_winning_hedge_shows_in_the_spans() -> None:
    run = run_for(EngineConfig(hedge_after=0.1))
    run.prepare()
    primary = Outcome(start=1.0, end=1.4)
    hedge = Outcome(start=1.1, end=1.3, status=200, first_byte=1.25)
    final = run.record([primary, hedge], won=1)
    assert not isinstance(final, float)
    assert [(s.outcome, s.attempt) for s in final.spans] == [("cancelled", 1), ("hedge", 1)]
    assert final.ok and final.attempts == 2


def test_outcome_crosses_as_plain_tuples() -> None:
    outcome = Outcome(1.0, 2.0, 200, {"ETag": '"x"'}, b"body", None, 1.5)
    assert Outcome.from_tuple(outcome.to_tuple()) == outcome
    failed = Outcome.from_tuple(Outcome.failed(1.0, TimeoutError("slow")).to_tuple())
    assert isinstance(failed.error, TimeoutError) and str(failed.error) == "slow"


def test_unknown_engine_names_the_choices() -> None:
    with pytest.raises(ConfigurationError) as info:
        get_engine("turbo")
    assert all(name in str(info.value) for name in ENGINE_NAMES)


def test_subinterpreters_need_python_3_13(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "version_info", (3, 12, 1, "final", 0))
    with pytest.raises(EngineUnavailableError, match=r"3\.13.*this is Python 3\.12"):
        engine_class("subinterpreters")


def test_importing_the_engines_loads_no_optional_package() -> None:
    import subprocess

    code = ("import sys, awspar.engines, awspar.engines.threads, awspar.engines.processes;"
            "print(sorted(m for m in ('aiohttp', 'yarl', 'boto3', 'botocore') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_sync_engines_never_import_asyncio() -> None:
    """An AWS Lambda handler on the threads engine pays nothing for the awaitable twins."""
    import subprocess

    code = ("import sys; from awspar.engines import get_engine\n"
            "for mode in ('sequential', 'threads', 'processes'):\n"
            "    get_engine(mode).close()\n"
            "print('asyncio' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
