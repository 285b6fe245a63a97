"""The ``subinterpreters`` engine measured side by side, in one run, against what it must match.

1. Latency-bound fan-out: N GETs (default 1,000) with 50 ms injected latency at concurrency 100
   (ideal: N / 100 * 50 ms). Subinterpreters vs a bare unsigned aiohttp loop (the yardstick:
   target within 3 % of its wall time) and the threads engine. Efficiency = ideal / measured.
2. A CPU-heavy step per response: every body (a JSON document) is parsed, re-serialised
   canonically and hashed (:func:`canonical_digest`), inside the worker interpreters
   (``postprocess=``) vs inside the threads engine's threads. Target: >= 1.8x on 2 cores.

Each round builds fresh engines (interpreters started before the clock, connections not), and
rounds alternate between the contenders; the median round is reported, with the spread. The
object server runs in its own process so that it never shares the client's GIL or interpreter.

    /work/venv13/bin/python benchmarks/bench_interpreters.py [--rounds 5] [--requests 1000]

Writes the raw numbers to ``benchmarks/results/interpreters.json``. Only the standard library is
imported at the top: the worker interpreters import this module for :func:`canonical_digest`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "interpreters.json"
STEP = "bench_interpreters:canonical_digest"


def canonical_digest(body: bytes) -> bytes:
    """The CPU-heavy step: parse a JSON body, serialise it canonically, hash that (holds the GIL)."""
    document = json.loads(body)
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).digest()


def json_document(index: int, records: int) -> bytes:
    """A JSON body of about ``records * 110`` bytes, different for every index."""
    rows = [
        {
            "id": index * records + n,
            "name": f"item-{index}-{n}",
            "tags": ["a", "b", str(n % 7)],
            "price": (n * 37 % 1000) / 10,
            "ok": n % 3 == 0,
            "nested": {"x": n, "y": [n, n + 1]},
        }
        for n in range(records)
    ]
    return json.dumps({"index": index, "rows": rows}).encode()


def _median_spread(samples: list[float]) -> dict[str, float]:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def _bare_aiohttp(urls: list[str], concurrency: int) -> tuple[float, float]:
    """Wall and CPU time of a bare unsigned aiohttp loop: one session, ``concurrency`` workers."""
    import asyncio

    import aiohttp

    async def run() -> tuple[float, float]:
        began, cpu = time.perf_counter(), time.process_time()
        pending = iter(urls)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                for url in pending:
                    async with session.get(url) as response:
                        await response.read()
                        assert response.status == 200

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - began, time.process_time() - cpu

    return asyncio.run(run())


def _engine_run(make: Callable[[], Any], requests: list[Any]) -> tuple[float, float, list[Any]]:
    """Wall and CPU time (this process: every thread and interpreter) of ``engine.map`` on a fresh
    engine, started before the clock when it can be."""
    with make() as engine:
        start = getattr(engine, "start", None)
        if start is not None:
            start()
        began, cpu = time.perf_counter(), time.process_time()
        responses = list(engine.map(requests))
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    assert all(r.ok for r in responses), [r for r in responses if not r.ok][:3]
    return elapsed, cpu, responses


def fan_out(rounds: int, count: int, concurrency: int, latency_ms: float, workers: int) -> dict[str, Any]:
    from awspar import EngineConfig, SignedRequest
    from awspar.engines import get_engine
    from awspar.testing import EndpointBehaviour, GeneratedBucket, Latency, ObjectServer

    behaviour = EndpointBehaviour(latency=Latency(latency_ms))
    bucket = GeneratedBucket(count, 1024)
    config = EngineConfig(concurrency=concurrency, workers=workers)
    ideal = count / concurrency * latency_ms / 1000
    times: dict[str, list[float]] = {"bare aiohttp": [], "subinterpreters": [], "threads": []}
    cpu: dict[str, list[float]] = {name: [] for name in times}
    with ObjectServer({"b": bucket}, verify=False, behaviour=behaviour, process=True) as server:
        urls = [f"{server.url}/b/{bucket.key(i)}" for i in range(count)]
        requests = [SignedRequest("GET", url, operation="s3.GetObject") for url in urls]
        for _ in range(rounds):
            for name, wall, used in (
                ("bare aiohttp", *_bare_aiohttp(urls, concurrency)),
                (
                    "subinterpreters",
                    *_engine_run(lambda: get_engine("subinterpreters", config), requests)[:2],
                ),
                ("threads", *_engine_run(lambda: get_engine("threads", config), requests)[:2]),
            ):
                times[name].append(wall)
                cpu[name].append(used)
    bare = statistics.median(times["bare aiohttp"])
    return {
        "requests": count,
        "concurrency": concurrency,
        "latency_ms": latency_ms,
        "workers": workers,
        "ideal_s": ideal,
        "raw_s": times,
        "raw_cpu_s": cpu,
        "summary": {
            name: {
                **_median_spread(samples),
                "efficiency": ideal / statistics.median(samples),
                "vs_bare": statistics.median(samples) / bare,
                "cpu_us_per_request": statistics.median(cpu[name]) / count * 1e6,
            }
            for name, samples in times.items()
        },
    }


def cpu_step(rounds: int, count: int, records: int, concurrency: int, workers: int) -> dict[str, Any]:
    from awspar import EngineConfig, SignedRequest
    from awspar.engines import get_engine
    from awspar.testing import ObjectServer

    bodies = {f"doc-{i:05d}": json_document(i, records) for i in range(count)}
    expected = [canonical_digest(body) for body in bodies.values()]
    config = EngineConfig(concurrency=concurrency, workers=workers)
    step_s = min(_timed(canonical_digest, body) for body in list(bodies.values())[:20])
    times: dict[str, list[float]] = {"subinterpreters": [], "threads": []}
    with ObjectServer({"docs": bodies}, verify=False, process=True) as server:
        requests = [SignedRequest("GET", f"{server.url}/docs/{key}") for key in bodies]
        for _ in range(rounds):
            elapsed, _, responses = _engine_run(
                lambda: get_engine("subinterpreters", config, postprocess=STEP), requests
            )
            assert [r.body for r in responses] == expected
            times["subinterpreters"].append(elapsed)
            elapsed, _, responses = _engine_run(lambda: get_engine("threads", config, postprocess=STEP), requests)
            assert [r.body for r in responses] == expected
            times["threads"].append(elapsed)
    return {
        "requests": count,
        "body_bytes": len(next(iter(bodies.values()))),
        "step_ms": step_s * 1000,
        "concurrency": concurrency,
        "workers": workers,
        "raw_s": times,
        "summary": {name: _median_spread(samples) for name, samples in times.items()},
        "speedup": statistics.median(times["threads"]) / statistics.median(times["subinterpreters"]),
    }


def _timed(func: Callable[[bytes], object], body: bytes) -> float:
    began = time.perf_counter()
    func(body)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cpu-requests", type=int, default=200)
    parser.add_argument("--cpu-records", type=int, default=2000, help="JSON rows per body")
    parser.add_argument("--cpu-concurrency", type=int, default=8)
    args = parser.parse_args()
    load_before = os.getloadavg()
    print(
        f"load average before: {load_before[0]:.2f} on {os.cpu_count()} CPUs (other work skews every figure)"
    )

    fan = fan_out(args.rounds, args.requests, args.concurrency, args.latency_ms, args.workers)
    print(
        f"Latency-bound fan-out: {fan['requests']} GETs, {fan['latency_ms']:g} ms latency, concurrency "
        f"{fan['concurrency']}, {fan['workers']} interpreters; ideal {fan['ideal_s']:.3f} s; median of {args.rounds}"
    )
    for name, row in fan["summary"].items():
        print(
            f"  {name:16s} {row['median']:.3f} s  (min {row['min']:.3f}, max {row['max']:.3f})  "
            f"efficiency {row['efficiency']:.2f}  vs bare aiohttp {row['vs_bare']:.3f}x  "
            f"client CPU {row['cpu_us_per_request']:.0f} us/request"
        )

    cpu = cpu_step(args.rounds, args.cpu_requests, args.cpu_records, args.cpu_concurrency, args.workers)
    print(
        f"CPU-heavy step per response: {cpu['requests']} JSON bodies of {cpu['body_bytes'] // 1024} KiB, "
        f"parse + canonical dump + sha256 = {cpu['step_ms']:.1f} ms each, concurrency {cpu['concurrency']}, "
        f"{cpu['workers']} interpreters; median of {args.rounds}"
    )
    for name, row in cpu["summary"].items():
        print(f"  {name:16s} {row['median']:.3f} s  (min {row['min']:.3f}, max {row['max']:.3f})")
    print(f"  subinterpreters speed-up over threads: {cpu['speedup']:.2f}x (target >= 1.8x)")

    RESULTS.parent.mkdir(exist_ok=True)
    machine = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    RESULTS.write_text(json.dumps({"machine": machine, "fan_out": fan, "cpu_step": cpu}, indent=2) + "\n")
    print(f"raw numbers: {RESULTS}")


if __name__ == "__main__":
    main()
