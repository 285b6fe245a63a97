"""Uploads: the public ``awspar.s3.put_objects`` call against boto3 and a hand-written aiohttp loop.

Each contender runs once per round, the rounds alternating between them; medians of the rounds
are reported, ratios printed against the issue's targets, raw numbers written as JSON. The object
server runs in a child process on 127.0.0.1 and verifies every signature and every checksum.
Each contender uploads under its own prefix; after its clock stops the bucket is listed (count
and sizes), so a broken contender cannot look fast.

1. ``small``: 2,000 files of 16 KiB on disk, 50 ms latency, 64 in flight.
   - ``awspar async``: ``put_objects(bucket, directory, mode="async", concurrency=64)`` as a user
     writes it (the call makes its own signer and engine); ``awspar threads`` the same in threads.
   - ``boto3 64 threads``: one shared client (``max_pool_connections=64``), ``put_object`` per
     file from 64 threads (botocore adds its CRC32 by default).
   - ``aiohttp loop``: the same work by hand: read the file, CRC32 it, presign the PUT with its
     checksum header (awspar's ``Signer.presign``, made inside the clock), PUT it on one
     ``aiohttp`` session with 64 workers, check the status.
   Targets: boto3 wall / awspar async wall >= 5, awspar async wall / aiohttp loop wall <= 1.2.
2. ``large``: one file (1 GiB by default; ``--large-mib``), no added latency: ``put_objects``
   (async and threads, 8 MiB parts, 32 in flight) against boto3's ``upload_file`` (s3transfer,
   its defaults: 8 MiB parts, 10 threads). Target: awspar throughput / boto3's >= 1.5.

    .venv/bin/python benchmarks/bench_put.py [--rounds 3] [--cases small,large] [--large-mib 1024]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from awspar.s3 import MiB, put_objects
from awspar.signer import Signer
from awspar.testing.credentials import TEST_CREDENTIALS
from awspar.testing.faults import EndpointBehaviour, Latency
from awspar.testing.object_server import ObjectServer

BUCKET = "up"
#: Raw numbers of a run of every case; a run of some cases writes ``bench_put-<cases>.json`` beside it.
RESULTS = Path(__file__).parent / "results" / "bench_put.json"


def _session() -> Any:
    return boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())


def _client(url: str, pool: int) -> Any:
    return _session().client("s3", endpoint_url=url, config=Config(max_pool_connections=pool,
                                                                   signature_version="s3v4"))


def _awspar(mode: str, concurrency: int) -> Callable[[str, list[Path], str, str], None]:
    def run(url: str, files: list[Path], source: str, prefix: str) -> None:
        bad = [r for r in put_objects(BUCKET, source, prefix=prefix, mode=mode, concurrency=concurrency,
                                      session=_session(), endpoint_url=url) if not r.ok]
        if bad:
            raise RuntimeError(f"{len(bad)} failed: {bad[:2]}")
    return run


def _boto3_threads(url: str, files: list[Path], source: str, prefix: str) -> None:
    client = _client(url, 64)

    def one(path: Path) -> None:
        client.put_object(Bucket=BUCKET, Key=prefix + path.name, Body=path.read_bytes())

    with ThreadPoolExecutor(64) as pool:
        list(pool.map(one, files))


def _aiohttp_loop(url: str, files: list[Path], source: str, prefix: str) -> None:
    import aiohttp
    import yarl

    signer = Signer("s3", session=_session(), endpoint_url=url)

    async def main() -> None:
        todo = iter(files)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
            async def worker() -> None:
                for path in todo:
                    data = path.read_bytes()
                    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
                    request = signer.presign("PutObject", {"Bucket": BUCKET, "Key": prefix + path.name,
                                                           "ChecksumCRC32": crc})
                    async with http.put(yarl.URL(request.url, encoded=True), data=data, headers=request.headers,
                                        skip_auto_headers=("Content-Type",)) as response:
                        await response.read()
                        if response.status != 200:
                            raise RuntimeError(f"HTTP {response.status}")

            await asyncio.gather(*(worker() for _ in range(64)))

    asyncio.run(main())


def _boto3_upload_file(url: str, files: list[Path], source: str, prefix: str) -> None:
    _client(url, 10).upload_file(source, BUCKET, prefix + Path(source).name)


def _check(url: str, prefix: str, count: int, size: int) -> None:
    """The contender's objects are all there with their sizes; a large one is then deleted (the
    server holds objects in memory)."""
    client = _client(url, 1)
    listed = [o for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
              for o in page.get("Contents", [])]
    if len(listed) != count or any(o["Size"] != size for o in listed):
        raise RuntimeError(f"{prefix}: {len(listed)} objects listed, expected {count} of {size} bytes")
    if size > 64 * MiB:
        for entry in listed:
            client.delete_object(Bucket=BUCKET, Key=entry["Key"])


def _measure(url: str, contenders: dict[str, Any], files: list[Path], source: str, size: int,
             rounds: int) -> dict[str, dict[str, Any]]:
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    for round_ in range(rounds):
        for name, run in contenders.items():
            prefix = f"{name.replace(' ', '-')}/{round_}/"
            before, start = os.times(), time.perf_counter()
            run(url, files, source, prefix)
            wall, after = time.perf_counter() - start, os.times()
            _check(url, prefix, len(files), size)
            walls[name].append(wall)
            cpus[name].append(after.user + after.system - before.user - before.system)
            print(f"  round {round_ + 1} {name}: {wall:.3f} s", flush=True)
    total = len(files) * size
    return {name: {"wall_s": statistics.median(walls[name]), "walls_s": walls[name],
                   "cpu_s": statistics.median(cpus[name]), "mb_s": total / statistics.median(walls[name]) / 1e6}
            for name in contenders}


def _table(title: str, results: dict[str, dict[str, Any]], count: int) -> None:
    print(f"\n{title}\n| contender | wall s (median) | MB/s | objects/s | client CPU s |\n| --- | --- | --- | --- | --- |")
    for name, row in results.items():
        print(f"| {name} | {row['wall_s']:.3f} | {row['mb_s']:.1f} | {count / row['wall_s']:.0f} | {row['cpu_s']:.2f} |")


def _ratio(label: str, value: float, target: str) -> dict[str, Any]:
    op, bound = target.split()
    met = value >= float(bound) if op == ">=" else value <= float(bound)
    print(f"{label}: {value:.2f} (target {target}: {'met' if met else 'MISSED'})")
    return {"what": label, "value": round(value, 3), "target": target, "met": met}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default="small,large")
    parser.add_argument("--large-mib", type=int, default=1024)
    args = parser.parse_args()
    cases = args.cases.split(",")
    load = os.getloadavg()[0]
    print(f"Python {platform.python_version()} on {os.cpu_count()} CPUs ({platform.system()} {platform.machine()}), "
          f"load average {load:.2f} at the start")
    report: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count(), "load_start": load,
                              "rounds": args.rounds, "cases": {}, "ratios": []}
    with tempfile.TemporaryDirectory(prefix="bench-put-") as scratch:
        if "small" in cases:
            folder = Path(scratch, "small")
            folder.mkdir()
            block = os.urandom(16 * 1024)
            files = []
            for i in range(2000):
                path = folder / f"f-{i:05d}.bin"
                path.write_bytes(block[i % 64:] + block[:i % 64])
                files.append(path)
            behaviour = EndpointBehaviour(latency=Latency(50))
            with ObjectServer({BUCKET: {}}, behaviour=behaviour, process=True) as server:
                contenders = {"awspar async": _awspar("async", 64), "awspar threads": _awspar("threads", 64),
                              "boto3 64 threads": _boto3_threads, "aiohttp loop": _aiohttp_loop}
                print("\nsmall: 2,000 x 16 KiB files, 50 ms latency, 64 in flight")
                results = _measure(server.url, contenders, files, str(folder), 16 * 1024, args.rounds)
            _table("small: 2,000 x 16 KiB, 50 ms, C=64", results, 2000)
            report["cases"]["small"] = results
            report["ratios"] += [
                _ratio("boto3 64 threads wall / awspar async wall", results["boto3 64 threads"]["wall_s"]
                       / results["awspar async"]["wall_s"], ">= 5"),
                _ratio("awspar async wall / aiohttp loop wall", results["awspar async"]["wall_s"]
                       / results["aiohttp loop"]["wall_s"], "<= 1.2"),
                _ratio("boto3 64 threads wall / awspar threads wall", results["boto3 64 threads"]["wall_s"]
                       / results["awspar threads"]["wall_s"], ">= 5"),
            ]
        if "large" in cases:
            size = args.large_mib * MiB
            path = Path(scratch, "large.bin")
            with open(path, "wb") as handle:
                chunk = os.urandom(8 * MiB)
                for _ in range(size // len(chunk)):
                    handle.write(chunk)
            with ObjectServer({BUCKET: {}}, process=True) as server:
                contenders = {"awspar async": _awspar("async", 32), "awspar threads": _awspar("threads", 32),
                              "boto3 upload_file": _boto3_upload_file}
                print(f"\nlarge: one {args.large_mib} MiB file, no added latency")
                results = _measure(server.url, contenders, [path], str(path), size, args.rounds)
            _table(f"large: one {args.large_mib} MiB file", results, 1)
            report["cases"]["large"] = {"mib": args.large_mib, **results}
            report["ratios"] += [
                _ratio("awspar async MB/s / boto3 upload_file MB/s", results["awspar async"]["mb_s"]
                       / results["boto3 upload_file"]["mb_s"], ">= 1.5"),
                _ratio("awspar threads MB/s / boto3 upload_file MB/s", results["awspar threads"]["mb_s"]
                       / results["boto3 upload_file"]["mb_s"], ">= 1.5"),
            ]
    report["load_end"] = os.getloadavg()[0]
    results = RESULTS if set(cases) == {"small", "large"} else RESULTS.with_name(f"bench_put-{'-'.join(cases)}.json")
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nload average {report['load_end']:.2f} at the end; raw numbers in {results}", file=sys.stderr)


if __name__ == "__main__":
    main()
