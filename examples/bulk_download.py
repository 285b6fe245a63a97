"""Download everything under an S3 prefix into a directory, in parallel, with awspar.

    python examples/bulk_download.py BUCKET PREFIX OUT_DIR [--mode threads] [--concurrency 64]

Each object lands at ``OUT_DIR/<key>``, written to a temporary file and renamed once complete and
verified (its length, and its MD5 or checksum), so an interrupted run leaves no half-written file;
re-run with ``--skip-existing`` to fetch only what is missing. A failed key does not stop the
others: the failures are listed at the end with their error codes, and the exit code is 1 (2 when
the whole run fails, e.g. no such bucket, with a one-line error).

``--mode`` picks the engine: ``threads`` (urllib3, the default, nothing else needed), ``async``
(aiohttp), ``processes``, ``subinterpreters`` (Python 3.13+), ``sequential``, or ``boto3`` (plain
boto3 GetObject calls in threads, to compare against). The ``awspar s3-get`` command does the same
with a progress bar; this is the library call behind it.
"""

from __future__ import annotations

import argparse
import sys
import time

from awspar import ENGINE_NAMES, AwsparError, get_objects


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Download everything under an S3 prefix, in parallel.")
    parser.add_argument("bucket")
    parser.add_argument("prefix", help="key prefix ('' for the whole bucket)")
    parser.add_argument("out_dir")
    parser.add_argument("--mode", choices=ENGINE_NAMES, default="threads", help="the engine (default threads)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight at most (default 64)")
    parser.add_argument("--skip-existing", action="store_true", help="keep files already there, fetch the rest")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    done = skipped = total = 0
    failures = []
    # Credentials, region and endpoint come from the standard AWS settings (AWS_PROFILE,
    # AWS_REGION, AWS_ENDPOINT_URL_S3...), as for boto3. Results arrive as objects complete.
    try:
        for result in get_objects(args.bucket, prefix=args.prefix, out_dir=args.out_dir, mode=args.mode,
                                  concurrency=args.concurrency, skip_existing=args.skip_existing):
            if not result.ok:
                failures.append(result)
            elif result.skipped:
                skipped += 1
            else:
                done += 1
                total += result.size
    except AwsparError as exc:  # the whole run failed: no credentials, no such bucket, no such engine...
        print(f"bulk_download: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # what was in flight is cancelled; no partial file is left behind
        print(f"bulk_download: interrupted after {done} objects", file=sys.stderr)
        return 130
    seconds = time.perf_counter() - started

    print(f"{done} objects, {total} bytes in {seconds:.2f} s "
          f"({done / seconds:.0f} objects/s, {total / seconds / 2**20:.1f} MiB/s) with {args.mode}; "
          f"{skipped} skipped, {len(failures)} failed")
    for result in sorted(failures, key=lambda r: r.key):
        print(f"failed {result.key}: {result.error_code}: {result.error}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
