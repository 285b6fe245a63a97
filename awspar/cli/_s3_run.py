"""What one ``awspar s3-get`` run keeps, shows and reports: counts, not objects.

:class:`S3Run` holds counts, bytes, error codes and the first :data:`FAILURES_LISTED` failures:
its memory does not grow with the number of objects (a million tiny objects cost what ten do).
With ``--json`` each object's record is written as it arrives, inside one JSON document that
ends with the totals (:class:`JsonReport`), so nothing per object is kept for the end either.
Every byte of output goes through a :class:`~awspar.cli._stream.CheckedStream`: output that could
not be written is a failure, never a success.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from awspar._errors import DiskFull
from awspar.cli._output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_TERMINATED,
    EXIT_USAGE,
    plural,
)
from awspar.cli._stream import CheckedStream

if TYPE_CHECKING:  # pragma: no cover
    from awspar.engines._limiter import ScopedLimits

__all__ = ["FAILURES_LISTED", "JsonReport", "ReportLost", "S3Run", "describe"]

# Error codes that mean "this endpoint, bucket or identity cannot be used at all".
UNREACHABLE = frozenset({
    "ConnectError", "TimeoutError", "TransportError", "NoSuchBucket", "AccessDenied", "InvalidAccessKeyId",
    "SignatureDoesNotMatch", "AuthorizationHeaderMalformed", "PermanentRedirect", "InvalidToken", "ExpiredToken",
    "AllAccessDisabled", "AccountProblem",
})
#: Failures printed one per line at the end (the rest are counted by code).
FAILURES_LISTED = 20


class ReportLost(Exception):
    """The report could not be written (its stream is closed or full): the run stops."""


class JsonReport:
    """``--json``: one JSON document, written as the run goes::

        {"bucket": ..., "mode": ..., "objects": [{...}, {...}, ...], "ok": ..., "failed": ..., ...}

    The header and each object's record are written when known, the totals when the run ends:
    a reader can stream the objects, and the writer keeps none of them.
    """

    def __init__(self, stream: CheckedStream, bucket: str, mode: str) -> None:
        self._stream = stream
        self._first = True
        self._write(f'{{"bucket": {json.dumps(bucket, ensure_ascii=False)}, "mode": {json.dumps(mode)}, "objects": [')

    def add(self, record: dict[str, Any]) -> None:
        self._write(("\n" if self._first else ",\n") + json.dumps(record, ensure_ascii=False))
        self._first = False

    def end(self, totals: dict[str, Any]) -> None:
        self._write("\n], " + json.dumps(totals, ensure_ascii=False)[1:] + "\n")

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
        except OSError:
            raise ReportLost(self._stream.describe()) from None


class S3Run:
    """Counts, the progress bar and the closing report of one run (see the module docstring)."""

    def __init__(self, bucket: str, mode: str, *, total: int | None, show_progress: bool, as_json: bool,
                 report_stream: CheckedStream, quiet: bool = False) -> None:
        self.started = time.perf_counter()
        self.bucket = bucket
        self.mode = mode
        self.out = report_stream
        self.quiet = quiet  # no summary line (failures and errors still)
        self.failures: list[tuple[str, str, str]] = []  # (key, code, message): the first FAILURES_LISTED
        self.ok = self.failed = self.skipped = self.bytes = self.skipped_bytes = self.requests = 0
        self.codes: Counter[str] = Counter()
        self.stopped: tuple[str, str] | None = None  # (code, message) of what ended the run early
        self.json = JsonReport(report_stream, bucket, mode) if as_json else None
        #: The engine's adaptive limits (``--concurrency auto``), shown and reported; ``None``: fixed.
        self.limits: ScopedLimits | None = None
        self._clock_started = time.monotonic()  # the clock of the limits' history
        self._progress: Any = None
        if show_progress:
            from awspar.cli._s3_progress import S3Progress

            self._progress = S3Progress(total)

    def __enter__(self) -> S3Run:  # noqa: PYI034 - Self needs 3.11 typing; this class is final
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    @property
    def arrived(self) -> int:
        """Objects that are in place: fetched, or skipped because they already were."""
        return self.ok + self.skipped

    def on_bytes(self, key: str, nbytes: int) -> None:
        if self._progress is not None:
            self._progress.add_bytes(nbytes)

    def add(self, result: Any, *, output_error: str | None = None) -> None:
        """Count one :class:`~awspar.s3.ObjectResult`; ``output_error`` when its bytes could not
        be written out (``--stdout``): then it failed, whatever the fetch said."""
        self.requests += result.requests
        record = result.to_dict() if self.json is not None else None
        if output_error is not None:
            self._fail(result.key, "OutputError", f"{result.key!r}: OutputError: cannot write {output_error}")
            if record is not None:
                record.update(ok=False, error_code="OutputError", error=f"cannot write {output_error}")
        elif result.skipped:
            self.skipped += 1
            self.skipped_bytes += result.size
        elif result.ok:
            self.ok += 1
            self.bytes += result.size
        else:
            self._fail(result.key, result.error_code or "Error", _failure_line(result))  # the line, for the listing
        if record is not None:
            self.json.add(record)  # type: ignore[union-attr]
        if self._progress is not None:
            self._progress.add_object()
            if self.limits is not None:
                limit, throttled, answered = self._limit_now()
                self._progress.show_limit(limit, throttled / answered if answered else 0.0)

    def _limit_now(self) -> tuple[int, int, int]:
        """The adaptive limit now (summed over scopes), throttled answers and all answers."""
        scopes = self.limits.scopes().values() if self.limits is not None else ()
        return sum(s.limit for s in scopes), sum(s.throttled for s in scopes), sum(s.answered for s in scopes)

    def concurrency_report(self) -> dict[str, Any] | None:
        """For ``--json``: the limit, the throttled share and their sampled history per scope
        (``[seconds since the start, limit, throttled share]``, at most a few hundred samples)."""
        if self.limits is None:
            return None
        limit, throttled, answered = self._limit_now()
        return {
            "mode": "auto", "max": self.limits.maximum, "limit": limit, "throttled": throttled, "answered": answered,
            "throttled_share": round(throttled / answered, 4) if answered else 0.0,
            "history": {scope: [[round(t - self._clock_started, 3), n, round(share, 4)] for t, n, share in lim.history()]
                        for scope, lim in self.limits.scopes().items()},
        }

    def stop(self, code: str, message: str) -> None:
        """The run ended early (the listing failed, the disk filled up): what arrived so far still
        gets its report."""
        self.stopped = (code, message)

    def _fail(self, key: str, code: str, message: str) -> None:
        self.failed += 1
        self.codes[code] += 1
        if len(self.failures) < FAILURES_LISTED:
            self.failures.append((key, code, message))

    def exit_code(self, *, interrupted: bool = False, terminated: bool = False) -> int:
        if interrupted:
            return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
        if self.stopped is not None and self.stopped[0] == DiskFull.code:  # the output cannot take more
            return EXIT_USAGE
        if self.stopped is not None:
            return EXIT_FAILED if self.arrived == 0 and self.failed == 0 else EXIT_PARTIAL
        if self.failed == 0:
            return EXIT_OK
        return EXIT_FAILED if self.arrived == 0 and set(self.codes) <= UNREACHABLE else EXIT_PARTIAL

    def totals(self, code: int, wall: float) -> dict[str, Any]:
        totals: dict[str, Any] = {
            "ok": self.ok, "failed": self.failed, "skipped": self.skipped, "skipped_bytes": self.skipped_bytes,
            "bytes": self.bytes,
            "wall_s": round(wall, 6), "requests": self.requests,
            "throughput_mb_s": round(self.bytes / wall / 1e6, 3) if wall else 0.0,
            "requests_per_s": round(self.requests / wall, 1) if wall else 0.0,
            "error_codes": dict(self.codes), "exit_code": code,
        }
        if self.stopped is not None:
            totals["stopped"] = {"error_code": self.stopped[0], "error": self.stopped[1]}
        concurrency = self.concurrency_report()
        if concurrency is not None:
            totals["concurrency"] = concurrency
        return totals

    def summary(self, wall: float) -> str:
        codes = ", ".join(f"{n} {c}" for c, n in self.codes.most_common())
        skipped = f" ({_size(self.skipped_bytes)} already there)" if self.skipped else ""
        return (f"{self.ok} ok, {self.failed} failed{f' ({codes})' if codes else ''}, {self.skipped} skipped{skipped}; "
                f"{_size(self.bytes)} in {wall:.2f} s ({_size(self.bytes / wall if wall else 0)}/s, "
                f"{self.requests / wall if wall else 0:.0f} requests/s)")

    def finish(self, *, interrupted: bool = False, terminated: bool = False, empty_note: str | None = None) -> int:
        """Write the report (the JSON totals, or the failures on stderr and the summary line) and
        the closing ``awspar: ...`` line when there is one; return the exit code."""
        wall = time.perf_counter() - self.started
        code = self.exit_code(interrupted=interrupted, terminated=terminated)
        done = self.arrived + self.failed
        note = None
        if self.stopped is not None:
            why = describe(*self.stopped, self.bucket)
            note = f"the run stopped after {plural(done, 'object')}: {why}" if done else why
        elif interrupted:
            how = "terminated (SIGTERM)" if terminated else "interrupted"
            note = f"{how}: {self.summary(wall).split(';')[0]}; nothing partial was left behind"
        elif empty_note is not None and done == 0:
            note = empty_note
        if self.json is not None:
            self.json.end(self.totals(code, wall))
        elif code == EXIT_FAILED and self.stopped is None:  # nothing could be reached: the first failure says why
            note = describe(self.failures[0][1], self.failures[0][2], self.bucket)
        elif not interrupted and not (self.stopped is not None and done == 0):  # else the note says it all
            for _, _, line in self.failures:
                _say(f"failed: {line}")
            if self.failed > len(self.failures):
                _say(f"... and {plural(self.failed - len(self.failures), 'more failure')}")
            try:
                if not self.quiet:
                    self.out.write(self.summary(wall) + "\n")
            except OSError:
                raise ReportLost(self.out.describe()) from None
        if note is not None:
            _say(f"awspar: {note}")
        return code


def describe(code: str, message: str, bucket: str) -> str:
    """One line for an error that stopped everything."""
    if code == "NoSuchBucket":
        return f"bucket {bucket!r} does not exist (NoSuchBucket)"
    if code in ("ConnectError", "TimeoutError", "TransportError") and not message.startswith("cannot reach"):
        return f"cannot reach S3: {message}"
    return message


def _say(line: str) -> None:
    """A line on standard error (a closed stderr is not worth failing a finished run for)."""
    try:
        print(" ".join(line.split()) if line.startswith("awspar: ") else line, file=sys.stderr, flush=True)
    except OSError:
        pass


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
