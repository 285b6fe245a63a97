"""The engine contract: one set of tests, every engine, a real local S3 endpoint on 127.0.0.1.

The endpoint (:class:`awspar.testing.ObjectServer`) checks every SigV4 signature and counts
requests, faults, the peak number in flight and client disconnects; latency and faults come from a
seed, so each test knows in advance which request the server will stall or fail.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("aiohttp", reason="the local object endpoint needs aiohttp: pip install 'awspar[local]'")

import boto3

from awspar import EngineConfig, FileSink, RetryPolicy, SignedRequest
from awspar._errors import CancelledError, ConfigurationError, ConnectError, IncompleteBodyError, TimeoutError
from awspar.engines import get_engine
from awspar.engines.base import Engine
from awspar.signer import Signer
from awspar.testing.capacity import Capacity
from awspar.testing.credentials import TEST_CREDENTIALS
from awspar.testing.faults import EndpointBehaviour, FaultPlanner, FaultRates, Latency
from awspar.testing.object_server import ObjectServer

# Every engine; the subinterpreter engine exists on Python 3.13+ only. "async-uvloop" is the async
# engine with its sync API on a uvloop loop (the uvloop extra, part of dev).
ENGINES = ["sequential", "threads", "async", "async-uvloop", "processes", "boto3"]
if sys.version_info >= (3, 13):
    ENGINES.insert(3, "subinterpreters")

BUCKET = "contract"
KEYS = [f"obj-{i:03d}" for i in range(40)]
BODIES = {key: (f"{key}:".encode() * (1 + i * 37))[: 1 + i * 997] for i, key in enumerate(KEYS)}
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)


@pytest.fixture(scope="module")
def server() -> Iterator[ObjectServer]:
    with ObjectServer({BUCKET: dict(BODIES), "big": {"blob": bytes(range(256)) * 4096}}) as endpoint:
        yield endpoint


@pytest.fixture(autouse=True)
def _quiet_server(server: ObjectServer) -> Iterator[None]:
    """Each test starts from a well-behaved server with zeroed counters, and leaves it so."""
    server.reset()
    yield
    server.reset()


@pytest.fixture(params=ENGINES)
def make_engine(request: pytest.FixtureRequest, server: ObjectServer) -> Iterator[Callable[..., Engine]]:
    """``make_engine(config, resign=None, endpoint_url=server.url)``: an engine of this kind,
    closed at the end of the test."""
    made: list[Engine] = []

    def make(config: EngineConfig, *, resign: Any = None, endpoint_url: str | None = None) -> Engine:
        options: dict[str, Any] = {}
        if request.param == "boto3":
            options = {"session": boto3.Session(**TEST_CREDENTIALS.boto3_kwargs()),
                       "endpoint_url": endpoint_url or server.url}
        if request.param in ("processes", "subinterpreters"):
            config = config.with_(workers=2)
        mode = request.param
        if mode == "async-uvloop":
            mode, options = "async", {"loop": "uvloop"}
        engine = get_engine(mode, config, resign=resign, **options)
        made.append(engine)
        return engine

    make.mode = request.param  # type: ignore[attr-defined]
    yield make
    for engine in made:
        engine.close()


def get(signer: Signer, key: str, bucket: str = BUCKET) -> SignedRequest:
    request = signer.sign("GetObject", {"Bucket": bucket, "Key": key})
    # The boto3 engine replays operation + params; keep them even where the signer does not.
    return dataclasses.replace(request, params={"Bucket": bucket, "Key": key})


def keys_where(behaviour: EndpointBehaviour, fault: str | None, count: int) -> list[str]:
    """The first ``count`` keys whose first GET the server will answer with ``fault``."""
    planner = FaultPlanner(behaviour)
    chosen = [k for k in KEYS if planner.decide(f"GET /{BUCKET}/{k}").fault == fault]
    assert len(chosen) >= count, "pick another seed"
    return chosen[:count]


def eventually(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Whether ``condition`` holds within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -- results --------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_map_returns_every_body_in_input_order(make_engine: Callable[..., Engine], signer: Signer, server: ObjectServer) -> None:
    engine = make_engine(EngineConfig(concurrency=8))
    requests = [get(signer, k) for k in KEYS] + [get(signer, "missing")]
    responses = list(engine.map(requests))
    assert [r.index for r in responses] == list(range(len(requests)))
    assert [r.body for r in responses[:-1]] == [BODIES[k] for k in KEYS]
    assert all(r.status == 200 and r.error is None and r.attempts == 1 for r in responses[:-1])
    assert responses[-1].status == 404 and b"NoSuchKey" in responses[-1].body
    span = responses[0].spans[0]
    assert span.first_byte is not None and span.start <= span.first_byte <= span.end and span.outcome == "ok" and span.status == 200


@pytest.mark.timeout(60)
def test_as_completed_yields_each_response_once(make_engine: Callable[..., Engine], signer: Signer) -> None:
    engine = make_engine(EngineConfig(concurrency=8))
    responses = list(engine.as_completed(get(signer, k) for k in KEYS))
    assert sorted(r.index for r in responses) == list(range(len(KEYS)))
    assert all(r.body == BODIES[KEYS[r.index]] for r in responses)


@pytest.mark.timeout(60)
def test_concurrency_is_the_peak_in_flight(make_engine: Callable[..., Engine], signer: Signer, server: ObjectServer) -> None:
    server.configure(EndpointBehaviour(latency=Latency(median_ms=60)))
    engine = make_engine(EngineConfig(concurrency=4))
    responses = list(engine.map(get(signer, k) for k in KEYS[:24]))
    assert all(r.ok for r in responses)
    expected = 1 if engine.name == "sequential" else 4
    assert server.stats()["peak_in_flight"] == expected


@pytest.mark.timeout(60)
def test_jobs_are_consumed_lazily(make_engine: Callable[..., Engine], signer: Signer) -> None:
    request = get(signer, KEYS[0])
    pulled = 0

    def endless() -> Iterator[SignedRequest]:
        nonlocal pulled
        for _ in range(100_000):
            pulled += 1
            yield request

    engine = make_engine(EngineConfig(concurrency=4))
    results = engine.map(endless())
    first = [next(results) for _ in range(10)]
    results.close()  # type: ignore[attr-defined]
    assert [r.index for r in first] == list(range(10))
    assert 10 <= pulled <= 10 + 6 * 4  # a read-ahead of a few windows, never the whole input


# -- retries, timeouts, short bodies ------------------------------------------------------


@pytest.mark.timeout(60)
def test_retryable_answers_are_retried_until_they_succeed(make_engine: Callable[..., Engine], signer: Signer, server: ObjectServer) -> None:
    server.configure(EndpointBehaviour(faults=FaultRates(slowdown=0.3, throttle=0.2), seed=7))
    config = EngineConfig(concurrency=8, retry=RetryPolicy(max_attempts=10, base_delay=0.001, max_delay=0.01))
    responses = list(make_engine(config).map(get(signer, k) for k in KEYS[:20]))
    assert [r.body for r in responses] == [BODIES[k] for k in KEYS[:20]]
    faults = server.stats()["faults"]
    assert faults.get("slowdown", 0) + faults.get("throttle", 0) == sum(r.attempts - 1 for r in responses) > 0
    retried = next(r for r in responses if r.attempts > 1)
    assert [s.outcome for s in retried.spans] == ["retry"] * (retried.attempts - 1) + ["ok"]
    assert {s.status for s in retried.spans[:-1]} <= {503, 429}


@pytest.mark.timeout(60)
def test_every_attempt_the_server_saw_is_a_span(make_engine: Callable[..., Engine], signer: Signer, server: ObjectServer) -> None:
    """Connection resets on reused connections are retried by the one retry policy, never by the
    HTTP client on its own: the spans count every request the server received."""
    config = EngineConfig(concurrency=4, retry=RetryPolicy(max_attempts=20, base_delay=0.001, max_delay=0.005))
    engine = make_engine(config)
    assert all(r.ok for r in engine.map(get(signer, k) for k in KEYS[:4]))  # connections open, to be reused
    server.reset_stats()
    server.configure(EndpointBehaviour(faults=FaultRates(reset=0.5), seed=3))
    responses = list(engine.map(get(signer, k) for k in KEYS[:20]))
    assert [r.body for r in responses] == [BODIES[k] for k in KEYS[:20]]
    assert server.stats()["requests"] == sum(r.attempts for r in responses) > 20


@pytest.mark.timeout(60)
def test_retries_stop_at_max_attempts(make_engine: Callable[..., Engine], signer: Signer, server: ObjectServer) -> None:
    server.configure(EndpointBehaviour(faults=FaultRates(slowdown=1.0)))
    responses = list(make_engine(EngineConfig(concurrency=4, retry=FAST_RETRY)).map(get(signer, k) for k in KEYS[:4]))
    assert all(r.status == 503 and r.attempts == 3 and r.error is None for r in responses)
    assert [s.outcome for s in responses[0].spans] == ["retry", "retry", "error"]
    assert server.stats()["requests"] == 12


@pytest.mark.timeout(60)
def test_read_timeout_is_retried_then_reported(make_engine: Callable[..., Engine], signer: Signer, server: ObjectServer) -> None:
    config = EngineConfig(concurrency=2, read_timeout=0.3, retry=RetryPolicy(max_attempts=2, base_delay=0.001))
    engine = make_engine(config)
    assert engine.send(get(signer, KEYS[1])).ok  # workers up: time only the attempts
    server.configure(EndpointBehaviour(faults=FaultRates(stall=1.0, stall_s=1.5)))
    request = signer.presign("GetObject", {"Bucket": BUCKET, "Key": KEYS[0]})
    request = dataclasses.replace(request, params={"Bucket": BUCKET, "Key": KEYS[0]})
    began = time.perf_counter()
    response = engine.send(request)
    assert time.perf_counter() - began < 1.4
    assert isinstance(response.error, TimeoutError) and response.error.attempts == 2
    assert "after 2 attempts" in str(response.error)
    signature = request.url.split("X-Amz-Signature=")[1].split("&")[0]
    assert signature not in str(response.error) and signature not in repr(response)


@pytest.mark.timeout(60)
def test_connection_refused_is_a_connect_error(make_engine: Callable[..., Engine], signer: Signer) -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    dead_signer = Signer("s3", session=boto3.Session(**TEST_CREDENTIALS.boto3_kwargs()), endpoint_url=dead)
    engine = make_engine(EngineConfig(retry=FAST_RETRY), endpoint_url=dead)
    response = engine.send(get(dead_signer, KEYS[0]))
    assert isinstance(response.error, ConnectError) and response.error.attempts == 3
    assert not response.ok and response.status == 0


@pytest.mark.timeout(60)
def test_short_body_is_an_error_never_a_truncation(make_engine: Callable[..., Engine], signer: Signer, server: ObjectServer) -> None:
    server.configure(EndpointBehaviour(faults=FaultRates(truncate=1.0)))
    response = make_engine(EngineConfig(retry=FAST_RETRY)).send(get(signer, "blob", bucket="big"))
    assert isinstance(response.error, IncompleteBodyError) and response.error.attempts == 3
    assert response.body == b""


# -- signatures that age --------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_stale_requests_are_resigned_never_sent_stale(make_engine: Callable[..., Engine], signer: Signer, server: ObjectServer) -> None:
    calls: list[str] = []
    lock = threading.Lock()

    def resign(request: SignedRequest) -> SignedRequest:
        with lock:
            calls.append(request.operation)
        assert request.params is not None
        return get(signer, request.params["Key"])

    # Stale by the clock and with a broken signature: sending it as is would be refused (403).
    fresh = [get(signer, k) for k in KEYS[:6]]
    stale = [dataclasses.replace(r, expires_at=time.time() + 5, headers={**r.headers, "Authorization": "AWS4 broken"})
             for r in fresh]
    engine = make_engine(EngineConfig(concurrency=3, resign_margin=30), resign=resign)
    responses = list(engine.map(stale))
    assert [r.body for r in responses] == [BODIES[k] for k in KEYS[:6]]
    assert server.stats()["statuses"].get("403", 0) == 0
    assert len(calls) == (0 if engine.name == "boto3" else 6)  # boto3 signs every call itself


@pytest.mark.timeout(60)
def test_a_per_call_resign_is_used_ahead_of_the_engines(make_engine: Callable[..., Engine], signer: Signer, server: ObjectServer) -> None:
    """Every method that runs jobs takes ``resign=``; a stale request of that run is re-signed by
    it, never by the engine's own (which here would break the request)."""
    import asyncio

    used: list[str] = []
    lock = threading.Lock()

    def engine_resign(request: SignedRequest) -> SignedRequest:
        with lock:
            used.append("engine")
        return request  # still stale and broken: a run that used it would fail

    def call_resign(request: SignedRequest) -> SignedRequest:
        with lock:
            used.append("call")
        assert request.params is not None
        return get(signer, request.params["Key"])

    def stale(key: str) -> SignedRequest:
        request = get(signer, key)
        return dataclasses.replace(request, expires_at=time.time() + 5,
                                   headers={**request.headers, "Authorization": "AWS4 broken"})

    engine = make_engine(EngineConfig(concurrency=2, resign_margin=30), resign=engine_resign)
    key = KEYS[0]
    run = {"resign": call_resign}

    async def awaitable_twins() -> list[bytes]:
        mapped = [r.body async for r in engine.amap([stale(key)], **run)]
        completed = [r.body async for r in engine.aas_completed([stale(key)], **run)]
        sent = await engine.asend(stale(key), **run)
        raced = await engine.arace([stale(key)], **run)
        assert raced.winner is not None
        return [*mapped, *completed, sent.body, raced.winner.body]

    bodies = [next(iter(engine.map([stale(key)], **run))).body,
              next(iter(engine.as_completed([stale(key)], **run))).body,
              engine.send(stale(key), **run).body]
    raced = engine.race([stale(key)], **run)
    assert raced.winner is not None
    bodies += [raced.winner.body, *asyncio.run(awaitable_twins())]
    assert bodies == [BODIES[key]] * 8
    assert server.stats()["statuses"].get("403", 0) == 0
    assert used == ([] if engine.name == "boto3" else ["call"] * 8)  # boto3 signs every call itself


@pytest.mark.timeout(60)
def test_stale_request_without_resign_callback_fails_clearly(make_engine: Callable[..., Engine], signer: Signer, server: ObjectServer) -> None:
    stale = dataclasses.replace(get(signer, KEYS[0]), expires_at=time.time() + 1)
    engine = make_engine(EngineConfig(resign_margin=30))
    response = engine.send(stale)
    if engine.name == "boto3":  # signs each call itself: nothing can be stale
        assert response.ok
        return
    assert isinstance(response.error, ConfigurationError) and "resign" in str(response.error)
    assert server.stats()["requests"] == 0


# -- hedging and racing --------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_hedge_answers_for_a_stalled_request(make_engine: Callable[..., Engine], signer: Signer, server: ObjectServer) -> None:
    behaviour = EndpointBehaviour(faults=FaultRates(stall=0.5, stall_s=3.0), seed=11)
    planner = FaultPlanner(behaviour)
    # Keys whose first GET stalls and whose second (the hedge) does not.
    hedged = [k for k in KEYS if [planner.decide(f"GET /{BUCKET}/{k}").fault for _ in range(2)] == ["stall", None]][:2]
    quick = keys_where(EndpointBehaviour(faults=FaultRates(stall=0.5, stall_s=3.0), seed=11), None, 2)
    assert len(hedged) == 2, "pick another seed"
    if make_engine.mode == "sequential":  # type: ignore[attr-defined]
        with pytest.raises(ConfigurationError, match="cannot hedge"):
            make_engine(EngineConfig(concurrency=8, hedge_after=0.5))
        return
    engine = make_engine(EngineConfig(concurrency=8, hedge_after=0.5))
    assert engine.send(get(signer, KEYS[-1])).ok  # workers up, so that the primary reaches the server first
    server.configure(behaviour)
    began = time.perf_counter()
    responses = list(engine.map(get(signer, k) for k in hedged + quick))
    assert time.perf_counter() - began < 2.5
    assert [r.body for r in responses] == [BODIES[k] for k in hedged + quick]
    for response in responses[:2]:
        # The hedge went out 0.5 s after the primary, and the loser of the two was hung up on. The
        # server stalls the first of them to arrive: on a loaded machine that can be the hedge
        # (a process engine's primary still on its way to its worker), and then the primary wins.
        # (A process worker's span starts when the worker sends, which can be after the hedge left.)
        outcomes = [s.outcome for s in response.spans]
        assert outcomes in (["cancelled", "hedge"], ["ok", "cancelled"])
        if outcomes == ["cancelled", "hedge"]:
            assert response.spans[1].start - response.spans[0].start >= 0.49
    assert all([s.outcome for s in r.spans] == ["ok"] for r in responses[2:])
    if engine.name != "boto3":  # the stalled primaries were hung up on long before their 3 s stall ended
        assert eventually(lambda: server.stats()["cancellations"] >= 2, timeout=1.5), server.stats()


@pytest.mark.timeout(60)
def test_a_percentile_hedge_covers_requests_that_began_while_it_warmed_up(make_engine: Callable[..., Engine], signer: Signer, server: ObjectServer) -> None:
    """hedge_after="p95": a request that stalls before ten latencies are known is hedged as soon
    as they are, instead of never."""
    if make_engine.mode == "sequential":  # type: ignore[attr-defined]
        with pytest.raises(ConfigurationError, match="cannot hedge"):
            make_engine(EngineConfig(concurrency=16, hedge_after="p95"))
        return
    behaviour = EndpointBehaviour(faults=FaultRates(stall=0.5, stall_s=4.0), seed=11)
    planner = FaultPlanner(behaviour)
    decided = {k: [planner.decide(f"GET /{BUCKET}/{k}").fault for _ in range(2)] for k in KEYS}
    stalled = next(k for k in KEYS if decided[k] == ["stall", None])
    quick = [k for k in KEYS if decided[k][0] is None][:12]
    engine = make_engine(EngineConfig(concurrency=16, hedge_after="p95"))
    assert engine.send(get(signer, KEYS[-1])).ok  # workers up, so that the first request reaches the server first
    server.configure(behaviour)
    began = time.perf_counter()
    responses = list(engine.map(get(signer, k) for k in [stalled, *quick]))
    assert time.perf_counter() - began < 3.0  # not the 4 s stall
    assert [r.body for r in responses] == [BODIES[k] for k in [stalled, *quick]]
    assert [s.outcome for s in responses[0].spans] == ["cancelled", "hedge"]


@pytest.mark.timeout(60)
def test_race_keeps_the_first_answer_and_cancels_the_rest(make_engine: Callable[..., Engine], signer: Signer, server: ObjectServer) -> None:
    behaviour = EndpointBehaviour(faults=FaultRates(stall=0.7, stall_s=4.0), seed=3)
    slow = keys_where(behaviour, "stall", 3)
    fast = keys_where(behaviour, None, 1)
    server.configure(behaviour)
    engine = make_engine(EngineConfig(concurrency=4))
    if engine.name == "sequential":  # one at a time: the first accepted answer ends the race
        result = engine.race([get(signer, k) for k in fast + slow])
        assert result.winner_index == 0 and [r.attempts for r in result.results] == [1, 0, 0, 0]
        assert server.stats()["requests"] == 1
        return
    jobs = [get(signer, k) for k in slow[:2] + fast + slow[2:]]
    began = time.perf_counter()
    result = engine.race(jobs)
    assert time.perf_counter() - began < 2.0  # did not wait for the stalled losers
    assert result.winner_index == 2 and result.winner is not None and result.winner.body == BODIES[fast[0]]
    assert result.elapsed < 2.0 and len(result.results) == 4
    losers = [r for r in result.results if r.index != 2]
    assert all(not r.ok and r.spans and r.spans[-1].outcome == "cancelled" for r in losers)
    assert all(r.attempts == 1 for r in losers)  # never retried
    assert all(isinstance(r.error, CancelledError) and r.error.cancelled for r in losers)
    if engine.name != "boto3":  # the stalled losers that reached the server were hung up on before their first byte
        # (on a loaded machine the winner can answer before the last loser is even sent)
        assert eventually(lambda: server.stats()["cancellations"] == server.stats()["requests"] - 1 >= 2), \
            server.stats()


@pytest.mark.timeout(60)
def test_race_accept_refuses_answers(make_engine: Callable[..., Engine], signer: Signer) -> None:
    engine = make_engine(EngineConfig(concurrency=4))
    wanted = BODIES[KEYS[3]]
    result = engine.race([get(signer, k) for k in KEYS[:4]], accept=lambda r: r.body == wanted)
    assert result.winner_index == 3 and result.winner is not None and result.winner.body == wanted
    nobody = engine.race([get(signer, k) for k in KEYS[:2]], accept=lambda r: False)
    assert nobody.winner is None and nobody.winner_index is None and len(nobody.results) == 2


# -- bodies into files -----------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_file_sink_writes_the_body_in_place(make_engine: Callable[..., Engine], signer: Signer, tmp_path: Any) -> None:
    blob = bytes(range(256)) * 4096
    target = tmp_path / "blob.bin"
    target.write_bytes(b"#" * 100 + b"\0" * len(blob))
    response = make_engine(EngineConfig()).send((get(signer, "blob", bucket="big"), FileSink(str(target), 100)))
    assert response.ok and response.path == str(target) and response.body == b""
    assert target.read_bytes() == b"#" * 100 + blob


@pytest.mark.timeout(60)
def test_a_full_disk_is_a_local_error_never_retried(make_engine: Callable[..., Engine], signer: Signer, server: ObjectServer) -> None:
    """ENOSPC from the kernel (/dev/full) while writing the body: DiskFull naming the path after
    one attempt, not a body cut short that is retried."""
    from awspar import DiskFull

    response = make_engine(EngineConfig(retry=FAST_RETRY)).send((get(signer, "blob", bucket="big"), FileSink("/dev/full")))
    assert isinstance(response.error, DiskFull), response.error
    assert response.attempts == 1 and server.stats()["requests"] == 1
    assert str(response.error).startswith("/dev/full: no space left on the device [ENOSPC]")


@pytest.mark.timeout(60)
def test_a_sink_that_cannot_be_opened_is_a_local_error_naming_it(make_engine: Callable[..., Engine], signer: Signer, server: ObjectServer, tmp_path: Any) -> None:
    from awspar import DiskFull, LocalFileError

    target = str(tmp_path / "not-a-dir" / "blob.bin")
    (tmp_path / "not-a-dir").write_bytes(b"a file where a directory should be")
    response = make_engine(EngineConfig(retry=FAST_RETRY)).send((get(signer, "blob", bucket="big"), FileSink(target)))
    assert isinstance(response.error, LocalFileError) and not isinstance(response.error, DiskFull)
    assert str(response.error).startswith(target) and "[ENOTDIR]" in str(response.error)
    assert response.attempts == 1 and server.stats()["requests"] == 1


# -- the awaitable API ------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_awaitable_twins_inside_a_running_loop(make_engine: Callable[..., Engine], signer: Signer) -> None:
    import asyncio

    engine = make_engine(EngineConfig(concurrency=4))

    async def jobs() -> Any:
        for key in KEYS[:6]:
            yield get(signer, key)

    async def main() -> None:
        ticks = 0

        async def ticker() -> None:  # proves the loop keeps running while the engine works
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        tick_task = asyncio.ensure_future(ticker())
        bodies = [r.body async for r in engine.amap(jobs())]
        assert bodies == [BODIES[k] for k in KEYS[:6]]
        done = sorted([r.index async for r in engine.aas_completed([get(signer, k) for k in KEYS[:3]])])
        assert done == [0, 1, 2]
        assert (await engine.asend(get(signer, KEYS[1]))).body == BODIES[KEYS[1]]
        assert (await engine.arace([get(signer, KEYS[2])])).winner_index == 0
        # The sync API works from inside a running loop too.
        assert [r.body for r in engine.map([get(signer, KEYS[4])])] == [BODIES[KEYS[4]]]
        tick_task.cancel()
        assert ticks > 1

    asyncio.run(main())


# -- adaptive concurrency -------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_auto_concurrency_learns_the_capacity_and_loses_nothing(make_engine: Callable[..., Engine], signer: Signer, server: ObjectServer) -> None:
    """``concurrency="auto"`` against a prefix that serves 6 requests in flight (503 SlowDown above
    it): after the first window the server never sees much more than 6 at once, and every object
    arrives whole. The fixed pool is 64: only the limit holds the engine back."""
    capacity = 6
    assert eventually(lambda: server.stats()["in_flight"] == 0, timeout=10)  # an earlier test's stalls are over
    server.configure(EndpointBehaviour(latency=Latency(median_ms=30), capacity=Capacity(concurrent=capacity)))
    config = EngineConfig(concurrency="auto", max_concurrency=64,
                          retry=RetryPolicy(max_attempts=30, base_delay=0.005, max_delay=0.05))
    engine = make_engine(config)
    keys = KEYS * 4
    results = engine.as_completed(get(signer, k) for k in keys)
    first = [next(results) for _ in range(40)]  # the first windows: slow start finds the capacity
    server.reset_stats()
    responses = first + list(results)
    assert sorted(r.index for r in responses) == list(range(len(keys)))
    assert all(r.ok and r.body == BODIES[keys[r.index]] for r in responses)
    stats = server.stats()
    assert stats["peak_in_flight"] <= (1 if engine.name == "sequential" else capacity + 2)
    if engine.name != "sequential":
        assert engine.limits is not None
        (limit,) = engine.limits.scopes().values()
        assert limit.throttled > 0 and limit.limit <= capacity + 1
