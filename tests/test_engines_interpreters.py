"""The ``subinterpreters`` engine and its pool, against awspar's own object server on 127.0.0.1.

Python 3.13+ for the engine itself; on older Pythons only the "clear error" test runs (the others
need what they test). The 3.11 error is also checked from here, in a ``python3.11`` subprocess.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from awspar import ConfigurationError, EngineConfig, FileSink, RetryPolicy, SignedRequest, WorkerCrashedError
from awspar._errors import EngineUnavailableError
from awspar.engines import get_engine
from awspar.testing import EndpointBehaviour, FaultRates, Latency

if TYPE_CHECKING:
    from awspar.testing import ObjectServer

REPO = Path(__file__).resolve().parent.parent
needs_313 = pytest.mark.skipif(sys.version_info < (3, 13), reason="subinterpreters need Python 3.13+")

OBJECTS = 24
FAST_CONFIG = EngineConfig(concurrency=6, workers=2, retry=RetryPolicy(max_attempts=1))


@pytest.fixture(scope="module")
def server() -> Iterator[ObjectServer]:
    """Distinct 3 KiB objects ``obj-000001``... in bucket ``gen``, plus a small bucket ``misc``."""
    from awspar.testing import GeneratedBucket, ObjectServer  # aiohttp: only where the engine runs

    buckets = {"gen": GeneratedBucket(OBJECTS, 3000, seed=7), "misc": {"ok": b"fine", "bad": b"exit please"}}
    with ObjectServer(buckets, verify=False) as endpoint:
        yield endpoint


@pytest.fixture
def quiet_server(server: ObjectServer) -> Iterator[ObjectServer]:
    """The module's server with no latency or faults, counters zeroed."""
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def crashy_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A postprocess step that kills its interpreter (SystemExit) on a body starting with b"exit";
    workers copy sys.path, so they import it from tmp_path."""
    (tmp_path / "crashy_step.py").write_text(
        "def maybe_exit(body):\n    if body.startswith(b'exit'):\n        raise SystemExit('boom')\n    return body\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "crashy_step:maybe_exit"


def gets(server: ObjectServer, count: int = OBJECTS) -> list[SignedRequest]:
    return [
        SignedRequest("GET", f"{server.url}/gen/obj-{i:06d}", operation="s3.GetObject")
        for i in range(1, count + 1)
    ]


@needs_313
@pytest.mark.timeout(60)
def test_same_bodies_as_sequential_in_input_order(quiet_server: ObjectServer) -> None:
    requests = gets(quiet_server)
    with get_engine("sequential") as sequential:
        expected = [r.body for r in sequential.map(requests)]
    with get_engine("subinterpreters", FAST_CONFIG) as engine:
        responses = list(engine.map(requests))
        completed = sorted(r.index for r in engine.as_completed(requests))
    assert len(set(expected)) == OBJECTS  # the objects differ, so order matters
    assert [r.index for r in responses] == list(range(OBJECTS))
    assert [r.body for r in responses] == expected
    assert all(r.ok and r.attempts == 1 for r in responses)
    assert completed == list(range(OBJECTS))


@needs_313
@pytest.mark.timeout(60)
def test_concurrency_is_never_exceeded_and_is_reached(quiet_server: ObjectServer) -> None:
    quiet_server.configure(EndpointBehaviour(latency=Latency(40)))
    quiet_server.reset_stats()
    with get_engine("subinterpreters", EngineConfig(concurrency=5, workers=2)) as engine:
        responses = list(engine.map(gets(quiet_server)))
    assert all(r.ok for r in responses)
    assert quiet_server.stats()["peak_in_flight"] == 5


@needs_313
@pytest.mark.timeout(60)
def test_retries_happen_in_the_workers_and_the_count_is_reported(quiet_server: ObjectServer) -> None:
    quiet_server.configure(EndpointBehaviour(faults=FaultRates(internal=1.0)))
    config = EngineConfig(concurrency=4, workers=2, retry=RetryPolicy(max_attempts=3, base_delay=0.001))
    with get_engine("subinterpreters", config) as engine:
        responses = list(engine.map(gets(quiet_server, 4)))
    assert [(r.status, r.attempts) for r in responses] == [(500, 3)] * 4
    assert [s.outcome for s in responses[0].spans] == ["retry", "retry", "error"]


@needs_313
@pytest.mark.timeout(60)
def test_stale_requests_are_resigned_in_the_main_interpreter(quiet_server: ObjectServer) -> None:
    stale = SignedRequest("GET", f"{quiet_server.url}/gen/obj-000001", expires_at=time.time() + 1)
    resigned_in: list[int] = []

    def resign(request: SignedRequest) -> SignedRequest:
        resigned_in.append(os.getpid())
        return SignedRequest("GET", f"{quiet_server.url}/gen/obj-000002", expires_at=time.time() + 3600)

    with get_engine("sequential") as sequential:
        second = sequential.send(SignedRequest("GET", f"{quiet_server.url}/gen/obj-000002")).body
    with get_engine("subinterpreters", FAST_CONFIG, resign=resign) as engine:
        response = engine.send(stale)
    assert resigned_in == [os.getpid()]
    assert response.ok and response.body == second


@needs_313
@pytest.mark.timeout(60)
def test_body_is_streamed_into_the_file_sink_at_its_offset(
    quiet_server: ObjectServer, tmp_path: Path
) -> None:
    request = gets(quiet_server, 1)[0]
    with get_engine("sequential") as sequential:
        body = sequential.send(request).body
    target = tmp_path / "out.bin"
    target.write_bytes(b"#" * 10 + b"\0" * len(body) + b"#" * 10)
    with get_engine("subinterpreters", FAST_CONFIG) as engine:
        response = engine.send((request, FileSink(str(target), 10)))
    assert response.ok and response.path == str(target) and response.body == b""
    assert target.read_bytes() == b"#" * 10 + body + b"#" * 10


@needs_313
@pytest.mark.timeout(60)
def test_postprocess_runs_in_the_worker_and_replaces_the_body(quiet_server: ObjectServer) -> None:
    requests = gets(quiet_server, 6)
    with get_engine("sequential") as sequential:
        expected = [base64.b64encode(r.body) for r in sequential.map(requests)]
    with get_engine("subinterpreters", FAST_CONFIG, postprocess="base64:b64encode") as engine:
        assert [r.body for r in engine.map(requests)] == expected


@needs_313
@pytest.mark.timeout(60)
def test_postprocess_that_returns_no_bytes_is_raised_to_the_caller(quiet_server: ObjectServer) -> None:
    engine = get_engine("subinterpreters", FAST_CONFIG, postprocess="zlib:crc32")
    with engine, pytest.raises(TypeError, match="postprocess zlib:crc32 returned int, not bytes"):
        list(engine.map(gets(quiet_server, 2)))


@needs_313
def test_unknown_postprocess_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="'hashlib:no_such_thing' cannot be used"):
        get_engine("subinterpreters", FAST_CONFIG, postprocess="hashlib:no_such_thing")


@needs_313
@pytest.mark.timeout(60)
def test_a_step_that_cannot_load_in_a_subinterpreter_fails_clearly_at_start() -> None:
    # CPython's own single-phase-init test extension refuses isolated interpreters, like
    # cryptography or aiohttp's speedups do; it loads fine in the main interpreter.
    pytest.importorskip("_testsinglephase")
    from awspar.engines.interpreters import InterpreterEngine

    engine = InterpreterEngine(FAST_CONFIG, postprocess="_testsinglephase:_clear_globals")
    with engine, pytest.raises(WorkerCrashedError, match="failed to start: ImportError: .*subinterpreters"):
        engine.start()


@needs_313
@pytest.mark.timeout(60)
def test_crashed_worker_surfaces_as_worker_crashed_error_and_is_replaced(
    quiet_server: ObjectServer, crashy_step: str
) -> None:
    ok = SignedRequest("GET", f"{quiet_server.url}/misc/ok")
    bad = SignedRequest("GET", f"{quiet_server.url}/misc/bad")
    config = EngineConfig(concurrency=1, workers=1)
    with get_engine("subinterpreters", config, postprocess=crashy_step) as engine:
        before = engine.send(ok)
        crashed = engine.send(bad)
        after = [r.body for r in engine.map([ok, ok])]
    assert before.body == b"fine"
    assert isinstance(crashed.error, WorkerCrashedError)
    assert "SystemExit: boom" in str(crashed.error)
    assert crashed.attempts == 1  # a crash is not retried: the request may have had effects
    assert after == [b"fine", b"fine"]  # a fresh interpreter took over


@needs_313
@pytest.mark.timeout(60)
def test_crashes_under_load_fail_only_what_the_dead_workers_held(
    quiet_server: ObjectServer, crashy_step: str
) -> None:
    ok = SignedRequest("GET", f"{quiet_server.url}/misc/ok")
    bad = SignedRequest("GET", f"{quiet_server.url}/misc/bad")
    requests = [bad if i % 10 == 3 else ok for i in range(40)]
    config = EngineConfig(concurrency=4, workers=2)
    with get_engine("subinterpreters", config, postprocess=crashy_step) as engine:
        responses = list(engine.map(requests))
        tail = [r.body for r in engine.map([ok] * 8)]
    assert [r.index for r in responses] == list(range(40))
    for request, response in zip(requests, responses):
        if request is bad:
            assert isinstance(response.error, WorkerCrashedError)
        else:  # answered, or lost with the worker that held it
            assert response.body == b"fine" or isinstance(response.error, WorkerCrashedError)
    assert sum(r.body == b"fine" for r in responses) >= 20
    assert tail == [b"fine"] * 8


@needs_313
@pytest.mark.timeout(60)
def test_race_returns_without_waiting_and_the_losers_are_aborted(quiet_server: ObjectServer) -> None:
    from awspar.testing import GeneratedBucket, ObjectServer

    buckets = {"gen": GeneratedBucket(4, 100)}
    with ObjectServer(buckets, verify=False, behaviour=EndpointBehaviour(latency=Latency(20_000))) as slow:
        requests = [SignedRequest("GET", f"{slow.url}/gen/obj-00000{i}") for i in (1, 2, 3)]
        requests.insert(1, gets(quiet_server, 1)[0])
        # The winner takes 0.3 s, so that every loser has reached the slow server when it is cancelled
        # (a loser cancelled before it is sent is rightly never sent, and the server never sees it).
        quiet_server.configure(EndpointBehaviour(latency=Latency(300)))
        try:
            with get_engine("subinterpreters", EngineConfig(concurrency=4, workers=2)) as engine:
                began = time.perf_counter()
                race = engine.race(requests)
                elapsed = time.perf_counter() - began
                deadline = time.monotonic() + 10
                while slow.stats()["cancellations"] < 3 and time.monotonic() < deadline:
                    time.sleep(0.05)
        finally:
            quiet_server.configure(EndpointBehaviour())
        assert race.winner_index == 1 and race.winner is not None and race.winner.ok
        assert elapsed < 5
        assert [r.error is not None for r in race.results] == [True, False, True, True]
        assert slow.stats()["cancellations"] == 3  # each loser's connection was closed by its worker


@needs_313
@pytest.mark.timeout(60)
def test_closing_the_pool_aborts_what_its_workers_still_run() -> None:
    """What runs at interpreter exit for a pool left open: nothing is waited for."""
    from awspar.engines._interp_pool import InterpreterPool
    from awspar.testing import GeneratedBucket, ObjectServer

    buckets = {"gen": GeneratedBucket(4, 100)}
    with ObjectServer(buckets, verify=False, behaviour=EndpointBehaviour(latency=Latency(20_000))) as slow:
        pool = InterpreterPool(
            "awspar.engines.interpreters:_SendService", (2, 10.0, 120.0, None), workers=2, threads=2
        )
        tasks = [pool.submit((("GET", f"{slow.url}/gen/obj-00000{i}", (), b""), None)) for i in (1, 2, 3, 4)]
        deadline = time.monotonic() + 10
        while slow.stats()["in_flight"] < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        began = time.perf_counter()
        pool.close()
        closed_in = time.perf_counter() - began
        deadline = time.monotonic() + 10
        while slow.stats()["cancellations"] < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert closed_in < 5
        assert all(task.done() and task.result()[7] is not None for task in tasks)  # each ended in an error
        assert slow.stats()["cancellations"] == 4


SHUTDOWN_SCRIPT = """
import time
from awspar import EngineConfig, SignedRequest
from awspar.engines import get_engine
from awspar.testing import EndpointBehaviour, GeneratedBucket, Latency, ObjectServer

buckets = {"gen": GeneratedBucket(8, 100)}
with ObjectServer(buckets, verify=False) as fast, ObjectServer(
    buckets, verify=False, behaviour=EndpointBehaviour(latency=Latency(30_000))
) as slow:
    engine = get_engine("subinterpreters", EngineConfig(concurrency=8, workers=2))
    fast_requests = [SignedRequest("GET", f"{fast.url}/gen/obj-00000{i}") for i in range(1, 9)]
    assert all(r.ok for r in engine.map(fast_requests))
    race = engine.race([SignedRequest("GET", f"{slow.url}/gen/obj-000001"), fast_requests[0]])
    assert race.winner_index == 1
    # left open on purpose, with the race loser still in flight: exit must close it cleanly
print("done", flush=True)
"""


@needs_313
@pytest.mark.timeout(90)
def test_process_exits_cleanly_with_an_open_engine_and_abandoned_work(tmp_path: Path) -> None:
    script = tmp_path / "exit_with_open_engine.py"
    script.write_text(SHUTDOWN_SCRIPT)
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "done"
    assert "Fatal Python error" not in done.stderr
    # (CPython 3.13.0's asyncio may print an ignored error when the slow server stops mid-request.)
    assert "awspar/engines" not in done.stderr and "WorkerCrashedError" not in done.stderr
    assert time.monotonic() - began < 30  # the 30 s loser was aborted, not awaited


CLEAR_ERROR_SCRIPT = textwrap.dedent(
    """
    from awspar.engines import get_engine
    from awspar.engines.interpreters import InterpreterEngine
    from awspar._errors import EngineUnavailableError
    for make in (lambda: get_engine("subinterpreters"), InterpreterEngine):
        try:
            make()
        except EngineUnavailableError as exc:
            print(exc)
        else:
            raise SystemExit("no error")
    """
)


def _python311() -> str | None:
    """A Python 3.11 to run the check under (the plain ``python3`` of this machine), if any."""
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    for name in ("python3.11", "python3"):
        path = shutil.which(name)
        if path is None:
            continue
        probe = subprocess.run(
            [path, "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if probe.stdout.strip() == "True":
            return path
    return None


@pytest.mark.timeout(60)
def test_python_311_gets_a_clear_error_naming_the_version_needed() -> None:
    python = _python311()
    if python is None:
        pytest.skip("no Python 3.11 on this machine")
    done = subprocess.run(
        [python, "-c", CLEAR_ERROR_SCRIPT],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2
    assert all("needs Python 3.13 or newer" in line and "3.11" in line for line in lines)


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="this Python runs subinterpreters")
def test_this_old_python_gets_a_clear_error() -> None:
    with pytest.raises(EngineUnavailableError, match="needs Python 3.13 or newer"):
        get_engine("subinterpreters")
