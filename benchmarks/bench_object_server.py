"""How many small GETs per second awspar's local object server answers, measured from a client
in a separate process (so the client never shares the server's GIL).

Compared side by side in one run: the server in a thread of this process vs in its own process
(``process=True``), with signature checks off vs on (presigned URLs). The client is a bare aiohttp
session with keep-alive connections; requests go to a generated bucket of small objects.

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
import statistics
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


def measure(process: bool, verify: bool, count: int, concurrency: int, repeats: int) -> dict[str, Any]:
    """Requests/s of one setup: the median of ``repeats`` client runs."""
    context = multiprocessing.get_context("spawn")
    rates = []
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
        stats = server.stats()
    return {"server_process": process, "verify": verify, "requests": count, "concurrency": concurrency,
            "rates": rates, "median_rps": statistics.median(rates), "peak_in_flight": stats["peak_in_flight"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = []
    for process in (False, True):
        for verify in (False, True):
            result = measure(process, verify, args.requests, args.concurrency, args.repeats)
            results.append(result)
            where = "child process" if process else "thread       "
            print(f"server in {where} verify={'on ' if verify else 'off'}  "
                  f"{result['median_rps']:8.0f} GET/s  (runs: {', '.join(f'{r:.0f}' for r in result['rates'])})")
    base = results[0]["median_rps"]
    print("ratios to thread/verify-off: " + ", ".join(
        f"{'process' if r['server_process'] else 'thread'}/{'on' if r['verify'] else 'off'} "
        f"{r['median_rps'] / base:.2f}" for r in results))
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
               "system": platform.platform()}
    out = Path(__file__).parent / "results" / "object_server.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "object_size": SIZE, "results": results}, indent=2))
    print(f"raw numbers: {out}")


if __name__ == "__main__":
    main()
