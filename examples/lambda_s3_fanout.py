"""AWS Lambda handler: fetch many S3 objects at once with awspar's threads engine.

Event (``bucket`` defaults to ``AWSPAR_BUCKET``, which infra/template.yaml sets)::

    {"bucket": "my-bucket", "keys": ["a.bin", "b.bin"]}   # these keys
    {"bucket": "my-bucket", "prefix": "2026/11/"}         # everything under a prefix
    {"keys": [...], "prefix": "..."}                      # both

Returns a summary: how many objects arrived and their bytes, each one's size and SHA-256 (the first
1,000 by key), every failure with its error code (``NoSuchKey``, ``AccessDenied``, ``SlowDown``
after retries...), and the timing.

It needs only boto3, botocore and urllib3, which Lambda's Python runtime already ships: no aiohttp.
Credentials, region and endpoint come from the standard AWS settings, so the same file runs
offline against awspar's local S3 endpoint when ``AWS_ENDPOINT_URL_S3`` points there::

    python examples/invoke_locally.py lambda_s3_fanout.handler '{"bucket": "demo", "prefix": ""}'
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from awspar import EngineConfig, Signer, get_engine, get_objects

# Made once per execution environment, at cold start, and reused by every warm invocation: the
# signer's botocore client (credentials from the Lambda environment) and the engine's connection
# pool, whose connections to S3 stay open between invocations.
CONCURRENCY = int(os.environ.get("AWSPAR_CONCURRENCY", "64"))
SIGNER = Signer("s3")
ENGINE = get_engine(
    os.environ.get("AWSPAR_ENGINE", "threads"),
    EngineConfig(concurrency=CONCURRENCY),
    # A presigned GET that waits too long is re-signed (keeping its Range header).
    resign=SIGNER.resign,
)
#: Objects listed one by one in the answer (Lambda answers are at most 6 MB).
MAX_LISTED = 1000


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    bucket = event.get("bucket") or os.environ.get("AWSPAR_BUCKET")
    keys = event.get("keys")
    prefix = event.get("prefix")
    if not bucket:
        raise ValueError("no bucket: give 'bucket' in the event or set AWSPAR_BUCKET")
    if keys is None and prefix is None:
        raise ValueError("give 'keys' (a list) or 'prefix' (a string), or both")

    started = time.perf_counter()
    objects: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    # Objects arrive in memory (result.data) one at a time as they complete; each is hashed and
    # dropped, so memory stays bounded however many keys there are. (To land them on disk
    # instead, pass out_dir=tempfile.mkdtemp(): Lambda's /tmp holds 512 MB to 10 GB.)
    for result in get_objects(bucket, keys, prefix=prefix, engine=ENGINE, signer=SIGNER):
        if result.ok:
            objects.append({
                "key": result.key,
                "size": result.size,
                "sha256": hashlib.sha256(result.data or b"").hexdigest(),
                "verified": list(result.verified),  # what awspar checked: length, md5 (the ETag)...
                "seconds": round(result.elapsed, 4),
            })
        else:
            failures.append({"key": result.key, "code": result.error_code, "error": result.error})
    seconds = time.perf_counter() - started

    total = sum(item["size"] for item in objects)
    objects.sort(key=lambda item: item["key"])
    return {
        "bucket": bucket,
        "count": len(objects),
        "bytes": total,
        "failed": len(failures),
        "seconds": round(seconds, 4),
        "objects_per_second": round(len(objects) / seconds, 1) if seconds else None,
        "mib_per_second": round(total / seconds / 2**20, 2) if seconds else None,
        "engine": ENGINE.name,
        "concurrency": CONCURRENCY,
        "objects": objects[:MAX_LISTED],
        "listed": min(len(objects), MAX_LISTED),
        "failures": sorted(failures, key=lambda item: item["key"])[:MAX_LISTED],
    }
