"""``awspar.s3`` / ``awspar s3-get`` against plain boto3, side by side in one run, on the local S3 endpoint.

Cases (each contender's rounds alternate with the others'; medians reported, ratios printed, raw
numbers written as JSON):

1. ``seed``: the seed's case, 10 objects of 100 KB at 50 ms latency: ``get_objects`` with
   ``mode="async"`` and ``mode="threads"`` against boto3 ``get_object`` in a loop (target: each
   <= 0.12x boto3's wall time).
2. ``cli``: the same fetch end to end as a user runs it, into a directory: the whole
   ``awspar s3-get`` process (start-up and imports included) against a plain boto3 script in
   its own process (target: <= 0.5x); with the default mode (``auto``: threads for these ten named
   keys) and with ``--mode async`` and ``--mode threads`` given.
3. ``small``: 2,000 objects of 16 KiB at concurrency 64, into memory: awspar async objects/s
   against boto3 ``get_object`` in a 64-thread pool (target: >= 3x), and the client CPU per
   object against an unsigned bare aiohttp loop over the same objects (target: <= 1.25x); also
   against the same loop checking each body's MD5 against its ETag, as awspar does (no target).
4. ``large``: one 1 GiB object by ranges into a file, against a bare aiohttp download of the same
   bytes into a file (target: >= 0.8x the throughput). Verification (CRC32 read-back) included.
5. ``many``: 100,000 tiny objects (generated, 64 B) into one directory, checksum verification off,
   in a fresh child process per engine (``--many-modes``, default ``async``, the CLI's): its peak
   RSS (VmHWM) must stay under 200 MB. About 4 minutes per engine on 2 loaded cores.

The object server runs in a child process, so its CPU is not the client's.

    /work/venv13/bin/python benchmarks/bench_s3.py [--rounds 3] [--cases seed,cli,small,large,many]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

from awspar import EngineConfig
from awspar.s3 import MiB, get_objects
from awspar.testing.credentials import TEST_CREDENTIALS
from awspar.testing.faults import EndpointBehaviour, Latency
from awspar.testing.object_server import GeneratedBucket, ObjectServer

SEED = GeneratedBucket(10, 100_000)
SMALL = GeneratedBucket(2000, 16 * 1024)
LARGE = GeneratedBucket(1, 1024 * MiB)
MANY = GeneratedBucket(100_000, 64)
#: The peak resident set the ``many`` case must stay under.
MANY_RSS_LIMIT_MB = 200

_BOTO3_SCRIPT = """
import os, sys, boto3
bucket, out, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
s3 = boto3.client("s3")
for key in keys:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with open(os.path.join(out, key), "wb") as f:
        f.write(body)
"""


def _session() -> Any:
    return boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())


def _boto3_client(url: str, pool: int = 10) -> Any:
    from botocore.config import Config

    return _session().client("s3", endpoint_url=url, config=Config(max_pool_connections=pool))


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _measure(rounds: int, contenders: dict[str, Callable[[], None]]) -> dict[str, dict[str, float]]:
    """Run each contender once per round, alternating; wall and CPU medians."""
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            cpu, start = _cpu(), time.perf_counter()
            run()
            walls[name].append(time.perf_counter() - start)
            cpus[name].append(_cpu() - cpu)
    return {name: {"wall_s": statistics.median(walls[name]), "cpu_s": statistics.median(cpus[name]),
                   "walls": walls[name]} for name in contenders}


_WARM: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _fetch_all(bucket: str, keys: list[str], url: str, mode: str, concurrency: int = 32, **kwargs: Any) -> None:
    """``get_objects`` with a signer and an engine made once per (endpoint, mode, concurrency) and
    reused across rounds, as the boto3 contenders reuse their client."""
    from awspar.engines import get_engine
    from awspar.signer import Signer

    warm = _WARM.get((url, mode, concurrency))
    if warm is None:
        signer = Signer("s3", session=_session(), endpoint_url=url)
        warm = _WARM[(url, mode, concurrency)] = (signer, get_engine(mode, EngineConfig(concurrency=concurrency),
                                                                     resign=signer.resign))
    signer, engine = warm
    results = list(get_objects(bucket, keys, signer=signer, engine=engine, **kwargs))
    bad = [r for r in results if not r.ok]
    assert not bad and len(results) == len(keys), bad[:3]


def case_seed(url: str, rounds: int) -> dict[str, Any]:
    keys = [SEED.key(i) for i in range(SEED.count)]
    client = _boto3_client(url)
    client.get_object(Bucket="seed", Key=keys[0])["Body"].read()  # warm: the client, not the clock

    def boto3_loop() -> None:
        for key in keys:
            assert len(client.get_object(Bucket="seed", Key=key)["Body"].read()) == SEED.size

    results = _measure(rounds, {
        "boto3 get_object loop": boto3_loop,
        "awspar async": lambda: _fetch_all("seed", keys, url, "async", 10),
        "awspar threads": lambda: _fetch_all("seed", keys, url, "threads", 10),
    })
    base = results["boto3 get_object loop"]["wall_s"]
    for row in results.values():
        row["ratio_vs_boto3"] = row["wall_s"] / base
    return {"objects": len(keys), "size": SEED.size, "latency_ms": 50, "target": "<= 0.12x", "results": results}


def case_cli(url: str, rounds: int) -> dict[str, Any]:
    keys = [SEED.key(i) for i in range(SEED.count)]
    env = {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": url}
    out = Path(tempfile.mkdtemp(prefix="bench-s3-cli-"))

    def run(argv: list[str]) -> Callable[[], None]:
        def go() -> None:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            subprocess.run(argv, env=env, check=True, capture_output=True)
            assert len(os.listdir(out)) == len(keys)
        return go

    awspar_bin = str(Path(sys.executable).with_name("awspar"))
    try:
        results = _measure(rounds, {
            "boto3 script": run([sys.executable, "-c", _BOTO3_SCRIPT, "seed", str(out), *keys]),
            "awspar s3-get (default mode)": run([awspar_bin, "s3-get", "seed", *keys, "--out", str(out)]),
            "awspar s3-get --mode async": run([awspar_bin, "s3-get", "seed", *keys, "--out", str(out), "--mode", "async"]),
            "awspar s3-get --mode threads": run([awspar_bin, "s3-get", "seed", *keys, "--out", str(out),
                                                 "--mode", "threads"]),
        })
    finally:
        shutil.rmtree(out, ignore_errors=True)
    base = results["boto3 script"]["wall_s"]
    for row in results.values():
        row["ratio_vs_boto3"] = row["wall_s"] / base
    return {"objects": len(keys), "latency_ms": 50, "target": "<= 0.5x", "results": results}


def case_small(url: str, rounds: int) -> dict[str, Any]:
    import aiohttp

    keys = [SMALL.key(i) for i in range(SMALL.count)]
    client = _boto3_client(url, pool=64)

    def boto3_pool() -> None:
        def one(key: str) -> int:
            return len(client.get_object(Bucket="small", Key=key)["Body"].read())
        with ThreadPoolExecutor(64) as pool:
            assert sum(pool.map(one, keys)) == SMALL.count * SMALL.size

    def bare_aiohttp(check_md5: bool) -> Callable[[], None]:
        def go() -> None:
            async def main() -> int:
                connector = aiohttp.TCPConnector(limit=64)
                async with aiohttp.ClientSession(connector=connector) as session:
                    async def one(key: str) -> int:
                        async with session.get(f"{url}/small/{key}") as response:
                            body = await response.read()
                            if check_md5:
                                assert hashlib.md5(body).hexdigest() == response.headers["ETag"].strip('"')
                            return len(body)
                    return sum(await asyncio.gather(*(one(k) for k in keys)))
            assert asyncio.run(main()) == SMALL.count * SMALL.size
        return go

    results = _measure(rounds, {
        "boto3 64-thread pool": boto3_pool,
        "bare aiohttp (unsigned)": bare_aiohttp(check_md5=False),
        "bare aiohttp (unsigned) + MD5 vs ETag": bare_aiohttp(check_md5=True),
        "awspar async": lambda: _fetch_all("small", keys, url, "async", 64),
    })
    for row in results.values():
        row["objects_per_s"] = len(keys) / row["wall_s"]
        row["cpu_us_per_object"] = row["cpu_s"] / len(keys) * 1e6
    ours = results["awspar async"]
    return {
        "objects": len(keys), "size": SMALL.size, "concurrency": 64, "results": results,
        "speedup_vs_boto3": ours["objects_per_s"] / results["boto3 64-thread pool"]["objects_per_s"],
        "cpu_per_object_vs_bare": ours["cpu_s"] / results["bare aiohttp (unsigned)"]["cpu_s"],
        "cpu_per_object_vs_bare_with_md5": ours["cpu_s"] / results["bare aiohttp (unsigned) + MD5 vs ETag"]["cpu_s"],
        "targets": {"speedup_vs_boto3": ">= 3x", "cpu_per_object_vs_bare": "<= 1.25x"},
    }


def case_large(url: str, rounds: int) -> dict[str, Any]:
    import aiohttp

    key = LARGE.key(0)
    out = Path(tempfile.mkdtemp(prefix="bench-s3-large-"))

    def bare_aiohttp() -> None:
        async def main() -> None:
            async with aiohttp.ClientSession() as session, session.get(f"{url}/large/{key}") as response:
                with open(out / "bare.bin", "wb") as handle:  # noqa: ASYNC230 - the bare baseline, as users write it
                    async for chunk in response.content.iter_chunked(1 << 20):
                        handle.write(chunk)
        asyncio.run(main())
        assert (out / "bare.bin").stat().st_size == LARGE.size
        (out / "bare.bin").unlink()

    def awspar_ranges() -> None:
        _fetch_all("large", [key], url, "async", 16, out_dir=out, overwrite=True)
        (out / key).unlink()

    try:
        results = _measure(rounds, {"bare aiohttp download": bare_aiohttp, "awspar async ranges": awspar_ranges})
    finally:
        shutil.rmtree(out, ignore_errors=True)
    for row in results.values():
        row["mb_per_s"] = LARGE.size / row["wall_s"] / 1e6
    return {"size": LARGE.size, "results": results, "target": ">= 0.8x",
            "throughput_vs_bare": results["awspar async ranges"]["mb_per_s"] / results["bare aiohttp download"]["mb_per_s"]}


def peak_rss_mb() -> float:
    """This process's peak resident set in MB (VmHWM; ``ru_maxrss`` would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def many_child(url: str, mode: str, out: str) -> None:
    """In a fresh process: every MANY key into ``out``; print one JSON line (wall, counts, peak RSS)."""
    started = time.perf_counter()
    keys = (MANY.key(i) for i in range(MANY.count))  # lazily, as a key file would be read
    ok = failed = 0
    for result in get_objects("many", keys, out_dir=out, mode=mode, concurrency=64, session=_session(),
                              endpoint_url=url, verify_checksums=False):
        ok += result.ok
        failed += not result.ok
    print(json.dumps({"ok": ok, "failed": failed, "wall_s": time.perf_counter() - started,
                      "peak_rss_mb": peak_rss_mb()}))


def case_many(url: str, rounds: int, modes: tuple[str, ...] = ("async",)) -> dict[str, Any]:
    """Each engine of ``modes`` once, in its own child (rounds do not apply: a run takes minutes)."""
    results: dict[str, Any] = {}
    for mode in modes:
        out = tempfile.mkdtemp(prefix="bench-s3-many-")
        try:
            done = subprocess.run([sys.executable, __file__, "--many-child", url, mode, out],
                                  capture_output=True, text=True, timeout=600, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row["files"] = len(os.listdir(out))
        finally:
            shutil.rmtree(out, ignore_errors=True)
        row["objects_per_s"] = row["ok"] / row["wall_s"]
        row["under_limit"] = row["peak_rss_mb"] < MANY_RSS_LIMIT_MB
        results[f"awspar {mode}"] = row
    return {"objects": MANY.count, "size": MANY.size, "target": f"peak RSS < {MANY_RSS_LIMIT_MB} MB",
            "results": results}


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--many-child":
        many_child(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default="seed,cli,small,large,many")
    parser.add_argument("--out", default="benchmarks/results/bench_s3.json")
    parser.add_argument("--many-modes", default="async", help="engines for the many case, comma-separated")
    args = parser.parse_args()
    cases = args.cases.split(",")
    report: dict[str, Any] = {"machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                                          "cpus": os.cpu_count()}, "rounds": args.rounds}
    with ObjectServer({"seed": SEED}, behaviour=EndpointBehaviour(latency=Latency(50)), process=True) as slow, \
            ObjectServer({"small": SMALL, "large": LARGE, "many": MANY}, verify=False, process=True) as fast:
        runners = {"seed": (case_seed, slow.url), "cli": (case_cli, slow.url),
                   "small": (case_small, fast.url), "large": (case_large, fast.url), "many": (case_many, fast.url)}
        for name in cases:
            func, url = runners[name]
            report[name] = (case_many(url, args.rounds, tuple(args.many_modes.split(","))) if name == "many"
                            else func(url, args.rounds))
            _print(name, report[name])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"raw numbers: {args.out}")


def _print(name: str, case: dict[str, Any]) -> None:
    print(f"\n== {name}")
    for contender, row in case["results"].items():
        extras = "  ".join(f"{k}={v:.3f}" for k, v in row.items() if k not in ("walls",) and isinstance(v, float))
        print(f"  {contender:32s} {extras}")
    for k, v in case.items():
        if k in ("speedup_vs_boto3", "cpu_per_object_vs_bare", "throughput_vs_bare"):
            print(f"  {k}: {v:.2f}x")
    print(f"  targets: {case.get('target') or case.get('targets')}")


if __name__ == "__main__":
    main()
