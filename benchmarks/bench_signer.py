"""Signing throughput, awspar against boto3, measured side by side in one run.

1. Presigned S3 GetObject URLs per second: awspar's fast path vs boto3's
   ``generate_presigned_url`` with ``Config(signature_version="s3v4")`` (target: >= 10x).
2. Signed requests per second: ``Signer.sign()`` vs a boto3 client call whose send is
   short-circuited at ``before-send`` (target: no dearer).

Many short rounds alternate between the contenders so that noise from other processes falls on
all of them; each round is timed on this process's CPU clock (``time.process_time``), which other
processes on a shared machine disturb far less than the wall clock, and the figures are medians
over rounds. Nothing is sent anywhere. Raw numbers go to a JSON file.

    python benchmarks/bench_signer.py [--rounds 40] [--n 400] [--out bench_signer.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from awspar import Signer
from awspar._botocore_compat import BytesRaw

FAKE = {"aws_access_key_id": "AKIDBENCHMARK", "aws_secret_access_key": "benchmark-secret", "region_name": "us-east-1"}


def per_second(work: Callable[[int], None], n: int) -> float:
    start = time.process_time()
    work(n)
    return n / max(time.process_time() - start, 1e-9)


def contenders() -> dict[str, Callable[[int], None]]:
    session = boto3.Session(**FAKE)
    signer = Signer("s3", session=session)
    boto3_v4 = session.client("s3", config=Config(signature_version="s3v4"))
    short_circuited = session.client("s3")
    short_circuited.meta.events.register(
        "before-send", lambda request, **kwargs: AWSResponse(request.url, 200, {}, BytesRaw())
    )
    keys = [f"data/2026/11/part-{i:06d}.parquet" for i in range(4096)]

    def fast_presign(n: int) -> None:
        for i in range(n):
            signer.presign("GetObject", {"Bucket": "bench-bucket", "Key": keys[i & 4095]})

    def boto3_presign(n: int) -> None:
        for i in range(n):
            boto3_v4.generate_presigned_url("get_object", Params={"Bucket": "bench-bucket", "Key": keys[i & 4095]})

    def awspar_sign(n: int) -> None:
        for i in range(n):
            signer.sign("get_object", {"Bucket": "bench-bucket", "Key": keys[i & 4095]})

    def boto3_call(n: int) -> None:
        for i in range(n):
            short_circuited.get_object(Bucket="bench-bucket", Key=keys[i & 4095])

    for work in (fast_presign, boto3_presign, awspar_sign, boto3_call):
        work(50)  # warm up: models loaded, endpoint rules cached, fast path calibrated
    return {"awspar fast presign": fast_presign, "boto3 generate_presigned_url (s3v4)": boto3_presign,
            "awspar Signer.sign()": awspar_sign, "boto3 call, send short-circuited": boto3_call}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--n", type=int, default=400, help="fast presigns per round (the others do n/10)")
    parser.add_argument("--out", default="bench_signer.json")
    args = parser.parse_args()

    works = contenders()
    rates: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(args.rounds):
        for name, work in works.items():
            slow = "boto3" in name or "sign()" in name
            rates[name].append(per_second(work, max(args.n // 10, 1) if slow else args.n))
    median = {name: statistics.median(values) for name, values in rates.items()}

    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; median of {args.rounds} alternating rounds, CPU time")
    print(f"{'':40} {'ops/s':>10} {'µs/op':>8}")
    for name, rate in median.items():
        print(f"{name:40} {rate:10.0f} {1e6 / rate:8.1f}")
    presign_ratio = median["awspar fast presign"] / median["boto3 generate_presigned_url (s3v4)"]
    sign_ratio = median["awspar Signer.sign()"] / median["boto3 call, send short-circuited"]
    print(f"fast presign vs boto3:            {presign_ratio:5.1f}x  (target >= 10x)")
    print(f"sign() vs short-circuited boto3:  {sign_ratio:5.2f}x  (target >= 1.0x: no dearer)")
    with open(args.out, "w") as handle:
        json.dump({"python": sys.version, "machine": platform.machine(), "cores": os.cpu_count(),
                   "rounds": args.rounds, "n": args.n, "ops_per_second": rates, "median": median,
                   "ratios": {"fast_presign_vs_boto3": presign_ratio, "sign_vs_boto3_call": sign_ratio}},
                  handle, indent=2)
    print(f"raw numbers: {args.out}")


if __name__ == "__main__":
    main()
