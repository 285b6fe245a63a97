"""The ``dask`` engine measured side by side, in one run: 1 worker vs 2, and the async engine alone.

1. Latency-bound fan-out: N presigned GETs (default 2,000) against the local object endpoint with
   100 ms injected latency. Each Dask worker sends at ``--per-worker`` requests in flight (default
   20), so a worker can do at most 200 requests/s and the worker count, not the 2 cores, is the
   ceiling: ideal 10 s on one worker, 5 s on two. Target: 2 workers >= 1.8x one worker. The async
   engine alone runs the same workload beside them at the same concurrency as one worker and as
   two (what the cluster costs over sending from this process).
2. Overhead per batch: batches of ``--per-worker`` requests submitted one at a time to an idle
   worker; submit -> first request leaving the worker, split into submit -> task start
   (scheduler and transfer) and task start -> first request (the worker's engine), and the
   round trip of a whole batch less its one 100 ms round of latency.

Each cluster is a LocalCluster of single-threaded worker processes in a child process without
AWS settings (:class:`awspar.engines._dask_cluster.ClusterProcess`), started before the clock;
rounds alternate between the contenders and the median round is reported. The object server
runs in its own process.

    /work/venv13/bin/python benchmarks/bench_dask.py [--requests 2000] [--rounds 3]

Writes the raw numbers to ``benchmarks/results/bench_dask.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "bench_dask.json"
LATENCY_MS = 100.0
BUCKET = "bench"
OBJECT_SIZE = 1024


def _median_spread(samples: list[float]) -> dict[str, float]:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def _timed(run: Callable[[], int], expected: int) -> float:
    began = time.perf_counter()
    ok = run()
    elapsed = time.perf_counter() - began
    if ok != expected:
        raise SystemExit(f"only {ok} of {expected} requests succeeded: the measurement is void")
    return elapsed


def fan_out(args: argparse.Namespace, server_url: str, clients: dict[int, Any]) -> dict[str, Any]:
    """Wall seconds per contender and round, the same N GETs for each."""
    from awspar import EngineConfig
    from awspar.engines import get_engine
    from awspar.engines.dask_engine import DaskEngine
    from awspar.testing.object_server import GeneratedBucket

    signer = _signer(server_url)
    spec = GeneratedBucket(args.requests, OBJECT_SIZE)

    def requests() -> Any:
        return (signer.presign("GetObject", {"Bucket": BUCKET, "Key": spec.key(i)}) for i in range(args.requests))

    def dask_run(workers: int) -> Callable[[], int]:
        def run() -> int:
            with DaskEngine(EngineConfig(concurrency=args.per_worker), client=clients[workers],
                            resign=signer.resign, batch_size=args.batch_size) as engine:
                return sum(r.ok for r in engine.as_completed(requests()))
        return run

    def async_run(concurrency: int) -> Callable[[], int]:
        def run() -> int:
            with get_engine("async", EngineConfig(concurrency=concurrency), resign=signer.resign) as engine:
                return sum(r.ok for r in engine.as_completed(requests()))
        return run

    contenders = {
        "dask, 1 worker": dask_run(1),
        "dask, 2 workers": dask_run(2),
        f"async alone, concurrency {args.per_worker}": async_run(args.per_worker),
        f"async alone, concurrency {2 * args.per_worker}": async_run(2 * args.per_worker),
    }
    for run in contenders.values():  # warm: worker engines made, modules imported
        run()
    rounds: dict[str, list[float]] = {name: [] for name in contenders}
    for number in range(args.rounds):
        for name, run in contenders.items():
            rounds[name].append(_timed(run, args.requests))
            print(f"  round {number + 1}: {name}: {rounds[name][-1]:.2f} s", flush=True)
    ideal_one = args.requests / args.per_worker * LATENCY_MS / 1000
    return {
        "requests": args.requests,
        "per_worker_concurrency": args.per_worker,
        "batch_size": args.batch_size,
        "latency_ms": LATENCY_MS,
        "ideal_s": {"1 worker": ideal_one, "2 workers": ideal_one / 2},
        "rounds_s": rounds,
        "summary_s": {name: _median_spread(samples) for name, samples in rounds.items()},
    }


def batch_overhead(args: argparse.Namespace, server_url: str, client: Any) -> dict[str, Any]:
    """Batches of one round each (``per_worker`` requests), one at a time on an idle worker."""
    from awspar import EngineConfig
    from awspar.engines.dask_engine import DaskEngine
    from awspar.testing.object_server import GeneratedBucket

    signer = _signer(server_url)
    spec = GeneratedBucket(args.requests, OBJECT_SIZE)
    size = args.per_worker
    with DaskEngine(EngineConfig(concurrency=size), client=client, resign=signer.resign, batch_size=size,
                    max_batches=1) as engine:
        list(engine.map(signer.presign("GetObject", {"Bucket": BUCKET, "Key": spec.key(i)}) for i in range(size)))
        requests = [signer.presign("GetObject", {"Bucket": BUCKET, "Key": spec.key(i % args.requests)})
                    for i in range(size * args.batches)]
        responses = list(engine.map(requests))
        stats = engine.last_run
    assert stats is not None and all(r.ok for r in responses)
    timings = stats.timings
    ms = 1000.0
    overhead = [t.overhead * ms for t in timings if t.overhead is not None]
    to_start = [(t.started - t.submitted) * ms for t in timings]
    to_first = [(t.first_request - t.started) * ms for t in timings if t.first_request is not None]
    round_trip = [(t.received - t.submitted) * ms - LATENCY_MS for t in timings]
    return {
        "batches": len(timings),
        "batch_size": size,
        "submit_to_first_request_ms": _median_spread(overhead),
        "submit_to_task_start_ms": _median_spread(to_start),
        "task_start_to_first_request_ms": _median_spread(to_first),
        "round_trip_less_latency_ms": _median_spread(round_trip),
        "raw_submit_to_first_request_ms": overhead,
    }


def _signer(server_url: str) -> Any:
    import boto3

    from awspar.signer import Signer
    from awspar.testing.credentials import TEST_CREDENTIALS

    return Signer("s3", session=boto3.Session(**TEST_CREDENTIALS.boto3_kwargs()), endpoint_url=server_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="GETs per run (default 2000)")
    parser.add_argument("--per-worker", type=int, default=20, help="requests in flight per worker (default 20)")
    parser.add_argument("--batch-size", type=int, default=100, help="requests per Dask task (default 100)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per contender (default 3)")
    parser.add_argument("--batches", type=int, default=20, help="batches for the overhead measurement")
    args = parser.parse_args()

    import distributed

    from awspar.engines._dask_cluster import ClusterProcess
    from awspar.testing.faults import EndpointBehaviour, Latency
    from awspar.testing.object_server import GeneratedBucket, ObjectServer

    behaviour = EndpointBehaviour(latency=Latency(LATENCY_MS))
    server = ObjectServer({BUCKET: GeneratedBucket(args.requests, OBJECT_SIZE)}, behaviour=behaviour, process=True)
    with server, ClusterProcess(workers=1) as one, ClusterProcess(workers=2) as two, \
            distributed.Client(one.address, set_as_default=False) as client_one, \
            distributed.Client(two.address, set_as_default=False) as client_two:
        client_one.wait_for_workers(1)
        client_two.wait_for_workers(2)
        print(f"fan-out: {args.requests} GETs, {LATENCY_MS:g} ms latency, {args.per_worker} in flight per worker",
              flush=True)
        fan = fan_out(args, server.url, {1: client_one, 2: client_two})
        print("overhead per batch (idle worker, one batch at a time)", flush=True)
        overhead = batch_overhead(args, server.url, client_one)

    medians = {name: s["median"] for name, s in fan["summary_s"].items()}
    one_s, two_s = medians["dask, 1 worker"], medians["dask, 2 workers"]
    async_one = medians[f"async alone, concurrency {args.per_worker}"]
    async_two = medians[f"async alone, concurrency {2 * args.per_worker}"]
    ratios = {
        "2 workers vs 1 (target >= 1.8)": one_s / two_s,
        "dask 1 worker vs async alone at the same concurrency": async_one / one_s,
        "dask 2 workers vs async alone at the same concurrency": async_two / two_s,
    }
    print()
    print(f"{'contender':48} {'median s':>9} {'req/s':>8} {'efficiency':>10}")
    for name, seconds in medians.items():
        ideal = fan["ideal_s"]["1 worker"] if name.endswith(("1 worker", f"concurrency {args.per_worker}")) \
            else fan["ideal_s"]["2 workers"]
        print(f"{name:48} {seconds:9.2f} {args.requests / seconds:8.0f} {ideal / seconds:10.0%}")
    print()
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}x")
    o = overhead
    print(f"overhead per batch of {o['batch_size']}: submit -> first request "
          f"{o['submit_to_first_request_ms']['median']:.1f} ms median "
          f"(submit -> task start {o['submit_to_task_start_ms']['median']:.1f} ms, "
          f"task start -> first request {o['task_start_to_first_request_ms']['median']:.1f} ms); "
          f"whole round trip less the 100 ms latency {o['round_trip_less_latency_ms']['median']:.1f} ms")

    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
               "load_average": os.getloadavg()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine, "fan_out": fan, "batch_overhead": overhead,
                                   "ratios": ratios}, indent=2) + "\n")
    print(f"raw numbers: {RESULTS}")


if __name__ == "__main__":
    main()
