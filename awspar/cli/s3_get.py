"""``awspar s3-get``: fetch many S3 objects in parallel into a directory (or one to stdout).

Thin: it reads the arguments, calls :func:`awspar.s3.get_objects`, draws a progress bar on a
terminal, and prints a summary (or one JSON report). Exit codes: 0 when every object arrived
verified, 1 when some failed, 2 for bad usage or configuration (missing credentials included),
3 when nothing could be reached (unreachable endpoint, no such bucket, access denied for all),
130 when interrupted. Errors are one line each, without a traceback (``awspar --debug`` shows it).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from awspar._errors import ServiceError, TransportError
from awspar.cli._dask_scheduler import SCHEDULER_HELP, dask_scheduler
from awspar.cli._options import Concurrency, MaxConcurrency, Profile, Region, S3EndpointUrl, concurrency_value
from awspar.cli._output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, fail, plural

__all__ = ["register", "s3_get_command"]

# Error codes that mean "this endpoint, bucket or identity cannot be used at all".
_UNREACHABLE = frozenset({
    "ConnectError", "TimeoutError", "TransportError", "NoSuchBucket", "AccessDenied", "InvalidAccessKeyId",
    "SignatureDoesNotMatch", "AuthorizationHeaderMalformed", "PermanentRedirect", "InvalidToken", "ExpiredToken",
    "AllAccessDisabled", "AccountProblem",
})
_FAILURES_LISTED = 20


def register(app: typer.Typer) -> None:
    """Add ``awspar s3-get`` to the app."""
    app.command("s3-get")(s3_get_command)


def s3_get_command(
    bucket: Annotated[str, typer.Argument(help="The bucket to read from.")],
    keys: Annotated[list[str] | None, typer.Argument(help="Keys to fetch (any number).")] = None,
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
    region: Region = None,
    endpoint_url: S3EndpointUrl = None,
    profile: Profile = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON report (per-key status, bytes, timing, error code).")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace files that exist. Default: an existing file fails its "
                                               "key with FileExists.")
    ] = False,
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Skip keys whose file exists: a re-run picks up where it "
                                                   "stopped. Not with --overwrite.")
    ] = False,
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
    if not keys and prefix is None and keys_from is None:
        fail("nothing to fetch: give KEYS, --prefix or --keys-from")
    if stdout and (prefix is not None or keys_from is not None or len(keys or []) != 1):
        fail("--stdout writes exactly one object: give one key and no --prefix or --keys-from")
    cluster = dask_scheduler(mode, scheduler)
    in_flight = concurrency_value(concurrency)
    key_source, total = _keys(keys or [], keys_from)
    if mode == "auto":
        mode = auto_mode(total, prefix, in_flight)
    show_progress = not stdout and not as_json and sys.stderr.isatty()
    try:
        from awspar._config import EngineConfig
        from awspar.s3 import get_objects, open_engine

        engine = open_engine(mode, config=EngineConfig(concurrency=in_flight, max_concurrency=max_concurrency),
                             region=region, endpoint_url=endpoint_url, profile=profile)
        run = _Run(total, show_progress, mode, engine.limits)
        results = get_objects(
            bucket, key_source, prefix=prefix, out_dir=None if stdout else (out or "."), mode=mode,
            engine=engine, region=region, endpoint_url=endpoint_url, profile=profile,
            overwrite=overwrite, skip_existing=skip_existing, on_progress=run.on_bytes,
        )
        try:
            with run, cluster:
                for result in results:
                    run.add(result)
                    if stdout and result.ok and result.data is not None:
                        sys.stdout.buffer.write(result.data)
                        sys.stdout.buffer.flush()
        finally:
            results.close()  # on any way out: cancels what is in flight, removes temporary files
            engine.close()
    except KeyboardInterrupt:
        fail("interrupted: nothing partial was left behind", EXIT_INTERRUPTED)
    except ServiceError as exc:  # the listing failed: no such bucket, access denied...
        fail(_describe(exc.code, str(exc), bucket), EXIT_FAILED)
    except TransportError as exc:
        fail(f"cannot reach S3: {exc}", EXIT_FAILED)
    except OSError as exc:
        fail(f"cannot write: {exc.strerror or exc}", EXIT_USAGE)
    raise typer.Exit(run.finish(bucket, as_json, to_stderr=stdout))


def _keys(keys: list[str], keys_from: str | None) -> tuple[Iterator[str], int | None]:
    """The keys to fetch, lazily, and how many when that is known up front."""
    from awspar.cli._keys_file import key_lines
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

    return chained(), None if keys_from is not None else len(keys)


def _describe(code: str, message: str, bucket: str) -> str:
    """One line for an error that stopped everything."""
    if code == "NoSuchBucket":
        return f"bucket {bucket!r} does not exist (NoSuchBucket)"
    if code in ("ConnectError", "TimeoutError", "TransportError"):
        return f"cannot reach S3: {message}"
    return message


class _Run:
    """Counts, the progress bar and the closing report."""

    def __init__(self, total: int | None, show_progress: bool, mode: str, limits: Any = None) -> None:
        self.started = time.perf_counter()
        self._clock_started = time.monotonic()  # the clock of the limits' history
        self.mode = mode
        self.limits = limits
        self.results: list[dict[str, Any]] = []
        self.failures: list[Any] = []
        self.ok = self.failed = self.skipped = self.bytes = self.requests = 0
        self.codes: Counter[str] = Counter()
        self._progress: Any = None
        self._objects_task: Any = None
        self._bytes_task: Any = None
        if show_progress:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), DownloadColumn(),
                TransferSpeedColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                console=Console(stderr=True), transient=True,
            )
            self._objects_task = self._progress.add_task("objects", total=total)
            self._bytes_task = self._progress.add_task("bytes", total=None)

    def __enter__(self) -> _Run:  # noqa: PYI034 - Self needs 3.11 typing; this class is final
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def on_bytes(self, key: str, nbytes: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._bytes_task, nbytes)

    def add(self, result: Any) -> None:
        self.results.append(result.to_dict())
        self.requests += result.requests
        if result.skipped:
            self.skipped += 1
        elif result.ok:
            self.ok += 1
            self.bytes += result.size
        else:
            self.failed += 1
            self.codes[result.error_code or "Error"] += 1
            if len(self.failures) < _FAILURES_LISTED:
                self.failures.append(result)
        if self._progress is not None:
            self._progress.advance(self._objects_task, 1)
            if self.limits is not None:
                limit, throttled, answered = self._limit_now()
                share = throttled / answered if answered else 0.0
                self._progress.update(self._objects_task, description=f"objects (limit {limit}, {share:.0%} throttled)")

    def _limit_now(self) -> tuple[int, int, int]:
        """The adaptive limit now (summed over scopes), throttled answers and all answers."""
        scopes = self.limits.scopes().values()
        return (sum(s.limit for s in scopes), sum(s.throttled for s in scopes), sum(s.answered for s in scopes))

    def concurrency_report(self) -> dict[str, Any] | None:
        """For ``--json``: the limit, the throttled share and their sampled history per scope
        (``[seconds since start, limit, throttled share]``, at most a few hundred samples)."""
        if self.limits is None:
            return None
        limit, throttled, answered = self._limit_now()
        return {
            "mode": "auto", "max": self.limits.maximum, "limit": limit, "throttled": throttled, "answered": answered,
            "throttled_share": round(throttled / answered, 4) if answered else 0.0,
            "history": {scope: [[round(t - self._clock_started, 3), n, round(share, 4)] for t, n, share in lim.history()]
                        for scope, lim in self.limits.scopes().items()},
        }

    def finish(self, bucket: str, as_json: bool, to_stderr: bool) -> int:
        """Print the summary or the JSON report; return the exit code."""
        wall = time.perf_counter() - self.started
        code = EXIT_OK if self.failed == 0 else EXIT_PARTIAL
        unreachable = self.failed and not self.ok and set(self.codes) <= _UNREACHABLE
        if unreachable:
            code = EXIT_FAILED
        if as_json:
            report = {
                "bucket": bucket, "mode": self.mode, "ok": self.ok, "failed": self.failed, "skipped": self.skipped,
                "bytes": self.bytes, "wall_s": round(wall, 6), "requests": self.requests,
                "throughput_mb_s": round(self.bytes / wall / 1e6, 3) if wall else 0.0,
                "requests_per_s": round(self.requests / wall, 1) if wall else 0.0,
                "error_codes": dict(self.codes), "exit_code": code, "objects": self.results,
            }
            concurrency = self.concurrency_report()
            if concurrency is not None:
                report["concurrency"] = concurrency
            typer.echo(json.dumps(report, ensure_ascii=False))
            return code
        if unreachable:
            first = self.failures[0]
            fail(_describe(first.error_code or "", first.error or "", bucket), EXIT_FAILED)
        err = to_stderr
        for result in self.failures:
            typer.echo(f"failed: {_failure_line(result)}", err=True)
        if self.failed > len(self.failures):
            typer.echo(f"... and {plural(self.failed - len(self.failures), 'more failure')}", err=True)
        codes = ", ".join(f"{n} {c}" for c, n in self.codes.most_common())
        typer.echo(
            f"{self.ok} ok, {self.failed} failed{f' ({codes})' if codes else ''}, {self.skipped} skipped; "
            f"{_size(self.bytes)} in {wall:.2f} s ({_size(self.bytes / wall if wall else 0)}/s, "
            f"{self.requests / wall if wall else 0:.0f} requests/s)",
            err=err,
        )
        return code


def _failure_line(result: Any) -> str:
    """``key: code: message`` without repeating what the message already says."""
    text = result.error or ""
    if result.error_code and result.error_code not in text:
        text = f"{result.error_code}: {text}"
    return text if repr(result.key) in text or result.key in text else f"{result.key}: {text}"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
