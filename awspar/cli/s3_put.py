"""``awspar s3-put``: upload files and directories to S3 in parallel, each object checked by S3.

Thin: it reads the arguments, calls :func:`awspar.s3.put_objects`, and reports the way
``awspar s3-get`` does (the same progress bar, summary, ``--json`` report and exit codes: 0 when
every object was stored and checked, 1 when some failed, 2 for bad usage or configuration, 3 when
nothing could be reached, 130 when interrupted).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from awspar._config import DEFAULT_CONFIG
from awspar._errors import TransportError
from awspar.cli._options import Profile, Region, S3EndpointUrl, Timeout, retries_option, with_retry_options
from awspar.cli._output import EXIT_PARTIAL, EXIT_USAGE, fail

__all__ = ["register", "s3_put_command"]


def register(app: typer.Typer) -> None:
    """Add ``awspar s3-put`` to the app."""
    app.command("s3-put")(s3_put_command)


def s3_put_command(
    bucket: Annotated[str, typer.Argument(metavar="BUCKET", help="The bucket to write to.")],
    paths: Annotated[list[str], typer.Argument(metavar="PATHS...", help="Files and directories to upload (a directory: every file "
                                                     "under it, keyed by its path relative to the directory).")],
    prefix: Annotated[str, typer.Option("--prefix", help="Put this in front of every key (e.g. '2026/12/').")] = "",
    mode: Annotated[
        str, typer.Option("--mode", help="Engine: auto (async when installed, else threads), sequential, threads, "
                                         "async, subinterpreters, processes or boto3.")
    ] = "auto",
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Requests in flight at most (default: 32).")
    ] = None,
    retries: retries_option(DEFAULT_CONFIG.retry) = None,
    timeout: Timeout = None,
    checksum: Annotated[
        str, typer.Option("--checksum", help="Checksum sent with every PUT and part and checked by S3: crc32, "
                                             "crc32c (needs awscrt), sha1 or sha256.")
    ] = "crc32",
    content_type: Annotated[
        str | None, typer.Option("--content-type", help="Content-Type of every object (default: guessed from "
                                                        "the file name, else S3's binary/octet-stream).")
    ] = None,
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", metavar="KEY=VALUE",
                                       help="User metadata (x-amz-meta-KEY) for every object; repeat for more.")
    ] = None,
    storage_class: Annotated[
        str | None, typer.Option("--storage-class", help="Storage class of every object (default: STANDARD).")
    ] = None,
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Skip objects already there with the same size and checksum "
                                                   "(HeadObject): a re-run uploads only what is missing or different.")
    ] = False,
    region: Region = None,
    endpoint_url: S3EndpointUrl = None,
    profile: Profile = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON report (per-key status, bytes, timing, error code).")
    ] = False,
) -> None:
    """Upload PATHS to BUCKET in parallel: presigned PUTs below 16 MiB, larger files as multipart
    uploads in 8 MiB parts, every PUT and part carrying its checksum for S3 to check. A failed or
    interrupted multipart upload is aborted, so no orphaned parts are left behind.

    Examples:

      awspar s3-put my-bucket ./out --prefix 2026/12/

      awspar s3-put my-bucket big.bin notes.txt --checksum sha256 --json

      awspar s3-put my-bucket ./out --prefix 2026/12/ --skip-existing
    """
    from awspar.engines import ENGINE_NAMES
    from awspar.s3 import CHECKSUMS

    if mode != "auto" and (mode not in ENGINE_NAMES or mode == "dask"):
        fail(f"--mode {mode!r} is not one of: auto, {', '.join(n for n in ENGINE_NAMES if n != 'dask')}")
    if checksum.lower() not in CHECKSUMS:
        fail(f"--checksum {checksum!r} is not one of: {', '.join(CHECKSUMS)}")
    meta = {}
    for item in metadata or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            fail(f"--metadata {item!r}: expected KEY=VALUE")
        meta[name] = value
    missing = [path for path in paths if not os.path.exists(path)]
    if missing:
        fail(f"no such file or directory: {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    from awspar.cli._s3_run import ReportLost, S3Run
    from awspar.cli._stream import CheckedStream

    files_only = all(os.path.isfile(path) for path in paths)
    run = S3Run(bucket, mode, total=len(paths) if files_only else None,
                show_progress=not as_json and sys.stderr.isatty(), as_json=as_json, report_stream=CheckedStream())
    from awspar.cli._signals import Terminated, terminate_as_interrupt

    interrupted = terminated = False
    try:
        with terminate_as_interrupt():  # SIGTERM aborts the open multipart uploads as Ctrl-C does
            from awspar.s3 import put_objects

            results = put_objects(
                bucket, paths, prefix=prefix, mode=mode, concurrency=concurrency,
                config=with_retry_options(DEFAULT_CONFIG, retries, timeout), region=region,
                endpoint_url=endpoint_url, profile=profile, checksum=checksum, content_type=content_type,
                metadata=meta or None, storage_class=storage_class, skip_existing=skip_existing,
                on_progress=run.on_bytes,
            )
            try:
                with run:
                    for result in results:
                        run.add(result)
            finally:
                results.close()  # on any way out: cancels what is in flight, aborts open multipart uploads
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Terminated)
        interrupted, terminated = True, isinstance(exc, Terminated)
    except TransportError as exc:
        run.stop(getattr(exc, "code", "") or "TransportError", f"cannot reach S3: {exc}")
    except ReportLost as exc:
        fail(f"cannot write the report: {exc}", EXIT_PARTIAL)
    except OSError as exc:
        fail(f"cannot read: {exc.strerror or exc}", EXIT_USAGE)
    try:
        code = run.finish(interrupted=interrupted, terminated=terminated,
                          empty_note="nothing to upload: no file under the paths given")
    except ReportLost as exc:
        fail(f"cannot write the report: {exc}", EXIT_PARTIAL)
    raise typer.Exit(code)
