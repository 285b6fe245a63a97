"""Throttling never loses an object: 10,000 GETs at 30 % 503 SlowDown through every engine, then the
whole ``awspar s3-get`` process (issue 19 item 1).

Per engine: objects ok (of those asked), attempts (every request the server received), the share
of them that were throttled, wall time. The library runs use the default retry policy scaled down by
``--scale`` (0.1: throttling backs off from 0.1 s instead of 1 s, capped at 2 s instead of 20 s)
so that the run takes minutes, not an hour; the sequential engine fetches ``--sequential-keys``
keys (one request at a time, its backoffs add up). The CLI row is the real thing: the default
policy unscaled, ``--prefix`` listing through the same faults, ``--concurrency 256`` (backoff
holds a slot's worker, not a connection), and it must exit 0.

The object server runs in a child process. Exit 0 only when every row delivered every object.

    .venv/bin/python benchmarks/bench_faults.py [--modes sequential,threads,...] [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from awspar import EngineConfig, RetryPolicy
from awspar.s3 import get_objects
from awspar.testing.credentials import TEST_CREDENTIALS
from awspar.testing.faults import EndpointBehaviour, FaultRates
from awspar.testing.object_server import GeneratedBucket, ObjectServer

KEYS = GeneratedBucket(10_000, 1024)
MODES = ["sequential", "threads", "async", "subinterpreters", "processes", "boto3", "dask"]
SLOWDOWN = 0.3


def _scaled(scale: float) -> RetryPolicy:
    default = RetryPolicy()
    return dataclasses.replace(default, base_delay=default.base_delay * scale, max_delay=default.max_delay * scale)


def _row(name: str, asked: int, ok: int, server: ObjectServer, wall: float, **extra: Any) -> dict[str, Any]:
    """One run's line: ``attempts`` is every request the server received (for the CLI, the
    listing's pages too), ``throttled`` those it answered 503 SlowDown."""
    stats = server.stats()
    requests, throttled = stats["requests"], stats["faults"].get("slowdown", 0)
    return {"run": name, "asked": asked, "ok": ok, "attempts": requests, "throttled": throttled,
            "throttled_share": round(throttled / requests, 4) if requests else 0.0, "wall_s": round(wall, 2),
            **extra}


def _library(server: ObjectServer, mode: str, keys: list[str], policy: RetryPolicy, concurrency: int) -> dict[str, Any]:
    session = boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())
    config = EngineConfig(concurrency=concurrency, retry=policy, workers=2)
    out = tempfile.mkdtemp(prefix="bench-faults-")
    try:
        server.reset_stats()
        began = time.perf_counter()
        results = list(get_objects("gen", keys, out_dir=out, mode=mode, config=config, session=session,
                                   endpoint_url=server.url))
        wall = time.perf_counter() - began
        ok = sum(r.ok for r in results)
        codes = sorted({r.error_code for r in results if not r.ok})
        return _row(mode, len(keys), ok, server, wall, most_attempts=max(r.requests for r in results),
                    failed_codes=codes)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _cli(server: ObjectServer) -> dict[str, Any]:
    out = tempfile.mkdtemp(prefix="bench-faults-cli-")
    env = {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": server.url}
    try:
        server.reset_stats()
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", "from awspar.cli import main; main()", "s3-get", "gen", "--prefix", "",
             "--out", out, "--json", "--mode", "async", "--concurrency", "256"],
            env=env, capture_output=True, text=True, check=False, timeout=1800,
        )
        wall = time.perf_counter() - began
        report = json.loads(done.stdout) if done.stdout.strip() else {}
        files = sum(len(names) for _, _, names in os.walk(out))
        return _row("cli s3-get --mode async (default policy)", len(KEYS.keys()), report.get("ok", 0), server, wall,
                    exit_code=done.returncode, files_written=files, stderr=done.stderr.strip()[-300:])
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--scale", type=float, default=0.1, help="factor on the library runs' backoff delays")
    parser.add_argument("--sequential-keys", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--no-cli", action="store_true")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_faults.json"))
    args = parser.parse_args()
    policy = _scaled(args.scale)
    keys = list(KEYS.keys())
    behaviour = EndpointBehaviour(faults=FaultRates(slowdown=SLOWDOWN), seed=19)
    rows = []
    print(f"{len(keys):,} GETs of 1 KiB at {SLOWDOWN:.0%} 503 SlowDown; library: default retry policy x {args.scale:g} "
          f"(throttling base {policy.throttle_base:g} s, cap {policy.max_delay:g} s, budget {policy.max_elapsed:g} s, "
          f"{policy.max_attempts} attempts), concurrency {args.concurrency}; sequential: first "
          f"{args.sequential_keys:,} keys", flush=True)
    header = f"{'run':44} {'ok':>13} {'attempts':>9} {'throttled':>9} {'wall s':>8}"
    print(header, flush=True)
    with ObjectServer({"gen": KEYS}, behaviour=behaviour, process=True) as server:
        for mode in [m for m in args.modes.split(",") if m]:
            asked = keys[: args.sequential_keys] if mode == "sequential" else keys
            try:
                row = _library(server, mode, asked, policy, args.concurrency)
            except Exception as exc:  # noqa: BLE001 - an engine this machine cannot run is a row, not a crash
                row = {"run": mode, "asked": len(asked), "ok": 0, "error": f"{type(exc).__name__}: {exc}"}
            rows.append(row)
            _print(row)
        if not args.no_cli:
            rows.append(_cli(server))
            _print(rows[-1])
    every = all(r["ok"] == r["asked"] and r.get("exit_code", 0) == 0 for r in rows)
    print("every object delivered in every run" if every else "SOME OBJECTS WERE NOT DELIVERED", flush=True)
    report = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()},
        "slowdown": SLOWDOWN, "scale": args.scale, "library_policy": dataclasses.asdict(policy) | {
            "retry_statuses": sorted(policy.retry_statuses)},
        "rows": rows, "every_object_delivered": every,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if every else 1


def _print(row: dict[str, Any]) -> None:
    if "error" in row:
        print(f"{row['run']:44} {'-':>13} {'-':>9} {'-':>9} {'-':>8}  {row['error']}", flush=True)
        return
    extra = f"  exit {row['exit_code']}" if "exit_code" in row else ""
    print(f"{row['run']:44} {row['ok']:>6,}/{row['asked']:<6,} {row['attempts']:>9,} {row['throttled_share']:>9.1%} "
          f"{row['wall_s']:>8.1f}{extra}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
