"""Every engine measured side by side in one run, against a bare aiohttp loop on the same URLs.

1. fan-out: N GETs (default 1,000) with 50 ms injected latency at concurrency 100; ideal
   N / 100 * 50 ms. Efficiency = ideal / measured; ``vs bare`` = wall / bare aiohttp's wall.
   Besides the engines: the bare unsigned aiohttp loop, "presign with boto3 + aiohttp by hand"
   (``generate_presigned_url`` per request inside the clock, then the same aiohttp loop), and
   plain urllib3 in as many threads as requests in flight: the floor of the urllib3 engines.
2. small GETs: N GETs of 16 KiB, no latency, concurrency 64: requests/s and client CPU per
   request (this process's CPU, plus the worker processes' for the processes engine; the
   object server runs in a separate process, so its CPU is not counted). The threads engine is
   run at several thread counts, to choose the count by measurement.
   The summary gives awspar's async engine's requests/s over obstore's (issue 4's target: >= 1.0).
3. memory: 100,000 requests streamed through an engine in a fresh child process; peak RSS after
   the first 10 % and at the end (flat means the two are close).

Engines get requests signed before the clock (header-signed, by awspar's Signer; the signing cost
is reported separately). Rounds alternate between contenders and the median is reported.

obstore (a Rust S3 client, ``pip install 'awspar[peer-obstore]'``) joins cases 1 and 2 as a peer
when it is importable; it signs every request itself, inside the clock. Its tokio threads run in
this process, so ``time.process_time()`` counts their CPU (it agreed with ``os.times()`` within
tick resolution; about 40 % of obstore's CPU was in threads other than the main one).

    /work/venv13/bin/python benchmarks/bench_engines.py [--rounds 3] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from awspar import EngineConfig, SignedRequest
from awspar.bench.modes import module_missing
from awspar.engines import get_engine
from awspar.signer import Signer
from awspar.testing.credentials import TEST_CREDENTIALS
from awspar.testing.faults import EndpointBehaviour, Latency
from awspar.testing.object_server import GeneratedBucket, ObjectServer

BUCKET = "bench"
OBSTORE_MISSING = module_missing("obstore", "peer-obstore")
UVLOOP_MISSING = module_missing("uvloop", "uvloop")


def engine_modes() -> list[str]:
    modes = ["async", "threads", "processes", "boto3"]
    if sys.version_info >= (3, 13):
        modes.insert(2, "subinterpreters")
    return modes


def worker_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of other processes (Linux /proc), e.g. process-engine workers."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def bare_aiohttp(urls: list[str], concurrency: int, presign: Callable[[int], str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of the plain aiohttp loop: one session, ``concurrency`` workers."""
    import aiohttp
    import yarl

    async def run() -> tuple[float, float]:
        began, cpu = time.perf_counter(), time.process_time()
        pending = iter(range(len(urls)))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

            async def worker() -> None:
                for i in pending:
                    url = yarl.URL(presign(i), encoded=True) if presign else urls[i]
                    async with session.get(url) as response:
                        await response.read()
                        assert response.status == 200, response.status

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - began, time.process_time() - cpu

    return asyncio.run(run())


def bare_urllib3(urls: list[str], concurrency: int) -> tuple[float, float]:
    """Wall and CPU seconds of plain urllib3 in ``concurrency`` threads, one shared PoolManager:
    the floor under every urllib3 engine (threads, subinterpreters, processes)."""
    from concurrent.futures import ThreadPoolExecutor

    import urllib3

    pool = urllib3.PoolManager(maxsize=concurrency, block=True, retries=False)

    def one(url: str) -> None:
        response = pool.urlopen("GET", url, preload_content=False, redirect=False)
        response.read()
        response.release_conn()
        assert response.status == 200, response.status

    began, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(concurrency) as threads:
        list(threads.map(one, urls))
    return time.perf_counter() - began, time.process_time() - cpu


def obstore_loop(endpoint: str, keys: list[str], concurrency: int) -> tuple[float, float]:
    """Wall and CPU seconds of obstore GETting ``keys`` with ``concurrency`` asyncio workers: a fresh
    store (no connection yet) made before the clock, each body read in full."""
    import obstore
    from obstore.store import S3Store

    store = S3Store(BUCKET, endpoint=endpoint, region=TEST_CREDENTIALS.region,
                    access_key_id=TEST_CREDENTIALS.access_key, secret_access_key=TEST_CREDENTIALS.secret_key,
                    client_options={"allow_http": True}, virtual_hosted_style_request=False)

    async def run() -> tuple[float, float]:
        began, cpu = time.perf_counter(), time.process_time()
        pending = iter(keys)

        async def worker() -> None:
            for key in pending:
                result = await obstore.get_async(store, key)  # raises on an error status
                await result.bytes_async()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - began, time.process_time() - cpu

    return asyncio.run(run())


def run_engine(mode: str, config: EngineConfig, requests: list[SignedRequest], endpoint: str, **options: Any) -> tuple[float, float]:
    """Wall and CPU seconds of ``engine.map`` over ``requests`` on a fresh, started engine."""
    if mode == "boto3":
        options = {"session": boto3.Session(**TEST_CREDENTIALS.boto3_kwargs()), "endpoint_url": endpoint, **options}
    with get_engine(mode, config, **options) as engine:
        start = getattr(engine, "start", None)
        if start is not None:
            start()
        pids = list(getattr(engine, "pids", []))
        before = worker_cpu(pids)
        began, cpu = time.perf_counter(), time.process_time()
        failed = sum(not r.ok for r in engine.map(requests))
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
        cpu += worker_cpu(pids) - before
    assert failed == 0, f"{mode}: {failed} failed"
    return wall, cpu


def run_async_native(config: EngineConfig, requests: list[SignedRequest]) -> tuple[float, float]:
    """Wall and CPU seconds of ``await``-ing the async engine's ``amap`` on the caller's own loop."""

    async def run() -> tuple[float, float]:
        async with get_engine("async", config) as engine:
            began, cpu = time.perf_counter(), time.process_time()
            failed = 0
            async for response in engine.amap(requests):
                failed += not response.ok
            wall, cpu = time.perf_counter() - began, time.process_time() - cpu
        assert failed == 0, f"async (amap): {failed} failed"
        return wall, cpu

    return asyncio.run(run())


def signed(signer: Signer, count: int) -> tuple[list[SignedRequest], float]:
    began = time.perf_counter()
    requests = [signer.sign("GetObject", {"Bucket": BUCKET, "Key": f"obj-{i + 1:06d}"}) for i in range(count)]
    requests = [SignedRequest(r.method, r.url, r.headers, r.body, r.operation, r.expires_at,
                              {"Bucket": BUCKET, "Key": f"obj-{i + 1:06d}"}) for i, r in enumerate(requests)]
    return requests, (time.perf_counter() - began) / count


def contenders(server: ObjectServer, count: int, concurrency: int, thread_counts: list[int]) -> dict[str, Callable[[], tuple[float, float]]]:
    session = boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())
    signer = Signer("s3", session=session, endpoint_url=server.url)
    requests, sign_cost = signed(signer, count)
    contenders.sign_cost = sign_cost  # type: ignore[attr-defined]
    urls = [f"{server.url}/{BUCKET}/obj-{i + 1:06d}" for i in range(count)]
    client = session.client("s3", endpoint_url=server.url)
    config = EngineConfig(concurrency=concurrency, workers=2)
    runs: dict[str, Callable[[], tuple[float, float]]] = {
        "bare aiohttp (unsigned)": lambda: bare_aiohttp(urls, concurrency),
        "presign boto3 + aiohttp": lambda: bare_aiohttp(urls, concurrency, lambda i: client.generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": f"obj-{i + 1:06d}"})),
        "bare urllib3 threads (unsigned)": lambda: bare_urllib3(urls, concurrency),
    }
    for mode in engine_modes():
        runs[mode] = lambda mode=mode: run_engine(mode, config, requests, server.url)
    runs["async (amap, own loop)"] = lambda: run_async_native(config, requests)
    if UVLOOP_MISSING() is None:
        runs["async (uvloop)"] = lambda: run_engine("async", config, requests, server.url, loop="uvloop")
    for threads in thread_counts:
        runs[f"threads x{threads}"] = lambda t=threads: run_engine("threads", config, requests, server.url, threads=t)
    if OBSTORE_MISSING() is None:
        keys = [f"obj-{i + 1:06d}" for i in range(count)]
        runs["obstore"] = lambda: obstore_loop(server.url, keys, concurrency)
    return runs


def measure(runs: dict[str, Callable[[], tuple[float, float]]], rounds: int) -> dict[str, dict[str, list[float]]]:
    raw: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            wall, cpu = run()
            raw[name]["wall"].append(wall)
            raw[name]["cpu"].append(cpu)
    return raw


def fan_out(rounds: int, count: int, concurrency: int, latency_ms: float) -> dict[str, Any]:
    behaviour = EndpointBehaviour(latency=Latency(latency_ms))
    with ObjectServer({BUCKET: GeneratedBucket(count, 1024)}, verify=False, behaviour=behaviour, process=True) as server:
        raw = measure(contenders(server, count, concurrency, []), rounds)
    ideal = count / concurrency * latency_ms / 1000
    bare = statistics.median(raw["bare aiohttp (unsigned)"]["wall"])
    summary = {
        name: {"wall_s": statistics.median(v["wall"]), "efficiency": ideal / statistics.median(v["wall"]),
               "vs_bare": statistics.median(v["wall"]) / bare}
        for name, v in raw.items()
    }
    return {"requests": count, "concurrency": concurrency, "latency_ms": latency_ms, "ideal_s": ideal,
            "sign_us_per_request": contenders.sign_cost * 1e6, "raw": raw, "summary": summary}  # type: ignore[attr-defined]


def small_gets(rounds: int, count: int, concurrency: int, thread_counts: list[int]) -> dict[str, Any]:
    with ObjectServer({BUCKET: GeneratedBucket(count, 16 * 1024)}, verify=False, process=True) as server:
        raw = measure(contenders(server, count, concurrency, thread_counts), rounds)
    bare_cpu = statistics.median(raw["bare aiohttp (unsigned)"]["cpu"])
    summary = {
        name: {"req_per_s": count / statistics.median(v["wall"]),
               "cpu_us_per_request": statistics.median(v["cpu"]) / count * 1e6,
               "cpu_vs_bare": statistics.median(v["cpu"]) / bare_cpu}
        for name, v in raw.items()
    }
    versus_obstore = ({name: summary[name]["req_per_s"] / summary["obstore"]["req_per_s"]
                       for name in ("async", "async (amap, own loop)", "async (uvloop)") if name in summary}
                      if "obstore" in summary else None)
    return {"requests": count, "concurrency": concurrency, "body_bytes": 16 * 1024,
            "sign_us_per_request": contenders.sign_cost * 1e6, "raw": raw, "summary": summary,  # type: ignore[attr-defined]
            "async_vs_obstore_req_per_s": versus_obstore}


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM; ``ru_maxrss`` would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(mode: str, url: str, count: int, concurrency: int) -> None:
    """In a fresh process: stream ``count`` lazily signed requests; print peak RSS (KiB) at 10 % and 100 %."""
    session = boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())
    signer = Signer("s3", session=session, endpoint_url=url)
    jobs = (signer.presign("GetObject", {"Bucket": BUCKET, "Key": f"obj-{i % 1000 + 1:06d}"}) for i in range(count))
    marks = {}
    ok = 0
    began = time.perf_counter()
    with get_engine(mode, EngineConfig(concurrency=concurrency)) as engine:
        for n, response in enumerate(engine.as_completed(jobs), 1):
            ok += response.ok
            if n in (count // 10, count):
                marks[n] = peak_rss_kib()
    print(json.dumps({"mode": mode, "ok": ok, "seconds": time.perf_counter() - began,
                      "peak_rss_kib": {str(k): v for k, v in marks.items()}}))


def memory(modes: list[str], count: int, concurrency: int) -> dict[str, Any]:
    results = {}
    with ObjectServer({BUCKET: GeneratedBucket(1000, 1024)}, verify=False, process=True) as server:
        for mode in modes:
            out = subprocess.run([sys.executable, __file__, "--memory-child", mode, server.url, str(count), str(concurrency)],
                                 capture_output=True, text=True, check=True).stdout
            results[mode] = json.loads(out.strip().splitlines()[-1])
    return {"requests": count, "concurrency": concurrency, "results": results}


def table(title: str, rows: dict[str, dict[str, float]], columns: list[str]) -> str:
    lines = [title, f"  {'contender':32}" + "".join(f"{c:>20}" for c in columns)]
    for name, values in rows.items():
        lines.append(f"  {name:32}" + "".join(f"{values[c]:>20.3f}" for c in columns))
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-child":
        memory_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fanout-requests", type=int, default=1000)
    parser.add_argument("--small-requests", type=int, default=3000)
    parser.add_argument("--memory-requests", type=int, default=100_000)
    parser.add_argument("--memory-engines", default="async,threads")
    parser.add_argument("--threads", default="4,8,16,64", help="thread counts tried for the threads engine")
    parser.add_argument("--skip", default="", help="comma-separated: fanout,small,memory")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    obstore_missing = OBSTORE_MISSING()
    if obstore_missing is not None and not {"fanout", "small"} <= skip:
        print(f"obstore left out: {obstore_missing}")
    report: dict[str, Any] = {"machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                                          "cpus": os.cpu_count()}}
    if "fanout" not in skip:
        report["fanout"] = fan_out(args.rounds, args.fanout_requests, 100, 50.0)
        f = report["fanout"]
        print(table(f"fan-out: {f['requests']} GETs, 50 ms latency, concurrency 100, ideal {f['ideal_s']:.2f} s",
                    f["summary"], ["wall_s", "efficiency", "vs_bare"]))
    if "small" not in skip:
        report["small_gets"] = small_gets(args.rounds, args.small_requests, 64, [int(t) for t in args.threads.split(",")])
        s = report["small_gets"]
        print(table(f"small GETs: {s['requests']} x 16 KiB, concurrency 64 (signing: {s['sign_us_per_request']:.0f} us/request, not counted)",
                    s["summary"], ["req_per_s", "cpu_us_per_request", "cpu_vs_bare"]))
        if s["async_vs_obstore_req_per_s"] is not None:
            print("  awspar async req/s / obstore req/s (target >= 1.0): "
                  + ", ".join(f"{ratio:.2f} ({name})" for name, ratio in s["async_vs_obstore_req_per_s"].items()))
    if "memory" not in skip:
        report["memory"] = memory(args.memory_engines.split(","), args.memory_requests, 64)
        print(f"memory: {args.memory_requests} requests streamed (lazily presigned), concurrency 64")
        for mode, result in report["memory"]["results"].items():
            marks = result["peak_rss_kib"]
            print(f"  {mode:28} ok {result['ok']:>7}  {result['seconds']:6.1f} s  peak RSS "
                  + "  ".join(f"after {k}: {v / 1024:.1f} MiB" for k, v in marks.items()))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "engines.json"
    path.write_text(json.dumps(report, indent=1))
    print(f"raw numbers: {path}")


if __name__ == "__main__":
    main()
