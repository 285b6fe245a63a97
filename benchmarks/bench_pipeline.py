"""The user's job, the public ``awspar.s3.get_objects`` call, against hand-written loops doing the same work.

Each contender runs once per round, the rounds alternating between them; medians are reported,
ratios printed against their targets and raw numbers written as JSON. "The same work" per key:
presign the GET (awspar's ``Signer.presign``, inside the clock, as the library must: the signer
is made inside the clock too, as ``get_objects`` makes its own), GET it, check the length and
the body's MD5 against the ETag, and (into a directory) write it atomically: a temporary file
in the target directory renamed onto the key's name. Every contender's output is checked after
its clock stops (file names and sizes, or object count and bytes), so a broken one cannot look
fast. The object servers run in child processes on 127.0.0.1 and verify every signature.

1. ``dir``: 1,000 objects of 4 KiB at 50 ms latency, concurrency 100, into a fresh empty
   directory per round: an aiohttp loop, a urllib3 loop in 100 threads, ``get_objects`` as a
   user writes it (one call per round, engine and signer made by the call) in every mode, and
   with a warm engine and signer passed in (async, threads). Targets: awspar async / aiohttp
   loop wall <= 1.15, awspar threads / threads loop <= 1.15, processes and subinterpreters /
   threads loop <= 1.3.
2. ``memory``: 2,000 objects of 16 KiB, no latency, concurrency 64, into memory: the aiohttp loop,
   urllib3 in 64 threads, obstore (a Rust client; no MD5 check) when installed, ``get_objects``
   async and threads (public call and warm). Targets: awspar async objects/s / obstore's >= 1.0,
   awspar async CPU per object / the aiohttp loop's <= 1.15, awspar threads objects/s / the
   urllib3 loop's >= 0.9.
3. ``cli``: the ``dir`` fetch as whole processes: ``awspar s3-get --keys-from ... --mode async
   --concurrency 100`` against a python child calling ``get_objects`` with the same arguments,
   each less its start-up (a child that only imports ``awspar.cli``, resp. ``awspar.s3``).
   Target: (cli - its start-up) / (get_objects child - its start-up) <= 1.05.

CPU is this process's (``os.times()`` user + system, every thread); the children's (process-engine
workers, the ``cli`` case's processes) is reported apart, from ``os.times().children_*``.

    /work/main/.venv/bin/python benchmarks/bench_pipeline.py [--rounds 3] [--cases dir,memory,cli]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import multiprocessing.forkserver
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

from bench_engines import OBSTORE_MISSING
from bench_s3 import _WARM, _fetch_all, _session

import awspar
from awspar.s3 import get_objects
from awspar.signer import Signer
from awspar.testing.credentials import TEST_CREDENTIALS
from awspar.testing.faults import EndpointBehaviour, Latency
from awspar.testing.object_server import GeneratedBucket, ObjectServer

DIR = GeneratedBucket(1000, 4 * 1024)
MEMORY = GeneratedBucket(2000, 16 * 1024)
#: (count, bytes) a contender fetched; None when its output is only in the directory.
Tally = tuple[int, int] | None
Run = Callable[[str | None], Tally]

_CHILD = """
import sys
from awspar.s3 import get_objects
bucket, keys_file, out = sys.argv[1:]
keys = open(keys_file).read().split()
bad = [r for r in get_objects(bucket, keys, out_dir=out, mode="async", concurrency=100) if not r.ok]
sys.exit(f"{len(bad)} failed: {bad[:3]}" if bad else 0)
"""


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _children_cpu() -> float:
    """CPU of this process's reaped children, plus that of the ones the multiprocessing forkserver
    reaped (the processes engine's workers are its children, not ours)."""
    t = os.times()
    total = t.children_user + t.children_system
    server = getattr(multiprocessing.forkserver._forkserver, "_forkserver_pid", None)
    if server is not None:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{server}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # cutime, cstime
    return total


def measure(rounds: int, contenders: dict[str, Run], check: Callable[[str, Tally, str | None], None],
            fresh_dir: bool) -> dict[str, dict[str, Any]]:
    """Each contender once per round, alternating (a fresh temp dir each when ``fresh_dir``, removed
    after); ``check`` looks at its output outside the clock. Medians of wall, CPU and children's CPU."""
    raw: dict[str, dict[str, list[float]]] = {n: {"walls": [], "cpus": [], "child_cpus": []} for n in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            out = tempfile.mkdtemp(prefix="bench-pipeline-") if fresh_dir else None
            try:
                child, cpu, start = _children_cpu(), _cpu(), time.perf_counter()
                tally = run(out)
                wall, cpu2 = time.perf_counter() - start, _cpu()
                check(name, tally, out)
                child2 = _children_cpu()  # after the check: gives the forkserver time to reap
            finally:
                if out is not None:
                    shutil.rmtree(out, ignore_errors=True)
            for field, value in (("walls", wall), ("cpus", cpu2 - cpu), ("child_cpus", child2 - child)):
                raw[name][field].append(value)
    return {name: {"wall_s": statistics.median(r["walls"]), "cpu_s": statistics.median(r["cpus"]),
                   "child_cpu_s": statistics.median(r["child_cpus"]), **r} for name, r in raw.items()}


def _checker(bucket: GeneratedBucket, keys: list[str]) -> Callable[[str, Tally, str | None], None]:
    def check(name: str, tally: Tally, out: str | None) -> None:
        if tally is not None:
            assert tally == (len(keys), len(keys) * bucket.size), f"{name}: fetched {tally}"
        if out is not None:
            names = sorted(os.listdir(out))
            assert names == keys, f"{name}: {len(names)} files, e.g. {names[:3]}"
            sizes = {os.stat(os.path.join(out, n)).st_size for n in names}
            assert sizes == {bucket.size}, f"{name}: sizes {sizes}"
    return check


def _write_atomic(out: str, key: str, body: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(body)
    os.rename(tmp, os.path.join(out, key))


def _verify(key: str, body: bytes, headers: Any) -> None:
    assert len(body) == int(headers["Content-Length"]), key
    assert hashlib.md5(body).hexdigest() == headers["ETag"].strip('"'), key


def aiohttp_loop(session: Any, url: str, bucket: str, keys: list[str], concurrency: int) -> Run:
    """By hand on aiohttp: ``concurrency`` workers over one connector, presign per key, GET, verify, write."""
    import aiohttp
    import yarl

    def run(out: str | None) -> Tally:
        async def main() -> Tally:
            signer = Signer("s3", session=session, endpoint_url=url)
            pending, count, total = iter(keys), 0, 0
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
                async def worker() -> None:
                    nonlocal count, total
                    for key in pending:
                        request = signer.presign("GetObject", {"Bucket": bucket, "Key": key})
                        async with http.get(yarl.URL(request.url, encoded=True), headers=request.headers) as response:
                            assert response.status == 200, response.status
                            body = await response.read()
                        _verify(key, body, response.headers)
                        if out is not None:
                            _write_atomic(out, key, body)  # blocking, as users write it: 4 KiB files
                        count, total = count + 1, total + len(body)

                await asyncio.gather(*(worker() for _ in range(concurrency)))
            return count, total
        return asyncio.run(main())
    return run


def threads_loop(session: Any, url: str, bucket: str, keys: list[str], concurrency: int) -> Run:
    """By hand on urllib3: one PoolManager, ``concurrency`` threads, the same steps per key."""
    import urllib3

    def run(out: str | None) -> Tally:
        signer = Signer("s3", session=session, endpoint_url=url)
        http = urllib3.PoolManager(maxsize=concurrency)

        def one(key: str) -> int:
            request = signer.presign("GetObject", {"Bucket": bucket, "Key": key})
            response = http.request("GET", request.url, headers=dict(request.headers), retries=False)
            assert response.status == 200, response.status
            _verify(key, response.data, response.headers)
            if out is not None:
                _write_atomic(out, key, response.data)
            return len(response.data)

        with ThreadPoolExecutor(concurrency) as pool:
            sizes = list(pool.map(one, keys))
        http.clear()
        return len(sizes), sum(sizes)
    return run


def obstore_loop(url: str, bucket: str, keys: list[str], concurrency: int) -> Run:
    """bench_engines' obstore loop, with the store made inside the clock and the bytes counted."""
    import obstore
    from obstore.store import S3Store

    def run(out: str | None) -> Tally:
        store = S3Store(bucket, endpoint=url, region=TEST_CREDENTIALS.region,
                        access_key_id=TEST_CREDENTIALS.access_key, secret_access_key=TEST_CREDENTIALS.secret_key,
                        client_options={"allow_http": True}, virtual_hosted_style_request=False)

        async def main() -> Tally:
            pending, sizes = iter(keys), []

            async def worker() -> None:
                for key in pending:
                    result = await obstore.get_async(store, key)  # raises on an error status
                    sizes.append(len(await result.bytes_async()))

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return len(sizes), sum(sizes)
        return asyncio.run(main())
    return run


def _tally(results: list[Any], in_memory: bool) -> Tally:
    bad = [r for r in results if not r.ok]
    assert not bad, bad[:3]
    return len(results), sum(len(r.data) if in_memory else r.size for r in results)


def public(session: Any, url: str, bucket: str, keys: list[str], mode: str, concurrency: int) -> Run:
    """``get_objects`` as a user writes it: one call, its signer and engine made (and closed) by it."""
    def run(out: str | None) -> Tally:
        return _tally(list(get_objects(bucket, keys, out_dir=out, mode=mode, concurrency=concurrency,
                                       session=session, endpoint_url=url)), out is None)
    return run


def warm(url: str, bucket: str, keys: list[str], mode: str, concurrency: int) -> Run:
    """``get_objects`` with ``engine=`` and ``signer=`` passed in: bench_s3's warm pair, made and used
    once (one key) before the clock."""
    _fetch_all(bucket, keys[:1], url, mode, concurrency)
    signer, engine = _WARM[(url, mode, concurrency)]

    def run(out: str | None) -> Tally:
        return _tally(list(get_objects(bucket, keys, out_dir=out, signer=signer, engine=engine)), out is None)
    return run


def _close_warm() -> None:
    for _signer, engine in _WARM.values():
        engine.close()
    _WARM.clear()


def _per_object(results: dict[str, dict[str, Any]], count: int) -> None:
    for row in results.values():
        row["objects_per_s"] = count / row["wall_s"]
        row["cpu_us_per_object"] = row["cpu_s"] / count * 1e6
        row["child_cpu_us_per_object"] = row["child_cpu_s"] / count * 1e6


def _ratio(results: dict[str, dict[str, Any]], ours: str, theirs: str, field: str, target: str) -> dict[str, Any]:
    value = results[ours][field] / results[theirs][field]
    limit = float(target.split()[1])
    return {"ours": ours, "theirs": theirs, "field": field, "value": value, "target": target,
            "met": value <= limit if target.startswith("<=") else value >= limit}


def case_dir(url: str, rounds: int) -> dict[str, Any]:
    keys, session, c = list(DIR.keys()), _session(), 100
    runs: dict[str, Run] = {"aiohttp loop": aiohttp_loop(session, url, "dir", keys, c),
                            "threads loop": threads_loop(session, url, "dir", keys, c)}
    modes = ["async", "threads", "processes"]
    if sys.version_info >= (3, 13):
        modes.append("subinterpreters")
    else:
        print("subinterpreters left out: they need Python >= 3.13")
    for mode in modes:
        runs[f"awspar {mode}"] = public(session, url, "dir", keys, mode, c)
    for mode in ("async", "threads"):
        runs[f"awspar {mode} (warm engine+signer)"] = warm(url, "dir", keys, mode, c)
    try:
        results = measure(rounds, runs, _checker(DIR, keys), fresh_dir=True)
    finally:
        _close_warm()
    _per_object(results, len(keys))
    ratios = [_ratio(results, "awspar async", "aiohttp loop", "wall_s", "<= 1.15"),
              _ratio(results, "awspar threads", "threads loop", "wall_s", "<= 1.15"),
              *(_ratio(results, f"awspar {m}", "threads loop", "wall_s", "<= 1.3")
                for m in ("processes", "subinterpreters") if f"awspar {m}" in results),
              _ratio(results, "awspar async (warm engine+signer)", "aiohttp loop", "wall_s", "<= 1.15"),
              _ratio(results, "awspar threads (warm engine+signer)", "threads loop", "wall_s", "<= 1.15")]
    return {"objects": len(keys), "size": DIR.size, "latency_ms": 50, "concurrency": c,
            "ideal_s": len(keys) / c * 0.05, "results": results, "ratios": ratios}


def case_memory(url: str, rounds: int) -> dict[str, Any]:
    keys, session, c = list(MEMORY.keys()), _session(), 64
    runs: dict[str, Run] = {"aiohttp loop": aiohttp_loop(session, url, "memory", keys, c),
                            "urllib3 threads loop": threads_loop(session, url, "memory", keys, c)}
    missing = OBSTORE_MISSING()
    if missing is None:
        runs["obstore"] = obstore_loop(url, "memory", keys, c)
    else:
        print(f"obstore left out: {missing}")
    for mode in ("async", "threads"):
        runs[f"awspar {mode}"] = public(session, url, "memory", keys, mode, c)
        runs[f"awspar {mode} (warm engine+signer)"] = warm(url, "memory", keys, mode, c)
    try:
        results = measure(rounds, runs, _checker(MEMORY, keys), fresh_dir=False)
    finally:
        _close_warm()
    _per_object(results, len(keys))
    ratios = [*([_ratio(results, "awspar async", "obstore", "objects_per_s", ">= 1.0"),
                 _ratio(results, "awspar async (warm engine+signer)", "obstore", "objects_per_s", ">= 1.0")]
                if "obstore" in results else []),
              _ratio(results, "awspar async", "aiohttp loop", "cpu_us_per_object", "<= 1.15"),
              _ratio(results, "awspar async (warm engine+signer)", "aiohttp loop", "cpu_us_per_object", "<= 1.15"),
              _ratio(results, "awspar threads", "urllib3 threads loop", "objects_per_s", ">= 0.9"),
              _ratio(results, "awspar threads (warm engine+signer)", "urllib3 threads loop", "objects_per_s", ">= 0.9")]
    return {"objects": len(keys), "size": MEMORY.size, "concurrency": c, "results": results, "ratios": ratios}


def case_cli(url: str, rounds: int) -> dict[str, Any]:
    keys = list(DIR.keys())
    root = str(Path(awspar.__file__).resolve().parents[1])  # the children run the same awspar as this process
    env = {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": url,
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    fd, keys_file = tempfile.mkstemp(prefix="bench-pipeline-keys-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(keys) + "\n")
    awspar_bin = str(Path(sys.executable).with_name("awspar"))

    def proc(*argv: str, into_dir: bool = True) -> Run:
        def run(out: str | None) -> Tally:
            subprocess.run([*argv, *((out,) if into_dir else ())], env=env, check=True, capture_output=True)
            return None
        return run

    runs = {
        "awspar s3-get (whole CLI)": proc(awspar_bin, "s3-get", "dir", "--keys-from", keys_file,
                                          "--mode", "async", "--concurrency", "100", "--out"),
        "get_objects child": proc(sys.executable, "-c", _CHILD, "dir", keys_file),
        "start-up: import awspar.cli": proc(sys.executable, "-c", "import awspar.cli", into_dir=False),
        "start-up: import awspar.s3": proc(sys.executable, "-c", "import awspar.s3", into_dir=False),
    }
    dir_check = _checker(DIR, keys)
    try:
        results = measure(rounds, runs, lambda n, t, out: None if n.startswith("start-up") else dir_check(n, t, out),
                          fresh_dir=True)
    finally:
        os.unlink(keys_file)
    cli, child = results["awspar s3-get (whole CLI)"], results["get_objects child"]
    cli_net = cli["wall_s"] - results["start-up: import awspar.cli"]["wall_s"]
    child_net = child["wall_s"] - results["start-up: import awspar.s3"]["wall_s"]
    value = cli_net / child_net
    ratios = [{"ours": "awspar s3-get - start-up", "theirs": "get_objects child - start-up", "field": "wall_s",
               "value": value, "target": "<= 1.05", "met": value <= 1.05},
              {"ours": "awspar s3-get (whole CLI)", "theirs": "get_objects child", "field": "wall_s",
               "value": cli["wall_s"] / child["wall_s"], "target": "none", "met": None}]
    return {"objects": len(keys), "size": DIR.size, "latency_ms": 50, "concurrency": 100, "results": results,
            "ratios": ratios}


def _print(name: str, case: dict[str, Any]) -> None:
    print(f"\n== {name}: {case['objects']} x {case['size'] // 1024} KiB, concurrency {case['concurrency']}"
          + (f", {case['latency_ms']} ms latency" if "latency_ms" in case else ""))
    print(f"  {'contender':38}{'wall s':>9}{'obj/s':>9}{'CPU us/obj':>12}{'children us/obj':>17}")
    for contender, row in case["results"].items():
        per = row.get("cpu_us_per_object", row["cpu_s"] / case["objects"] * 1e6)
        child = row.get("child_cpu_us_per_object", row["child_cpu_s"] / case["objects"] * 1e6)
        print(f"  {contender:38}{row['wall_s']:9.3f}{case['objects'] / row['wall_s']:9.0f}{per:12.0f}{child:17.0f}")
    for r in case["ratios"]:
        print("  " + _ratio_line(r))


def _ratio_line(r: dict[str, Any]) -> str:
    met = {True: "ok", False: "MISSED", None: ""}[r["met"]]
    return f"{r['ours']} / {r['theirs']} ({r['field']}): {r['value']:.3f}  target {r['target']}  {met}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default="dir,memory,cli")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "bench_pipeline.json")
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                                          "cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg()}, "rounds": args.rounds}
    began = time.perf_counter()
    with ObjectServer({"dir": DIR}, behaviour=EndpointBehaviour(latency=Latency(50)), process=True) as slow, \
            ObjectServer({"memory": MEMORY}, process=True) as fast:
        runners = {"dir": (case_dir, slow.url), "memory": (case_memory, fast.url), "cli": (case_cli, slow.url)}
        for name in args.cases.split(","):
            func, url = runners[name]
            report[name] = func(url, args.rounds)
            _print(name, report[name])
    report["total_s"], report["machine"]["loadavg_at_end"] = time.perf_counter() - began, os.getloadavg()
    print(f"\n== summary ({args.rounds} rounds, {report['total_s']:.0f} s; load average at start "
          f"{report['machine']['loadavg_at_start'][0]:.2f}, at end {report['machine']['loadavg_at_end'][0]:.2f})")
    for name in args.cases.split(","):
        for r in report[name]["ratios"]:
            print(f"  {name:7}" + _ratio_line(r))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"raw numbers: {args.out}")


if __name__ == "__main__":
    main()
