"""Fill a bucket with benchmark objects: COUNT objects of SIZE bytes under PREFIX, idempotently.

Keys are ``{prefix}{i:06d}.bin``; each body is pseudo-random bytes seeded by its key, so a re-run
writes the same bytes and the objects do not compress. Objects already there with the right size are
left alone, so a re-run after an interruption only puts what is missing (``--force`` puts them all).

The puts go through awspar (signed by its Signer, sent by its threads engine) when awspar is
importable, else through boto3's ``put_object`` in a thread pool (``--via`` chooses). Bodies are made
as the puts go, so memory stays bounded by the concurrency, whatever the count.

    python infra/seed_bucket.py BUCKET [--count 1000] [--size 16KiB] [--prefix awspar-bench/]
        [--region R] [--profile P] [--endpoint-url URL] [--concurrency 32] [--force]
        [--via auto|awspar|boto3]

Standard AWS settings apply (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3).
Progress goes to stderr, the one-line summary to stdout. Exit codes: 0 all objects in place,
1 some puts failed (listed), 2 bad arguments or the bucket cannot be used, 130 interrupted.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

_SIZE = re.compile(r"(?i)^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$")
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1000**3, "gib": 1024**3}


def parse_size(text: str) -> int:
    """``"16KiB"`` -> 16384; plain digits are bytes; k/M/G alone mean KiB/MiB/GiB."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 16384, 16KiB or 1MiB)")
    return int(match.group(1)) * _UNITS[(match.group(2) or "").lower()]


def object_key(prefix: str, index: int) -> str:
    """The key of benchmark object number ``index``."""
    return f"{prefix}{index:06d}.bin"


def object_body(key: str, size: int) -> bytes:
    """The body of ``key``: the same ``size`` pseudo-random bytes on every run."""
    return random.Random(key).randbytes(size)


def existing_sizes(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    """``key -> size`` of every object already under ``prefix``."""
    sizes: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        sizes.update((obj["Key"], obj["Size"]) for obj in page.get("Contents", ()))
    return sizes


def put_with_boto3(s3: Any, bucket: str, size: int, keys: list[str], concurrency: int) -> Iterator[tuple[str, str | None]]:
    """``put_object`` each key from a thread pool; yield ``(key, error code or None)`` as each ends.

    At most ``concurrency`` puts are queued at once, so a million keys never sit in memory as bodies.
    """
    from botocore.exceptions import ClientError

    def put(key: str) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=object_body(key, size))

    pending: dict[Future[None], str] = {}
    todo = iter(keys)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="seed") as pool:
        try:
            while True:
                for key in todo:
                    pending[pool.submit(put, key)] = key
                    if len(pending) >= concurrency:
                        break
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    error = future.exception()
                    if isinstance(error, ClientError):
                        yield pending.pop(future), str(error.response["Error"].get("Code"))
                    else:
                        yield pending.pop(future), None if error is None else type(error).__name__
        finally:
            for future in pending:
                future.cancel()


def put_with_awspar(session: Any, endpoint_url: str | None, bucket: str, size: int, keys: list[str],
                    concurrency: int) -> Iterator[tuple[str, str | None]]:
    """Sign each PutObject with awspar's Signer and send it with its threads engine; yield
    ``(key, error code or None)`` as each ends. Requests are signed lazily, as the engine pulls them."""
    from awspar import EngineConfig
    from awspar._errors import AwsparError, ServiceError
    from awspar.engines import get_engine
    from awspar.parsing import parse_response
    from awspar.signer import Signer

    signer = Signer("s3", session=session, endpoint_url=endpoint_url)
    requests = signer.sign_many(
        "put_object", ({"Bucket": bucket, "Key": key, "Body": object_body(key, size)} for key in keys))
    with get_engine("threads", EngineConfig(concurrency=concurrency), resign=signer.resign) as engine:
        for response in engine.as_completed(requests):
            try:
                parse_response(response)
            except ServiceError as exc:
                yield keys[response.index], exc.code
            except AwsparError as exc:
                yield keys[response.index], type(exc).__name__
            else:
                yield keys[response.index], None


def awspar_available() -> bool:
    """True when awspar's signer and engines can be imported here."""
    try:
        import awspar.engines
        import awspar.signer  # noqa: F401
    except ImportError:
        return False
    return True


class _Progress:
    """One stderr line about every tenth of the work: objects put and throughput."""

    def __init__(self, total: int, size: int) -> None:
        self.total, self.size, self.done = total, size, 0
        self.step = max(1, total // 10)
        self.started = time.perf_counter()

    def tick(self) -> None:
        self.done += 1
        if self.done % self.step == 0 or self.done == self.total:
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            rate = self.done * self.size / elapsed / 2**20
            print(f"  put {self.done}/{self.total} ({rate:.1f} MiB/s)", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seed_bucket.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("bucket", help="bucket to fill (the stack's BucketName output)")
    parser.add_argument("--count", type=int, default=1000, help="number of objects")
    parser.add_argument("--size", type=parse_size, default="16KiB", help="bytes per object (16384, 16KiB, 1MiB)")
    parser.add_argument("--prefix", default="awspar-bench/", help="key prefix")
    parser.add_argument("--region", help="bucket region (default: AWS_REGION / your profile)")
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE / default chain)")
    parser.add_argument("--endpoint-url", help="S3 endpoint (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / AWS)")
    parser.add_argument("--concurrency", type=int, default=32, help="puts in flight at most")
    parser.add_argument("--force", action="store_true", help="put every object, even those already there")
    parser.add_argument("--via", choices=("auto", "awspar", "boto3"), default="auto",
                        help="send the puts with awspar's threads engine or boto3 (auto: awspar when importable)")
    return parser


def _fail(message: str, code: int = 2) -> int:
    print(f"seed_bucket: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.count < 1 or args.concurrency < 1:
        parser.error("--count and --concurrency must be at least 1")
    available = awspar_available()
    via = ("awspar" if available else "boto3") if args.via == "auto" else args.via
    if via == "awspar" and not available:
        return _fail("awspar is not importable here (pip install awspar, or use --via boto3)")

    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
        s3 = session.client("s3", endpoint_url=args.endpoint_url, config=Config(
            max_pool_connections=args.concurrency, retries={"mode": "standard", "max_attempts": 5}))
        s3.list_objects_v2(Bucket=args.bucket, MaxKeys=1)  # the bucket exists and these credentials reach it
        there = {} if args.force else existing_sizes(s3, args.bucket, args.prefix)
    except NoCredentialsError:
        return _fail("no AWS credentials found (set AWS_PROFILE, or run `aws configure` / `aws sso login`)")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("404", "NoSuchBucket"):
            return _fail(f"bucket {args.bucket!r} does not exist (deploy the stack first, or check --region)")
        if code in ("403", "AccessDenied"):
            return _fail(f"access to bucket {args.bucket!r} denied (check the credentials and --region)")
        return _fail(f"cannot use bucket {args.bucket!r}: {exc}")
    except BotoCoreError as exc:
        return _fail(str(exc))

    keys = [object_key(args.prefix, i) for i in range(args.count)]
    todo = [key for key in keys if there.get(key) != args.size]
    fatal: tuple[type[Exception], ...] = (BotoCoreError,)  # failures that are not one object's
    if via == "awspar":
        from awspar import AwsparError

        fatal += (AwsparError,)
        results = put_with_awspar(session, args.endpoint_url, args.bucket, args.size, todo, args.concurrency)
    else:
        results = put_with_boto3(s3, args.bucket, args.size, todo, args.concurrency)

    print(f"seeding s3://{args.bucket}/{args.prefix} via {via}: {len(todo)} to put, "
          f"{len(keys) - len(todo)} already there", file=sys.stderr, flush=True)
    progress = _Progress(len(todo), args.size)
    failed: dict[str, str] = {}
    started = time.perf_counter()
    try:
        for key, code in results:
            progress.tick()
            if code is not None:
                failed[key] = code
    except KeyboardInterrupt:
        return _fail(f"interrupted after {progress.done} of {len(todo)} puts; run again to finish", 130)
    except fatal as exc:
        return _fail(f"stopped after {progress.done} of {len(todo)} puts: {exc}; run again to finish")
    elapsed = time.perf_counter() - started

    put_count = len(todo) - len(failed)
    print(f"s3://{args.bucket}/{args.prefix}: {len(keys) - len(failed)}/{len(keys)} objects of {args.size} bytes "
          f"in place (put {put_count}, already there {len(keys) - len(todo)}, failed {len(failed)}) "
          f"in {elapsed:.1f} s")
    if failed:
        shown = ", ".join(f"{key} ({code})" for key, code in list(failed.items())[:5])
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        return _fail(f"{len(failed)} puts failed: {shown}{more}; run again to retry them", 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
