"""Peak memory of ``awspar s3-get`` over many tiny objects against the library's ``get_objects``.

Issue 19.4: the CLI's memory must not grow with the run, with or without ``--json``. Each
contender is one child process fetching every object of a generated bucket (``--objects`` of
16 bytes, listed with ``--prefix ''``) into a fresh directory, from the project's object endpoint
(a child process on 127.0.0.1, signatures verified):

- ``get_objects``: ``for result in get_objects(bucket, prefix="", out_dir=..., mode=...)``,
  counting ok and failed as any caller does;
- ``s3-get``: the command, its summary line to a pipe;
- ``s3-get --json``: the command with its streamed JSON report to a pipe (read and counted).

Peak RSS is each child's own ``ru_maxrss`` (from ``os.wait4``). Printed side by side, with the
ratio to ``get_objects`` (target <= 1.10 each) and each run's output checked (every object ok);
raw numbers go to ``benchmarks/results/bench_cli_memory.json``.

    .venv/bin/python benchmarks/bench_cli_memory.py [--objects 100000] [--mode async]
"""

from __future__ import annotations

import argparse
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

from awspar.testing import TEST_CREDENTIALS, GeneratedBucket, ObjectServer

_LIBRARY = """
import sys
from awspar.s3 import get_objects
ok = failed = 0
for result in get_objects("gen", prefix="", out_dir=sys.argv[1], mode=sys.argv[2]):
    if result.ok:
        ok += 1
    else:
        failed += 1
print(f"{ok} ok, {failed} failed")
"""

_CLI = "from awspar.cli import main; main()"


def _child(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run ``argv``; (seconds, peak RSS in bytes, its stdout)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        errors = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} exited {proc.returncode}: {errors.decode()[-2000:]}")
    return wall, usage.ru_maxrss * 1024, text


def _check(name: str, text: str, count: int) -> None:
    if name.endswith("--json"):
        report = json.loads(text)
        good = report["ok"] == count and report["failed"] == 0 and len(report["objects"]) == count
    else:
        good = text.startswith(f"{count} ok, 0 failed")
    if not good:
        raise SystemExit(f"{name}: not every object arrived: {text[-500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--mode", default="async")
    args = parser.parse_args()
    count = args.objects
    contenders = {
        "get_objects": lambda out: [sys.executable, "-c", _LIBRARY, out, args.mode],
        "s3-get": lambda out: [sys.executable, "-c", _CLI, "s3-get", "gen", "--prefix", "", "--out", out,
                               "--mode", args.mode],
        "s3-get --json": lambda out: [sys.executable, "-c", _CLI, "s3-get", "gen", "--prefix", "", "--out",
                                      out, "--mode", args.mode, "--json"],
    }
    rows: dict[str, dict[str, Any]] = {}
    with ObjectServer({"gen": GeneratedBucket(count, 16)}, process=True) as server:
        env = {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": server.url}
        for name, argv in contenders.items():
            out = tempfile.mkdtemp(prefix="awspar-bench-mem-")
            try:
                wall, peak, text = _child(argv(out), env)
                _check(name, text, count)
            finally:
                shutil.rmtree(out, ignore_errors=True)
            rows[name] = {"wall_s": round(wall, 3), "peak_rss_mb": round(peak / 1e6, 1)}
    base = rows["get_objects"]["peak_rss_mb"]
    print(f"{count:,} objects of 16 B, --mode {args.mode}, {platform.machine()} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"{'':16} {'peak RSS MB':>12} {'vs get_objects':>15} {'wall s':>8}")
    for name, row in rows.items():
        row["ratio"] = round(row["peak_rss_mb"] / base, 3)
        print(f"{name:16} {row['peak_rss_mb']:>12.1f} {row['ratio']:>14.2f}x {row['wall_s']:>8.1f}")
    verdict = all(row["ratio"] <= 1.10 for row in rows.values())
    print(f"target: each <= 1.10x get_objects: {'met' if verdict else 'NOT met'}")
    results = Path(__file__).parent / "results" / "bench_cli_memory.json"
    results.write_text(json.dumps({"objects": count, "size": 16, "mode": args.mode, "machine": platform.machine(),
                                   "cores": os.cpu_count(), "python": platform.python_version(), "rows": rows,
                                   "target_met": verdict}, indent=2) + "\n")


if __name__ == "__main__":
    main()
