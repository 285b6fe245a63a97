"""What ``fsync=`` costs (issue 19 item 9), side by side in one run on the local S3 endpoint:

1. 1,000 objects of 4 KiB into a directory: ``fsync="never"`` against ``"always"`` (the default,
   ``"large"``, flushes none of them: they are under 1 MiB, so it costs what ``"never"`` does);
2. one 256 MiB object (parallel ranges): ``"never"`` against ``"large"`` (the default).

Rounds alternate; medians and ratios printed, raw numbers in benchmarks/results/bench_fsync.json.
The object server runs in a child process.

    .venv/bin/python benchmarks/bench_fsync.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import boto3

from awspar.s3 import MiB, get_objects
from awspar.testing.credentials import TEST_CREDENTIALS
from awspar.testing.object_server import GeneratedBucket, ObjectServer

SMALL = GeneratedBucket(1000, 4096)
LARGE = GeneratedBucket(1, 256 * MiB)


def _fetch(server: ObjectServer, bucket: str, keys: list[str], fsync: str, session: object) -> float:
    out = tempfile.mkdtemp(prefix="bench-fsync-", dir=os.environ.get("BENCH_DIR"))
    try:
        began = time.perf_counter()
        results = list(get_objects(bucket, keys, out_dir=out, mode="async", session=session,
                                   endpoint_url=server.url, fsync=fsync))
        wall = time.perf_counter() - began
        assert all(r.ok for r in results) and len(results) == len(keys)
        return wall
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_fsync.json"))
    args = parser.parse_args()
    session = boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())
    cases = {"1,000 x 4 KiB": ("small", list(SMALL.keys()), ["never", "always"]),
             "1 x 256 MiB": ("large", list(LARGE.keys()), ["never", "large"])}
    walls: dict[str, dict[str, list[float]]] = {case: {f: [] for f in modes} for case, (_, _, modes) in cases.items()}
    with ObjectServer({"small": SMALL, "large": LARGE}, process=True, verify=False) as server:
        for case, (bucket, keys, modes) in cases.items():
            _fetch(server, bucket, keys, "never", session)  # warm: connections, page cache of the generator
            for _ in range(args.rounds):
                for fsync in modes:
                    walls[case][fsync].append(_fetch(server, bucket, keys, fsync, session))
    report = {"machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()},
              "rounds": args.rounds, "cases": {}}
    for case, by_mode in walls.items():
        medians = {mode: statistics.median(values) for mode, values in by_mode.items()}
        base = medians["never"]
        report["cases"][case] = {"median_wall_s": medians, "walls": by_mode,
                                 "ratio_vs_never": {m: round(v / base, 3) for m, v in medians.items()}}
        line = ", ".join(f"fsync={m} {v:.3f} s ({v / base:.2f}x)" for m, v in medians.items())
        print(f"{case:14} {line}", flush=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
