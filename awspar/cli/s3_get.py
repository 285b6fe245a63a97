"""``awspar s3-get``: fetch many S3 objects in parallel into a directory (or one to stdout).

Thin: it reads the arguments, calls :func:`awspar.s3.get_objects`, draws a progress bar on a
terminal, and prints a summary (or one JSON report). Exit codes: 0 when every object arrived
verified, 1 when some failed, 2 for bad usage or configuration (missing credentials included) and
for an --out that cannot be written (read-only, or the disk filled up: the run stops at the first
such error, with its report, naming the path), 3 when nothing could be reached (unreachable
endpoint, no such bucket, access denied for all), 130 when interrupted (Ctrl-C), 143 when
terminated (SIGTERM: cleaned up as for Ctrl-C). Errors are one line each, without a traceback
(``awspar --debug`` shows it).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Annotated, Any, NoReturn

import typer

from awspar._config import DEFAULT_CONFIG
from awspar._errors import DiskFull, LocalFileError, ServiceError, TransportError
from awspar.cli._dask_scheduler import SCHEDULER_HELP, dask_scheduler
from awspar.cli._options import (
    Concurrency,
    HedgeAfter,
    MaxConcurrency,
    Profile,
    Region,
    S3EndpointUrl,
    Timeout,
    concurrency_value,
    parse_hedge_after,
    retries_option,
    with_retry_options,
)
from awspar.cli._output import EXIT_PARTIAL, EXIT_USAGE, fail

__all__ = ["register", "s3_get_command"]


def register(app: typer.Typer) -> None:
    """Add ``awspar s3-get`` to the app."""
    app.command("s3-get")(s3_get_command)


def s3_get_command(
    bucket: Annotated[str, typer.Argument(metavar="BUCKET", help="The bucket to read from.")],
    keys: Annotated[list[str] | None, typer.Argument(metavar="[KEYS]...", help="Keys to fetch (any number).")] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Also fetch every key under this prefix (listed as it goes).")
    ] = None,
    keys_from: Annotated[
        str | None, typer.Option("--keys-from", help="Also fetch the keys in this file, one per line; '-' reads stdin.")
    ] = None,
    out: Annotated[
        str | None, typer.Option("--out", help="Directory to write into, as out/KEY (default: the current directory).")
    ] = None,
    stdout: Annotated[
        bool, typer.Option("--stdout", help="Write the one object's bytes to standard output instead.")
    ] = False,
    mode: Annotated[
        str, typer.Option("--mode", help="Engine: auto (threads for a few keys named here, else async), sequential, "
                                         "threads, async, subinterpreters, processes, boto3 or dask.")
    ] = "auto",
    scheduler: Annotated[str | None, typer.Option("--scheduler", metavar="ADDRESS", help=SCHEDULER_HELP)] = None,
    concurrency: Concurrency = "auto",
    max_concurrency: MaxConcurrency = 256,
    retries: retries_option(DEFAULT_CONFIG.retry) = None,
    timeout: Timeout = None,
    hedge_after: HedgeAfter = None,
    region: Region = None,
    endpoint_url: S3EndpointUrl = None,
    profile: Profile = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON report (per-key status, bytes, timing, error code).")
    ] = False,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="No progress bar (there is one only when stderr is a terminal).")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no summary line: only failures and errors "
                                                 "(and the --json report) are printed; the exit code says the rest.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace files that exist. Default: an existing file fails its "
                                               "key with FileExists.")
    ] = False,
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Skip keys whose file is already the object (same size, and "
                                                   "same MD5 or checksum when the object tells one: from the "
                                                   "listing with --prefix, else a HeadObject); a truncated or "
                                                   "different file is fetched again. A re-run picks up where it "
                                                   "stopped. Not with --overwrite.")
    ] = False,
    fsync: Annotated[
        str, typer.Option("--fsync", metavar="always|large|never",
                          help="Flush each file to the disk before it is renamed into place: large (objects of "
                               "1 MiB or more), always, or never (after a power loss a file may then be there "
                               "and empty).")
    ] = "large",
) -> None:
    """Fetch objects of BUCKET in parallel: presigned GETs, large objects in parallel ranges, each
    file verified (length, MD5/ETag or the object's checksum) and renamed into place only when
    complete, so an interrupted run leaves no partial file.

    Examples:

      awspar s3-get my-bucket --prefix 2026/11/ --out ./data --mode async

      awspar s3-get my-bucket a.txt b.txt --out ./data --skip-existing

      awspar s3-get my-bucket big.bin --stdout > big.bin

      awspar s3-get my-bucket --prefix 2026/ --out /shared/data --mode dask --scheduler tcp://10.0.0.5:8786
    """
    from awspar.engines import ENGINE_NAMES
    from awspar.s3 import auto_mode

    if mode != "auto" and mode not in ENGINE_NAMES:
        fail(f"--mode {mode!r} is not one of: auto, {', '.join(ENGINE_NAMES)}")
    if stdout and out is not None:
        fail("choose one of --out and --stdout")
    if overwrite and skip_existing:
        fail("choose one of --overwrite and --skip-existing")
    if fsync not in ("always", "large", "never"):
        fail(f"--fsync is always, large or never, not {fsync!r}")
    if not keys and prefix is None and keys_from is None:
        fail("nothing to fetch: give KEYS, --prefix or --keys-from")
    if stdout and (prefix is not None or keys_from is not None or len(keys or []) != 1):
        fail("--stdout writes exactly one object: give one key and no --prefix or --keys-from")
    cluster = dask_scheduler(mode, scheduler)
    in_flight = concurrency_value(concurrency)
    config = with_retry_options(DEFAULT_CONFIG.with_(concurrency=in_flight, max_concurrency=max_concurrency),
                                retries, timeout).with_(hedge_after=parse_hedge_after(hedge_after))
    key_source, total = _keys(keys or [], keys_from)
    if mode == "auto":
        mode = auto_mode(total, prefix, in_flight)
    from awspar.cli._s3_run import S3Run
    from awspar.cli._stream import CheckedStream

    data_out = CheckedStream() if stdout else None
    report_out = CheckedStream(sys.stderr.buffer, name="standard error") if stdout else CheckedStream()
    show_progress = not stdout and not as_json and not (quiet or no_progress) and sys.stderr.isatty()
    run = S3Run(bucket, mode, total=total, show_progress=show_progress, as_json=as_json, report_stream=report_out,
                quiet=quiet)
    _fetch(run, bucket, key_source, cluster, data_out, prefix=prefix, out=None if stdout else (out or "."),
           mode=mode, config=config,
           region=region, endpoint_url=endpoint_url, profile=profile, overwrite=overwrite, skip_existing=skip_existing,
           fsync=fsync, empty_note=_empty_note(keys or [], keys_from, prefix))


def _fetch(run: Any, bucket: str, key_source: Iterator[str], cluster: Any, data_out: Any, *, empty_note: str,
           **options: Any) -> NoReturn:
    """Run the fetch into ``run``, the one place that turns how it ended into the report and the
    exit code: a listing that fails part-way, Ctrl-C and output that cannot be written included."""
    from awspar.cli._s3_run import ReportLost
    from awspar.cli._signals import Terminated, terminate_as_interrupt

    interrupted = terminated = False
    try:
        with terminate_as_interrupt():
            from awspar.engines import engine_for_run
            from awspar.s3 import get_objects

            out = options.pop("out")
            # the run holds the engine, to show its adaptive limits (engine.limits) as it goes
            engine, _ = engine_for_run(options["mode"], options["config"], None, region=options["region"],
                                       endpoint_url=options["endpoint_url"], profile=options["profile"])
            run.limits = engine.limits
            results = get_objects(bucket, key_source, out_dir=out, on_progress=run.on_bytes, engine=engine, **options)
            try:
                with run, cluster:
                    for result in results:
                        run.add(result, output_error=_write_data(data_out, result))
            finally:
                results.close()  # on any way out: cancels what is in flight, removes temporary files
                engine.close()
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Terminated)
        interrupted, terminated = True, isinstance(exc, Terminated)
    except DiskFull as exc:  # the key that hit it failed; the ones after it were not fetched
        run.stop(DiskFull.code, str(exc))
    except LocalFileError as exc:  # --out cannot be written: nothing was sent
        fail(str(exc), EXIT_USAGE)
    except ServiceError as exc:  # the listing failed: no such bucket, access denied...
        run.stop(exc.code or "ServiceError", str(exc))
    except TransportError as exc:
        run.stop(getattr(exc, "code", "") or "TransportError", f"cannot reach S3: {exc}")
    except ReportLost as exc:
        fail(f"cannot write the report: {exc}", EXIT_PARTIAL)
    except OSError as exc:
        fail(f"cannot write: {exc.strerror or exc}", EXIT_USAGE)
    try:
        code = run.finish(interrupted=interrupted, terminated=terminated, empty_note=empty_note)
    except ReportLost as exc:
        fail(f"cannot write the report: {exc}", EXIT_PARTIAL)
    raise typer.Exit(code)


def _empty_note(keys: list[str], keys_from: str | None, prefix: str | None) -> str:
    """What a run that found nothing to fetch says on stderr (it still exits 0, as ``aws s3 cp
    --recursive`` does: no object failed; see the README on exit codes)."""
    sources = []
    if keys_from is not None:
        sources.append("standard input has no key" if keys_from == "-" else f"the keys file {keys_from!r} has no key")
    if prefix is not None:
        sources.append(f"no key starts with {prefix!r}")
    return f"nothing to fetch: {' and '.join(sources) or 'no key'}"


def _write_data(data_out: Any, result: Any) -> str | None:
    """``--stdout``: write the object's bytes, all of them; what went wrong, or None."""
    if data_out is None or not result.ok or result.data is None:
        return None
    try:
        data_out.write(result.data)
    except OSError:
        return data_out.describe()
    return None


def _keys(keys: list[str], keys_from: str | None) -> tuple[Iterator[str], int | None]:
    """The keys to fetch, lazily, and how many when that is known up front."""
    from awspar.cli._keys_file import count_keys, key_lines
    from awspar.s3.keys import keys_from_lines

    lines = None
    if keys_from is not None:
        try:
            lines = key_lines(keys_from)
        except OSError as exc:
            fail(f"--keys-from {keys_from!r}: {exc.strerror or exc}")

    def chained() -> Iterator[str]:
        yield from keys
        if lines is not None:
            yield from keys_from_lines(lines)

    if keys_from is None:
        return chained(), len(keys)
    counted = count_keys(keys_from)  # an upper bound: a key named twice is fetched once
    return chained(), None if counted is None else len(keys) + counted
