"""The ``dask`` engine on a real LocalCluster of two worker processes, against the local endpoints.

The cluster runs in a child process started with AWS credentials in this process's environment
and none in its own (:class:`~awspar.engines._dask_cluster.ClusterProcess` strips ``AWS_*``), so
every request the workers send was signed here. One cluster serves the whole module; the test
that kills a worker waits for the nanny to bring it back.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("distributed", reason="the dask engine needs the 'dask' extra")
pytest.importorskip("aiohttp", reason="the local endpoints need aiohttp: pip install 'awspar[local]'")

import boto3
import cloudpickle
import dask
import distributed

from awspar import EngineConfig, FileSink, RawResponse, RetryPolicy, SignedRequest, bedrock
from awspar._errors import ConfigurationError, EngineUnavailableError
from awspar.engines import get_engine
from awspar.engines._attempts import error_code
from awspar.engines._dask_cluster import ClusterProcess
from awspar.engines.dask_engine import DaskEngine
from awspar.s3 import get_objects
from awspar.signer import Signer
from awspar.testing.bedrock_server import BedrockServer
from awspar.testing.credentials import TEST_CREDENTIALS
from awspar.testing.faults import EndpointBehaviour, Latency
from awspar.testing.object_server import GeneratedBucket, ObjectServer

BUCKET = "dask"
KEYS = [f"obj-{i:03d}" for i in range(60)]
BODIES = {key: (f"{key}:".encode() * (1 + i * 53))[: 1 + i * 1499] for i, key in enumerate(KEYS)}
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)
CONFIG = EngineConfig(concurrency=8, retry=FAST_RETRY)


@pytest.fixture(scope="module")
def server() -> Iterator[ObjectServer]:
    with ObjectServer({BUCKET: dict(BODIES)}) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterProcess]:
    """Two single-threaded worker processes, started while this process holds AWS credentials."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in TEST_CREDENTIALS.env().items():
            patch.setenv(name, value)
        started = ClusterProcess(workers=2).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def client(cluster: ClusterProcess) -> Iterator[distributed.Client]:
    with distributed.Client(cluster.address, set_as_default=False) as dask_client:
        dask_client.wait_for_workers(2, timeout=60)
        yield dask_client


@pytest.fixture(autouse=True)
def _quiet_server(server: ObjectServer) -> Iterator[None]:
    server.reset()
    yield
    server.reset()


@pytest.fixture
def make_engine(client: distributed.Client, signer: Signer) -> Iterator[Callable[..., DaskEngine]]:
    made: list[DaskEngine] = []

    def make(config: EngineConfig = CONFIG, **options: Any) -> DaskEngine:
        options.setdefault("resign", signer.resign)
        engine = DaskEngine(config, client=client, **options)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()
    assert client.status == "running"  # the engine does not close a client it was given


def _gets(signer: Signer, keys: list[str]) -> list[SignedRequest]:
    return [signer.presign("GetObject", {"Bucket": BUCKET, "Key": key}) for key in keys]


# The workers and the scheduler cannot import this test module: its functions travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _outcome(response: RawResponse) -> tuple[int, bytes | str | None, str | None]:
    """Status, body (the error code for an error: its request id differs per call) and ETag."""
    etag = {name.lower(): value for name, value in response.headers.items()}.get("etag")
    if response.ok:
        return response.status, response.body, etag
    return response.status, error_code(response.status, response.headers, response.body), etag


def _on_the_cluster(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` wrapped in a closure, which makes Dask hand it to cloudpickle (plain pickle
    would take a module-level function by reference)."""
    return lambda *args, **kwargs: function(*args, **kwargs)


def _aws_variables() -> list[str]:
    return sorted(name for name in os.environ if name.upper().startswith("AWS_"))


# -- what travels --------------------------------------------------------------------------------
def test_workers_hold_no_aws_settings(client: distributed.Client) -> None:
    workers = list(client.scheduler_info()["workers"])
    assert len(workers) == 2
    found = client.gather([client.submit(_on_the_cluster(_aws_variables), workers=[w], pure=False) for w in workers])
    assert found == [[], []]


def test_same_results_as_the_sequential_engine(make_engine: Callable[..., DaskEngine], signer: Signer) -> None:
    requests = _gets(signer, [*KEYS, "missing-key"])
    with get_engine("sequential", CONFIG) as sequential:
        expected = list(sequential.map(requests))
    engine = make_engine(batch_size=7, max_batches=3)
    got = list(engine.map(requests))
    assert [r.index for r in got] == list(range(len(requests)))
    assert [_outcome(r) for r in got] == [_outcome(r) for r in expected]
    assert got[-1].status == 404 and all(r.ok for r in got[:-1])
    assert [r.request for r in got] == requests
    assert all(r.spans and r.spans[-1].outcome in ("ok", "error") for r in got)
    stats = engine.last_run
    assert stats is not None and stats.batches == 9 and stats.peak_batches <= 3
    assert {t.worker for t in stats.timings} == set(engine.client.scheduler_info()["workers"])


@pytest.mark.timeout(60)
def test_map_waits_for_a_slow_first_batch_without_reading_far_ahead(
    make_engine: Callable[..., DaskEngine], signer: Signer, make_object_server: Callable[..., ObjectServer]
) -> None:
    """The first batch goes to a slow endpoint; the others finish and wait for it in order, and
    the input is not read further than ``max_batches * batch_size`` answers ahead meanwhile."""
    slow = make_object_server({BUCKET: dict(BODIES)}, behaviour=EndpointBehaviour(latency=Latency(1500)))
    slow_signer = Signer("s3", session=boto3.Session(**TEST_CREDENTIALS.boto3_kwargs()), endpoint_url=slow.url)
    requests = _gets(slow_signer, KEYS[:7]) + _gets(signer, KEYS[7:])
    pulled = 0

    def lazily() -> Iterator[SignedRequest]:
        nonlocal pulled
        for request in requests:
            pulled += 1
            yield request

    engine = make_engine(batch_size=7, max_batches=3)
    responses = engine.map(lazily())
    first = next(responses)
    assert first.index == 0 and pulled <= 7 * 3 + 7 * 3  # answers held back plus batches out
    rest = list(responses)
    assert [r.body for r in [first, *rest]] == [BODIES[k] for k in KEYS]


def test_as_completed_gives_each_index_once(make_engine: Callable[..., DaskEngine], signer: Signer,
                                            server: ObjectServer) -> None:
    requests = _gets(signer, KEYS)
    responses = list(make_engine(batch_size=8).as_completed(requests))
    assert sorted(r.index for r in responses) == list(range(len(KEYS)))
    assert all(r.body == BODIES[KEYS[r.index]] for r in responses)
    assert server.stats()["requests"] == len(KEYS)


def test_bodies_into_file_sinks_written_by_the_workers(make_engine: Callable[..., DaskEngine], signer: Signer,
                                                       tmp_path: Any) -> None:
    keys = KEYS[-5:]
    jobs = []
    for key in keys:
        path = tmp_path / key
        path.write_bytes(b"")
        jobs.append((signer.presign("GetObject", {"Bucket": BUCKET, "Key": key}), FileSink(str(path))))
    responses = list(make_engine(batch_size=2).map(jobs))
    assert [r.path for r in responses] == [str(tmp_path / key) for key in keys]
    assert all(r.ok and r.body == b"" for r in responses)
    assert [(tmp_path / key).read_bytes() for key in keys] == [BODIES[key] for key in keys]


# -- signatures ----------------------------------------------------------------------------------
def test_stale_signatures_are_resigned_here_when_the_batch_is_submitted(
    make_engine: Callable[..., DaskEngine], signer: Signer, server: ObjectServer
) -> None:
    soon = time.time() + 5  # inside the 30 s resign margin: stale before sending
    requests = [dataclasses.replace(r, expires_at=soon) for r in _gets(signer, KEYS[:12])]
    resigned: list[SignedRequest] = []

    def resign(request: SignedRequest) -> SignedRequest:
        resigned.append(request)
        return signer.resign(request)

    responses = list(make_engine(batch_size=5, resign=resign).map(requests))
    assert all(r.ok for r in responses) and len(resigned) == 12
    assert all(r.request is not None and r.request.expires_at is not None and r.request.expires_at > soon
               for r in responses)

    unsignable = list(make_engine(batch_size=5, resign=None).map(requests))
    assert all(isinstance(r.error, ConfigurationError) and "resign" in str(r.error) for r in unsignable)
    assert server.stats()["requests"] == 12  # the unsignable ones never left this process


def test_a_per_call_resign_is_used_ahead_of_the_engines(
    make_engine: Callable[..., DaskEngine], signer: Signer, server: ObjectServer
) -> None:
    soon = time.time() + 5
    requests = [dataclasses.replace(r, expires_at=soon) for r in _gets(signer, KEYS[:4])]
    used: list[str] = []

    def per_call(request: SignedRequest) -> SignedRequest:
        used.append("call")
        return signer.resign(request)

    engine = make_engine(batch_size=2, resign=None)  # on its own, the engine cannot re-sign
    responses = list(engine.map(requests, resign=per_call))
    race = engine.race(requests[:2], resign=per_call)
    assert all(r.ok for r in responses) and race.winner is not None and race.winner.ok
    assert used == ["call"] * 6 and server.stats()["statuses"].get("403", 0) == 0


@pytest.mark.timeout(60)
def test_requests_gone_stale_on_the_cluster_come_back_to_be_resigned(
    make_engine: Callable[..., DaskEngine], signer: Signer, server: ObjectServer
) -> None:
    """Two batches run at once (one per worker) for 2 s; the next two wait behind them, and
    their requests' signatures (seen as valid for 1.5 s) go stale while they wait."""
    server.configure(EndpointBehaviour(latency=Latency(2000)))
    config = CONFIG.with_(concurrency=4, resign_margin=0.3)
    soon = time.time() + 1.5
    requests = [dataclasses.replace(r, expires_at=soon) for r in _gets(signer, KEYS[:16])]
    resigned: list[int] = []

    def resign(request: SignedRequest) -> SignedRequest:
        resigned.append(1)
        return signer.resign(request)

    engine = make_engine(config, batch_size=4, max_batches=4, resign=resign)
    responses = list(engine.map(requests))
    assert all(r.ok for r in responses), [r.error for r in responses if not r.ok]
    assert [r.body for r in responses] == [BODIES[k] for k in KEYS[:16]]
    stats = engine.last_run
    assert stats is not None and stats.resubmitted == 8 and len(resigned) == 8
    assert server.stats()["requests"] == 16  # a stale request is sent back unsent, not refused by S3


# -- front-ends ----------------------------------------------------------------------------------
def test_get_objects_into_a_directory_and_into_memory(
    make_engine: Callable[..., DaskEngine], signer: Signer, tmp_path: Any
) -> None:
    keys = KEYS[:20]
    engine = make_engine(batch_size=6)
    on_disk = {r.key: r for r in get_objects(BUCKET, keys, out_dir=tmp_path, engine=engine, signer=signer)}
    assert all(r.ok and r.verified for r in on_disk.values()), [r.error for r in on_disk.values() if not r.ok]
    assert {key: (tmp_path / key).read_bytes() for key in keys} == {key: BODIES[key] for key in keys}
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".awspar-")]
    in_memory = {r.key: r.data for r in get_objects(BUCKET, keys, engine=engine, signer=signer)}
    assert in_memory == {key: BODIES[key] for key in keys}


def test_get_objects_mode_dask_uses_the_configured_scheduler(
    cluster: ClusterProcess, signer: Signer, tmp_path: Any
) -> None:
    with dask.config.set({"scheduler-address": cluster.address}):
        results = list(get_objects(BUCKET, KEYS[:6], out_dir=tmp_path, mode="dask", signer=signer))
    assert sorted(r.key for r in results if r.ok) == KEYS[:6]
    assert (tmp_path / KEYS[5]).read_bytes() == BODIES[KEYS[5]]


def test_bedrock_all_and_race_through_the_cluster(cluster: ClusterProcess) -> None:
    with BedrockServer() as endpoint:
        bedrock_signer = Signer("bedrock-runtime", session=boto3.Session(**TEST_CREDENTIALS.boto3_kwargs()),
                                endpoint_url=endpoint.url)
        with dask.config.set({"scheduler-address": cluster.address}):
            run = bedrock.invoke(["one", "two", "three"], mode="dask", signer=bedrock_signer)
            assert [a.text for a in run.answers] == ["one", "two", "three"]
            raced = bedrock.invoke("fastest", n=3, strategy="race", mode="dask", signer=bedrock_signer)
        assert raced.text == "fastest" and raced.winner is not None
        assert sum(c.outcome == "won" for c in raced.calls) == 1


def test_race_keeps_the_first_accepted_answer(make_engine: Callable[..., DaskEngine], signer: Signer) -> None:
    requests = _gets(signer, ["missing-key", KEYS[3], KEYS[4]])
    result = make_engine().race(requests, accept=lambda r: r.body == BODIES[KEYS[4]])
    assert result.winner_index == 2 and result.winner is not None and result.winner.body == BODIES[KEYS[4]]
    assert len(result.results) == 3 and result.results[0].status in (0, 404)


# -- bounds and failures -------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_fifty_thousand_requests_with_bounded_batches_in_flight(client: distributed.Client) -> None:
    """50,000 GETs; at most K batches on the cluster (the engine's count, and the scheduler's own
    task count sampled as results come); the input read lazily, never far ahead of the results."""
    count, batch_size, limit = 50_000, 1000, 4
    with ObjectServer({"many": GeneratedBucket(count, 16)}, verify=False, process=True) as endpoint:
        signer = Signer("s3", session=boto3.Session(**TEST_CREDENTIALS.boto3_kwargs()), endpoint_url=endpoint.url)
        spec = GeneratedBucket(count, 16)
        pulled = 0

        def requests() -> Iterator[SignedRequest]:
            nonlocal pulled
            for i in range(count):
                pulled += 1
                yield signer.presign("GetObject", {"Bucket": "many", "Key": spec.key(i)})

        engine = DaskEngine(EngineConfig(concurrency=32), client=client, resign=signer.resign,
                            batch_size=batch_size, max_batches=limit)
        seen = bytearray(count)
        received = ok = 0
        furthest_ahead = scheduler_peak = 0
        for response in engine.as_completed(requests()):
            seen[response.index] += 1
            received += 1
            ok += response.ok and len(response.body) == 16
            furthest_ahead = max(furthest_ahead, pulled - received)
            if received % 2500 == 0:
                scheduler_peak = max(scheduler_peak, client.run_on_scheduler(_tasks_on_scheduler))
        engine.close()
    assert received == count and ok == count and set(seen) == {1}
    stats = engine.last_run
    assert stats is not None and stats.peak_batches == limit and stats.batches == count // batch_size
    assert furthest_ahead <= (limit + 1) * batch_size
    assert 0 < scheduler_peak <= limit + 1  # a finished batch may linger until its release arrives


def _tasks_on_scheduler(dask_scheduler: Any) -> int:
    return sum(1 for key in dask_scheduler.tasks if str(key).startswith("awspar-batch-"))


@pytest.mark.timeout(90)
def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(
    make_engine: Callable[..., DaskEngine], client: distributed.Client, signer: Signer, server: ObjectServer
) -> None:
    """Both workers are mid-batch (the endpoint has more requests in flight than one worker may
    send) when one is killed: its batch runs again on the other and every result comes once."""
    server.configure(EndpointBehaviour(latency=Latency(300)))
    keys = KEYS[:40] * 3
    engine = make_engine(CONFIG.with_(concurrency=5), batch_size=10, max_batches=2)
    pids = client.run(os.getpid)
    killed: list[int] = []

    def kill_when_both_are_busy() -> None:
        deadline = time.monotonic() + 30
        while server.stats()["in_flight"] <= 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        busy = [w for w, keys_ in client.processing().items() if keys_]
        killed.append(pids[busy[0]])
        os.kill(pids[busy[0]], signal.SIGKILL)

    killer = threading.Thread(target=kill_when_both_are_busy)
    killer.start()
    responses = list(engine.as_completed(_gets(signer, keys)))
    killer.join()
    counts = Counter(r.index for r in responses)
    assert killed and sorted(counts) == list(range(len(keys))) and set(counts.values()) == {1}
    assert all(r.ok and r.body == BODIES[keys[r.index]] for r in responses), [r.error for r in responses if not r.ok]
    assert server.stats()["requests"] > len(keys)  # the killed batch was sent again
    stats = engine.last_run
    assert stats is not None and stats.failed_batches == 0 and stats.duplicates == 0
    client.wait_for_workers(2, timeout=60)  # the nanny brings the worker back for the next tests
    assert killed[0] not in client.run(os.getpid).values()


# -- its own cluster, and bad input --------------------------------------------------------------
@pytest.mark.timeout(90)
def test_without_a_scheduler_it_starts_and_stops_a_local_cluster(
    signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in TEST_CREDENTIALS.env().items():
        monkeypatch.setenv(name, value)
    with dask.config.set({"scheduler-address": None}):
        engine = DaskEngine(EngineConfig(workers=1), resign=signer.resign)
        responses = list(engine.map(_gets(signer, KEYS[:4])))
        own = engine.client
        assert len(own.scheduler_info()["workers"]) == 1
        assert list(own.run(_on_the_cluster(_aws_variables)).values()) == [[]]
        engine.close()
    assert [r.body for r in responses] == [BODIES[k] for k in KEYS[:4]]
    assert own.status == "closed"
    with pytest.raises(RuntimeError, match="closed"):
        list(engine.map([]))


def test_unreachable_scheduler_is_one_clear_error(signer: Signer) -> None:
    engine = DaskEngine(EngineConfig(connect_timeout=0.5), scheduler="tcp://127.0.0.1:9")
    with pytest.raises(EngineUnavailableError, match=r"cannot reach the Dask scheduler at 'tcp://127\.0\.0\.1:9'"):
        list(engine.map(_gets(signer, KEYS[:1])))
    engine.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"max_batches": 0}, "max_batches must be at least 1"),
        ({"worker_engine": "processes"}, "worker_engine must be 'async' or 'threads'"),
        ({"retries": -1}, "retries must not be negative"),
        ({"scheduler": "tcp://127.0.0.1:1", "client": object()}, "a client or a scheduler address, not both"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        DaskEngine(**options)


# -- the command line ----------------------------------------------------------------------------
def _s3_get(server: ObjectServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": server.url}
    return subprocess.run([sys.executable, "-c", "from awspar.cli import main; main()", "s3-get", *args],
                          check=False, env=env, capture_output=True, text=True, timeout=90)


@pytest.mark.timeout(60)
def test_s3_get_cli_on_a_given_scheduler(server: ObjectServer, cluster: ClusterProcess, tmp_path: Any) -> None:
    done = _s3_get(server, BUCKET, *KEYS[:8], "--out", str(tmp_path), "--mode", "dask",
                   "--scheduler", cluster.address, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["ok"], report["failed"]) == (8, 0)
    assert {key: (tmp_path / key).read_bytes() for key in KEYS[:8]} == {key: BODIES[key] for key in KEYS[:8]}
    assert server.stats()["requests"] == 8


@pytest.mark.timeout(90)
def test_s3_get_cli_mode_dask_alone_starts_a_local_cluster(server: ObjectServer, tmp_path: Any) -> None:
    done = _s3_get(server, BUCKET, KEYS[9], "--out", str(tmp_path), "--mode", "dask")
    assert done.returncode == 0, done.stderr
    assert "1 ok, 0 failed" in done.stdout
    assert (tmp_path / KEYS[9]).read_bytes() == BODIES[KEYS[9]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--mode", "threads", "--scheduler", "tcp://127.0.0.1:1"), "--scheduler goes with --mode dask"),
        (("--mode", "dask", "--scheduler", " "), "--scheduler needs an address"),
    ],
)
def test_s3_get_cli_refuses_a_scheduler_without_dask(server: ObjectServer, tmp_path: Any, args: tuple[str, ...],
                                                     message: str) -> None:
    done = _s3_get(server, BUCKET, KEYS[0], "--out", str(tmp_path), *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"awspar: {message}")
    assert server.stats()["requests"] == 0 and not list(tmp_path.iterdir())


@pytest.mark.timeout(60)
def test_bedrock_cli_on_a_given_scheduler(cluster: ClusterProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    typer_testing = pytest.importorskip("typer.testing", reason="the CLI needs the 'cli' extra")
    from awspar.cli.app import build_app

    with BedrockServer() as endpoint:
        for name, value in TEST_CREDENTIALS.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", endpoint.url)
        result = typer_testing.CliRunner().invoke(
            build_app(), ["bedrock", "--n", "2", "--mode", "dask", "--scheduler", cluster.address, "--json",
                          "hello from the cluster"])
        assert result.exit_code == 0, result.stderr
        run = json.loads(result.stdout)
        assert [call["outcome"] for call in run["calls"]] == ["ok", "ok"]
        assert endpoint.stats()["requests"] == 2
    assert dask.config.get("scheduler-address", None) is None  # the setting lasted one command


@pytest.mark.timeout(120)
def test_auto_concurrency_holds_for_the_whole_cluster(make_engine: Callable[..., DaskEngine], signer: Signer,
                                                      server: ObjectServer) -> None:
    """``concurrency="auto"`` against a prefix that serves 6 requests in flight (503 SlowDown
    above): the client admits the work, so the limit holds for both workers together (each alone
    may send a whole batch at once), and nothing is lost."""
    from awspar.testing.capacity import Capacity

    capacity = 6
    server.configure(EndpointBehaviour(latency=Latency(median_ms=40), capacity=Capacity(concurrent=capacity)))
    config = EngineConfig(concurrency="auto", max_concurrency=64,
                          retry=RetryPolicy(max_attempts=30, base_delay=0.005, max_delay=0.05))
    engine = make_engine(config, batch_size=16)
    keys = KEYS * 2
    results = engine.as_completed(_gets(signer, keys))
    first = [next(results) for _ in range(30)]  # the first windows find the capacity
    server.reset_stats()
    responses = first + list(results)
    assert sorted(r.index for r in responses) == list(range(len(keys)))
    assert all(r.ok and r.body == BODIES[keys[r.index]] for r in responses)
    assert server.stats()["peak_in_flight"] <= capacity + 2
    assert engine.limits is not None
    (limit,) = engine.limits.scopes().values()
    assert limit.throttled > 0 and limit.limit <= capacity + 2 and limit.in_flight == 0
