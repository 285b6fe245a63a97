"""How many small GETs per second awspar's local object server answers, measured from a client
in a separate process (so the client never shares the server's GIL).

Compared side by side in one run: the server in a thread of this process vs in its own process
(``process=True``), with signature checks off vs on (presigned URLs). Two clients, each in its own
process: a bare aiohttp session with keep-alive connections, and ``wrk`` (C, one thread) when it
is installed (``apt-get install wrk``), which shows the server's own ceiling. Requests go to a
generated bucket of 1 KiB objects.

    /work/venv13/bin/python benchmarks/bench_object_server.py [--requests 20000] [--concurrency 64]

Prints requests/s per setup and ratios, writes the raw numbers to
``benchmarks/results/object_server.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from awspar.testing import TEST_CREDENTIALS, GeneratedBucket, ObjectServer

BUCKET = "bench"
OBJECTS = 1000
SIZE = 1024


def _urls(base: str, count: int, presign: bool) -> list[str]:
    keys = [GeneratedBucket(OBJECTS, SIZE).key(i % OBJECTS) for i in range(count)]
    if not presign:
        return [f"{base}/{BUCKET}/{key}" for key in keys]
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=base, config=Config(signature_version="s3v4"),
                      **TEST_CREDENTIALS.boto3_kwargs())
    return [s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}) for key in keys]


async def _fetch_all(urls: list[str], concurrency: int) -> tuple[float, int]:
    import aiohttp
    import yarl

    queue = iter(urls)
    failures = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        for url in queue:
            async with session.get(yarl.URL(url, encoded=True)) as response:
                body = await response.read()
                if response.status != 200 or len(body) != SIZE:
                    failures += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return time.perf_counter() - start, failures


def _client(base: str, count: int, concurrency: int, presign: bool, conn: Any) -> None:
    urls = _urls(base, count, presign)
    asyncio.run(_fetch_all(urls[: min(500, count)], concurrency))  # warm-up: connections, caches
    elapsed, failures = asyncio.run(_fetch_all(urls, concurrency))
    conn.send((elapsed, failures))


def _wrk(url: str, concurrency: int, seconds: int) -> float:
    """Requests/s that ``wrk`` (one thread) gets from ``url``."""
    done = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", url],
                          capture_output=True, text=True, check=True, timeout=seconds + 30)
    if re.search(r"Non-2xx or 3xx responses", done.stdout):
        raise SystemExit(f"wrk got errors from {url.split('?')[0]}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    assert match is not None, done.stdout
    return float(match.group(1))


def measure(process: bool, verify: bool, count: int, concurrency: int, repeats: int,
            wrk_seconds: int) -> dict[str, Any]:
    """Requests/s of one setup: the median of ``repeats`` runs of each client."""
    context = multiprocessing.get_context("spawn")
    rates, wrk_rates = [], []
    with ObjectServer({BUCKET: GeneratedBucket(OBJECTS, SIZE)}, verify=verify, process=process) as server:
        for _ in range(repeats):
            parent, child = context.Pipe()
            client = context.Process(target=_client, args=(server.url, count, concurrency, verify, child))
            client.start()
            elapsed, failures = parent.recv()
            client.join()
            if failures:
                raise SystemExit(f"{failures} requests failed")
            rates.append(count / elapsed)
            if wrk_seconds:
                wrk_rates.append(_wrk(_urls(server.url, 1, verify)[0], concurrency, wrk_seconds))
        stats = server.stats()
    return {"server_process": process, "verify": verify, "requests": count, "concurrency": concurrency,
            "aiohttp_rates": rates, "aiohttp_median_rps": statistics.median(rates),
            "wrk_rates": wrk_rates, "wrk_median_rps": statistics.median(wrk_rates) if wrk_rates else None,
            "peak_in_flight": stats["peak_in_flight"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000, help="requests per aiohttp client run")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--wrk-seconds", type=int, default=5, help="0 to skip wrk")
    args = parser.parse_args()
    wrk_seconds = args.wrk_seconds if shutil.which("wrk") else 0
    if not wrk_seconds:
        print("wrk not found or disabled: measuring with the aiohttp client only")
    results = []
    print(f"{'server':<14}{'verify':<8}{'aiohttp client GET/s':>22}{'wrk GET/s':>12}")
    for process in (False, True):
        for verify in (False, True):
            r = measure(process, verify, args.requests, args.concurrency, args.repeats, wrk_seconds)
            results.append(r)
            wrk = f"{r['wrk_median_rps']:12.0f}" if r["wrk_median_rps"] else f"{'-':>12}"
            print(f"{'process' if process else 'thread':<14}{'on' if verify else 'off':<8}"
                  f"{r['aiohttp_median_rps']:22.0f}{wrk}")
    base = results[0]
    for key in ("aiohttp_median_rps", "wrk_median_rps"):
        if base[key]:
            print(f"ratios ({key.split('_')[0]}) to thread/verify-off: " + ", ".join(
                f"{'process' if r['server_process'] else 'thread'}/{'on' if r['verify'] else 'off'} "
                f"{r[key] / base[key]:.2f}" for r in results))
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
               "system": platform.platform(), "load_average": os.getloadavg()}
    out = Path(__file__).parent / "results" / "object_server.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "object_size": SIZE, "results": results}, indent=2))
    print(f"machine: {machine}")
    print(f"raw numbers: {out}")


if __name__ == "__main__":
    main()
