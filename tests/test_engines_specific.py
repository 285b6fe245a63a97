"""What single engines promise beyond the shared contract: the threads engine's one pool, the
process engine's crash handling, the async engine's untouched requests."""

from __future__ import annotations

import base64
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("aiohttp", reason="the local object endpoint needs aiohttp: pip install 'awspar[local]'")


from awspar import EngineConfig
from awspar._errors import ConfigurationError, WorkerCrashedError
from awspar.engines import _urllib3_send, get_engine
from awspar.signer import Signer
from awspar.testing.faults import EndpointBehaviour, Latency
from awspar.testing.object_server import ObjectServer

BODIES = {f"k{i}": os.urandom(64 + i) for i in range(20)}


@pytest.fixture(scope="module")
def server() -> Iterator[ObjectServer]:
    with ObjectServer({"specific": dict(BODIES), "odd": {"a b/ü+%.txt": b"odd key"}}) as endpoint:
        yield endpoint


@pytest.mark.timeout(60)
def test_threads_share_one_pool_and_never_discard_connections(
    server: ObjectServer, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="urllib3")
    requests = [signer.sign("GetObject", {"Bucket": "specific", "Key": k}) for k in BODIES] * 10
    with get_engine("threads", EngineConfig(concurrency=8)) as engine:
        assert [r.body for r in engine.map(requests)] == list(BODIES.values()) * 10
        pools = list(engine._pool.pools._container.values())  # type: ignore[attr-defined]
    assert len(pools) == 1 and pools[0].num_connections <= 8
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["threads", "async", "processes"])
def test_odd_keys_reach_the_server_exactly_as_signed(server: ObjectServer, signer: Signer, mode: str) -> None:
    header_signed = signer.sign("GetObject", {"Bucket": "odd", "Key": "a b/ü+%.txt"})
    presigned = signer.presign("GetObject", {"Bucket": "odd", "Key": "a b/ü+%.txt"})
    with get_engine(mode, EngineConfig(concurrency=2, workers=1)) as engine:
        responses = list(engine.map([header_signed, presigned]))
    assert [(r.status, r.body) for r in responses] == [(200, b"odd key")] * 2


_TARGET_CHARS = "abcXYZ019-._~!$&'()*+,;=:@/?%#AaFf ü\"<>[]^`{|}\\\x7f\n"


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=_TARGET_CHARS, max_size=40))
def test_the_request_target_shortcut_answers_as_urllib3_does(tail: str) -> None:
    """The threads/processes/subinterpreters send path skips urllib3's byte-by-byte re-encoding
    of a target that is already encoded: for every target, its answer is urllib3's own."""
    def answer(encode: Any) -> object:
        try:
            return encode("/" + tail)
        except Exception as exc:  # noqa: BLE001 - the same error counts as the same answer
            return type(exc)

    assert answer(_urllib3_send._encoded_target) == answer(_urllib3_send._urllib3_encode_target)


def test_urllib3_pools_use_the_request_target_shortcut() -> None:
    import urllib3.connectionpool

    assert urllib3.connectionpool._encode_target is _urllib3_send._encoded_target


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/b/k?X-Amz-Signature=ab", "http://LOCALHOST:80/b",
                                 "http://127.0.0.1:9000?x=1", "https://[::1]:8443/b/%C3%BC"])
def test_the_host_pool_and_target_are_urllib3s_own(url: str) -> None:
    from urllib3.util.url import parse_url

    pool = _urllib3_send.make_pool(2, 1.0, 1.0)
    host_pool, target = _urllib3_send._host_pool(pool, url)
    parsed = parse_url(url)
    assert host_pool is pool.connection_from_host(parsed.host, parsed.port, parsed.scheme)
    assert target == parsed.request_uri
    pool.clear()


@pytest.mark.timeout(60)
def test_a_killed_worker_fails_its_requests_and_is_replaced(server: ObjectServer, signer: Signer) -> None:
    requests = [signer.sign("GetObject", {"Bucket": "specific", "Key": k}) for k in BODIES]
    with get_engine("processes", EngineConfig(concurrency=8, workers=2)) as engine:
        assert engine.send(requests[0]).ok
        victim = engine.pids[0]  # type: ignore[attr-defined]
        server.configure(EndpointBehaviour(latency=Latency(median_ms=1500)))
        try:
            responses: list = []  # as_completed is lazy: consume it meanwhile, so the requests go out
            consumer = threading.Thread(target=lambda: responses.extend(engine.as_completed(requests[:8])))
            consumer.start()
            time.sleep(0.5)  # every request is in a worker now, waiting for the server
            os.kill(victim, signal.SIGKILL)
            consumer.join(30)
        finally:
            server.configure(EndpointBehaviour())
        crashed = [r for r in responses if isinstance(r.error, WorkerCrashedError)]
        assert crashed and all(r.attempts == 1 and str(victim) in str(r.error) for r in crashed)
        assert all(r.ok for r in responses if r not in crashed)
        assert len(crashed) + sum(r.ok for r in responses) == 8
        # A fresh worker takes the dead one's place.
        assert [r.body for r in engine.map(requests[:4])] == list(BODIES.values())[:4]
        assert victim not in engine.pids and len(engine.pids) == 2  # type: ignore[attr-defined]


@pytest.mark.timeout(60)
def test_async_race_closes_the_losers_connections(server: ObjectServer, signer: Signer) -> None:
    requests = [signer.sign("GetObject", {"Bucket": "specific", "Key": k}) for k in list(BODIES)[:4]]
    with get_engine("async", EngineConfig(concurrency=4)) as engine:
        assert engine.send(requests[0]).ok
        server.configure(EndpointBehaviour(latency=Latency(median_ms=800, sigma=1.0), seed=5))
        server.reset_stats()
        try:
            result = engine.race(requests)
            time.sleep(0.3)
            stats = server.stats()
        finally:
            server.configure(EndpointBehaviour())
    assert result.winner is not None
    assert stats["cancellations"] == 3 and stats["in_flight"] == 0


@pytest.mark.timeout(60)
def test_process_start_returns_once_every_worker_can_send(server: ObjectServer, signer: Signer) -> None:
    with get_engine("processes", EngineConfig(concurrency=4, workers=2)) as engine:
        assert engine.start() is engine  # type: ignore[attr-defined]
        workers = engine._workers  # type: ignore[attr-defined]
        assert len(workers) == 2 and all(w._ready.is_set() and w.alive for w in workers)
        request = signer.sign("GetObject", {"Bucket": "specific", "Key": "k0"})
        assert [r.body for r in engine.map([request] * 4)] == [BODIES["k0"]] * 4
    with pytest.raises(RuntimeError, match="closed"):
        engine.start()  # type: ignore[attr-defined]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["sequential", "threads", "processes"])
def test_postprocess_replaces_each_2xx_body_where_the_attempt_was_made(
    server: ObjectServer, signer: Signer, mode: str
) -> None:
    keys = list(BODIES)[:6]
    requests = [signer.sign("GetObject", {"Bucket": "specific", "Key": k}) for k in keys]
    missing = signer.sign("GetObject", {"Bucket": "specific", "Key": "no-such-key"})
    with get_engine(mode, EngineConfig(concurrency=4, workers=2), postprocess="base64:b64encode") as engine:
        responses = list(engine.map([*requests, missing]))
    assert [r.body for r in responses[:-1]] == [base64.b64encode(BODIES[k]) for k in keys]
    assert responses[-1].status == 404 and b"NoSuchKey" in responses[-1].body  # errors pass through


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["sequential", "threads", "processes"])
def test_postprocess_errors_reach_the_caller(server: ObjectServer, signer: Signer, mode: str) -> None:
    with pytest.raises(ConfigurationError, match="'hashlib:no_such_thing' cannot be used"):
        get_engine(mode, postprocess="hashlib:no_such_thing")
    request = signer.sign("GetObject", {"Bucket": "specific", "Key": "k0"})
    engine = get_engine(mode, EngineConfig(concurrency=2, workers=1), postprocess="zlib:crc32")
    with engine, pytest.raises(TypeError, match="postprocess zlib:crc32 returned int, not bytes"):
        list(engine.map([request]))


def test_aiohttp_errors_map_to_awspar_errors_without_the_signature() -> None:
    import aiohttp

    from awspar._errors import ConnectError, IncompleteBodyError, TimeoutError
    from awspar.engines.aio import aiohttp_error

    url = "https://b.s3.amazonaws.com/k?X-Amz-Signature=deadbeef"
    refused = aiohttp.ClientConnectionError("refused")
    assert isinstance(aiohttp_error("GET", url, refused), ConnectError)
    assert isinstance(aiohttp_error("GET", url, refused, after_headers=True), IncompleteBodyError)
    assert isinstance(aiohttp_error("GET", url, aiohttp.ClientPayloadError("short")), IncompleteBodyError)
    assert isinstance(aiohttp_error("GET", url, aiohttp.ServerTimeoutError("slow")), TimeoutError)
    assert aiohttp_error("GET", url, KeyError("a bug, not a transport failure")) is None
    assert "deadbeef" not in str(aiohttp_error("GET", url, refused))


@pytest.mark.timeout(30)
def test_async_engine_session_carries_the_engine_settings(server: ObjectServer, signer: Signer) -> None:
    import asyncio

    import yarl

    request = signer.sign("GetObject", {"Bucket": "odd", "Key": "a b/ü+%.txt"})

    async def fetch() -> tuple[int, bytes, int]:
        engine = get_engine("async", EngineConfig(concurrency=3, read_timeout=7))
        async with engine:
            async with engine.session() as session:  # type: ignore[attr-defined]
                async with session.get(yarl.URL(request.url, encoded=True), headers=request.headers) as response:
                    return response.status, await response.read(), session.connector.limit

    assert asyncio.run(fetch()) == (200, b"odd key", 3)


@pytest.mark.timeout(60)
def test_close_ends_even_when_a_worker_never_answers(server: ObjectServer, signer: Signer) -> None:
    """A worker that stops answering (here: frozen with SIGSTOP mid-request) must not keep its
    callers, nor ``close``, waiting for ever: closing stops the workers first, which fails the
    calls they still held."""
    request = signer.sign("GetObject", {"Bucket": "specific", "Key": "k0"})
    engine = get_engine("processes", EngineConfig(concurrency=2, workers=1))
    assert engine.send(request).ok
    [frozen] = engine.pids  # type: ignore[attr-defined]
    server.configure(EndpointBehaviour(latency=Latency(median_ms=500)))
    try:
        responses: list = []
        caller = threading.Thread(target=lambda: responses.extend(engine.map([request])), daemon=True)
        caller.start()
        time.sleep(0.2)  # the request is in the worker now, waiting for the server
        os.kill(frozen, signal.SIGSTOP)
        began = time.perf_counter()
        engine.close()
        took = time.perf_counter() - began
        caller.join(10)
    finally:
        server.configure(EndpointBehaviour())
    assert not caller.is_alive() and took < 15
    [response] = responses
    assert isinstance(response.error, WorkerCrashedError) and str(frozen) in str(response.error)


@pytest.mark.timeout(60)
def test_async_engine_runs_its_sync_api_on_uvloop_when_asked(server: ObjectServer, signer: Signer) -> None:
    uvloop = pytest.importorskip("uvloop", reason="part of the dev extra; CI installs it")
    requests = [signer.sign("GetObject", {"Bucket": "specific", "Key": k}) for k in BODIES]
    with get_engine("async", EngineConfig(concurrency=4), loop="uvloop") as engine:
        assert [r.body for r in engine.map(requests)] == list(BODIES.values())
        assert isinstance(engine._portal.loop, uvloop.Loop)  # type: ignore[attr-defined]
    with get_engine("async", EngineConfig(concurrency=4)) as engine:
        engine.send(requests[0])
        assert not isinstance(engine._portal.loop, uvloop.Loop)  # type: ignore[attr-defined]


def test_async_engine_loop_choice_errors_are_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from awspar._errors import EngineUnavailableError

    with pytest.raises(ConfigurationError, match="unknown event loop 'trio'; choose one of: asyncio, uvloop"):
        get_engine("async", loop="trio")
    monkeypatch.setitem(__import__("sys").modules, "uvloop", None)  # as if not installed
    with pytest.raises(EngineUnavailableError, match=r"pip install 'awspar\[uvloop\]'"):
        get_engine("async", loop="uvloop")
