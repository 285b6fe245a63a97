"""The policy every engine shares, with no I/O: retries, backoff, stale signatures, hedging, spans.

An engine only knows how to make *one* HTTP attempt (it returns an :class:`Outcome`). Everything
else lives here, once, in :class:`RequestRun`, a small state machine that a driver loop (threads,
asyncio, processes...) steps through::

    run = RequestRun(index, job, policy)
    while True:
        request = run.prepare()              # re-signs a stale request, or ends the run
        if isinstance(request, RawResponse): return request
        outcomes = <one attempt, hedged if run.hedged, when run.hedge_due_in(start) says>
        step = run.record(outcomes)          # seconds to back off, or the final RawResponse
        if isinstance(step, RawResponse): return step
        <sleep step seconds>

Standard library and ``awspar._models`` / ``_errors`` / ``_config`` only: this module is imported
inside subinterpreters and worker processes.
"""

from __future__ import annotations

import importlib
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from awspar._config import EngineConfig, RetryPolicy
from awspar._errors import (
    THROTTLING_CODES,
    AwsparError,
    CancelledError,
    ConfigurationError,
    ConnectError,
    DiskFull,
    IncompleteBodyError,
    LocalFileError,
    TimeoutError,
    TransportError,
    WorkerCrashedError,
)
from awspar._models import FileSink, RawResponse, SignedRequest, Span, redact_url

__all__ = [
    "HedgeTracker",
    "Job",
    "Outcome",
    "Postprocess",
    "RequestRun",
    "Resign",
    "RunPolicy",
    "RunWindow",
    "cancelled_error",
    "describe_failure",
    "empty_by_range",
    "error_code",
    "is_throttling",
    "load_callable",
    "retry_after",
    "split_job",
]

#: What an engine accepts: a request, or a request whose body goes to a file.
Job = Union[SignedRequest, "tuple[SignedRequest, FileSink]"]
#: The re-sign callback: a fresh signature for the same request (e.g. ``Signer.resign``).
Resign = Callable[[SignedRequest], SignedRequest]

# Error classes an Outcome can carry, by name: plain data crosses interpreters and processes.
_ERROR_KINDS: dict[str, type[AwsparError]] = {
    cls.__name__: cls
    for cls in (
        TransportError, ConnectError, TimeoutError, IncompleteBodyError, CancelledError, WorkerCrashedError,
        LocalFileError, DiskFull,
    )
}
# Look for an error code only in small error bodies.
_MAX_ERROR_BODY = 64 * 1024
_XML_CODE = re.compile(rb"<Code>\s*([^<\s]+)\s*</Code>")
_JSON_CODE = re.compile(rb'"(?:__type|code|Code)"\s*:\s*"([^"]+)"')
# A percentile hedge waits for this many latencies before it fires.
HEDGE_MIN_SAMPLES = 10
#: While a percentile hedge warms up, a driver checks this often whether it is known yet (seconds).
HEDGE_WARMUP_POLL = 0.02
_HEDGE_WINDOW = 1000


def split_job(job: Job) -> tuple[SignedRequest, FileSink | None]:
    """``(request, sink)`` from either shape of job."""
    if isinstance(job, SignedRequest):
        return job, None
    request, sink = job
    if not isinstance(request, SignedRequest) or not isinstance(sink, FileSink):
        raise ConfigurationError(f"a job is a SignedRequest or (SignedRequest, FileSink), not {type(job).__name__}")
    return request, sink


def cancelled_error(attempts: int) -> CancelledError:
    """The error a cancelled call (a race loser) carries."""
    return CancelledError("cancelled: another call won the race", attempts=attempts)


@dataclass
class Outcome:
    """One HTTP attempt, as plain data: what the server said, or the transport error.

    Times are ``time.perf_counter()`` values. ``error`` is set when no usable response arrived.
    :meth:`to_tuple` / :meth:`from_tuple` carry it across interpreters and processes.
    """

    start: float
    end: float
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    path: str | None = None
    first_byte: float | None = None
    error: AwsparError | None = None

    def to_tuple(self) -> tuple[object, ...]:
        """Shareable types only (str, bytes, int, float, None, tuples of them)."""
        kind, message = (type(self.error).__name__, self.error.message) if self.error else (None, None)
        return (self.start, self.end, self.status, tuple(self.headers.items()), self.body, self.path,
                self.first_byte, kind, message)

    @classmethod
    def from_tuple(cls, data: tuple[object, ...]) -> Outcome:
        """The inverse of :meth:`to_tuple`."""
        start, end, status, headers, body, path, first_byte, kind, message = data
        error = _ERROR_KINDS.get(str(kind), TransportError)(str(message)) if kind else None
        return cls(start, end, status, dict(headers), body, path, first_byte, error)  # type: ignore[arg-type,call-overload]

    @classmethod
    def failed(cls, start: float, error: AwsparError) -> Outcome:
        """An attempt that ended in ``error`` now."""
        return cls(start=start, end=time.perf_counter(), error=error)


def load_callable(path: str) -> Callable[..., Any]:
    """The object named by ``"package.module:attribute"`` (the attribute may be dotted)."""
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"expected 'module:function', got {path!r}")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{path!r} is not callable")
    return target  # type: ignore[no-any-return]


class Postprocess:
    """A CPU step applied to every 2xx body held in memory, where the attempt was made (a driver
    thread, a worker process, a worker interpreter): the engines' ``postprocess="module:function"``
    option. The function takes the body's bytes and returns the bytes the response carries instead
    (hashing, parsing, decompressing); an exception it raises is raised from ``map``.

    Built from the name alone, so that a worker can load it itself (an import error is raised as
    is there); an engine's constructor uses :meth:`checked`.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._function: Callable[[bytes], object] = load_callable(name)

    @classmethod
    def checked(cls, name: str | None) -> Postprocess | None:
        """``None`` for no step; :class:`~awspar.ConfigurationError` for a name that does not load."""
        if name is None:
            return None
        try:
            return cls(name)
        except (ValueError, TypeError, ImportError, AttributeError) as exc:
            raise ConfigurationError(f"postprocess {name!r} cannot be used: {exc}") from None

    def apply(self, outcome: Outcome) -> Outcome:
        """Replace a 2xx in-memory body by what the step returns (other outcomes pass through)."""
        if outcome.error is None and outcome.path is None and 200 <= outcome.status < 300:
            result = self._function(outcome.body)
            if not isinstance(result, (bytes, bytearray, memoryview)):
                raise TypeError(f"postprocess {self.name} returned {type(result).__name__}, not bytes")
            outcome.body = bytes(result)
        return outcome


def error_code(status: int, headers: Mapping[str, str], body: bytes) -> str | None:
    """The AWS error code of an error response, cheaply: JSON/XML body or ``x-amzn-ErrorType``."""
    if status < 400:
        return None
    for name, value in headers.items():
        if name.lower() == "x-amzn-errortype":
            return value.split(":", 1)[0]
    if len(body) > _MAX_ERROR_BODY:
        return None
    match = _XML_CODE.search(body) or _JSON_CODE.search(body)
    if match is None:
        return None
    return match.group(1).decode("utf-8", "replace").rpartition("#")[2]


def empty_by_range(status: int, headers: Mapping[str, str]) -> bool:
    """True for a 206 whose ``Content-Range`` says the object is empty (``bytes */0``, or any total
    of 0): some S3-compatible servers answer a range of an empty object so, with a Content-Length
    the body never fills. The total is trusted: there is no body to wait for (a driver closes the
    connection instead of reading it, and the response is empty)."""
    if status != 206:
        return False
    for name, value in headers.items():
        if name.lower() == "content-range":
            return value.strip().rpartition("/")[2].strip() == "0"
    return False


def is_throttling(status: int, headers: Mapping[str, str], body: bytes) -> bool:
    """True when an answer asks for time: 429, 503 (S3's ``SlowDown``, with no body on a HEAD) or
    a throttling error code in the body or ``x-amzn-ErrorType``."""
    return status in (429, 503) or error_code(status, headers, body) in THROTTLING_CODES


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The wait an answer asks for, in seconds: ``x-amz-retry-after`` (milliseconds) or
    ``Retry-After`` (seconds, or an HTTP date); ``None`` when it gives none that parses."""
    for name, value in headers.items():
        lowered = name.lower()
        try:
            if lowered == "x-amz-retry-after":
                return max(0.0, float(value) / 1000.0)
            if lowered == "retry-after":
                return max(0.0, float(value))
        except ValueError:
            if lowered == "retry-after":
                from email.utils import parsedate_to_datetime

                try:
                    return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
                except (TypeError, ValueError):
                    return None
    return None


class HedgeTracker:
    """When to send a duplicate: a fixed delay, or a percentile of the latencies seen in this run.

    Thread-safe; one per run. Latencies are those of successful first answers; the percentile
    uses the last 1,000 and needs :data:`HEDGE_MIN_SAMPLES` before a percentile hedge fires (an
    attempt already running then is hedged at once if it is slower than the percentile).
    """

    def __init__(self, hedge_after: float | str) -> None:
        self._fixed = None if isinstance(hedge_after, str) else float(hedge_after)
        self._pct = float(hedge_after.lower().removeprefix("p")) if isinstance(hedge_after, str) else 0.0
        self._latencies: list[float] = []
        self._next = 0
        self._cached: float | None = None
        self._lock = threading.Lock()

    def delay(self) -> float | None:
        """Seconds after which to hedge the next attempt, or ``None`` (not yet known)."""
        if self._fixed is not None:
            return self._fixed
        with self._lock:
            if self._cached is None and len(self._latencies) >= HEDGE_MIN_SAMPLES:
                ordered = sorted(self._latencies)
                self._cached = ordered[min(len(ordered) - 1, int(len(ordered) * self._pct / 100))]
            return self._cached

    def observe(self, latency: float) -> None:
        """Record the latency of a successful answer."""
        if self._fixed is not None:
            return
        with self._lock:
            if len(self._latencies) < _HEDGE_WINDOW:
                self._latencies.append(latency)
            else:
                self._latencies[self._next] = latency
                self._next = (self._next + 1) % _HEDGE_WINDOW
            self._cached = None


@dataclass(frozen=True)
class RunPolicy:
    """What one run (one ``map``/``race`` call) applies to each of its requests."""

    config: EngineConfig
    resign: Resign | None = None
    hedge: HedgeTracker | None = None
    #: False for engines that sign every request themselves (the boto3 baseline).
    check_stale: bool = True
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def for_run(cls, config: EngineConfig, resign: Resign | None, *, check_stale: bool = True,
                hedging: bool = True) -> RunPolicy:
        hedge = HedgeTracker(config.hedge_after) if hedging and config.hedge_after is not None else None
        return cls(config, resign, hedge, check_stale)

    @property
    def retry(self) -> RetryPolicy:
        return self.config.retry


class RequestRun:
    """The life of one request: its attempts, their spans, and the decision after each one."""

    __slots__ = ("attempt", "began", "done", "index", "inflight", "policy", "request", "sink", "spans",
                 "transient")

    def __init__(self, index: int, job: Job, policy: RunPolicy) -> None:
        self.request, self.sink = split_job(job)
        self.index = index
        self.policy = policy
        self.spans: list[Span] = []
        self.attempt = 0
        #: When the first attempt was prepared (``perf_counter``): the retry budget runs from here.
        self.began = 0.0
        #: Attempts that failed for another reason than throttling.
        self.transient = 0
        #: Attempts in flight: ``(perf_counter start, cancel callback)``, for cancelling the run.
        self.inflight: list[tuple[float, Callable[[], object]]] = []
        self.done = False

    def track(self, cancel: Callable[[], object]) -> tuple[float, Callable[[], object]]:
        """Note an attempt in flight (until :meth:`untrack`) so that :meth:`cancelled` can stop it."""
        entry = (time.perf_counter(), cancel)
        self.inflight.append(entry)
        return entry

    def untrack(self, entry: tuple[float, Callable[[], object]]) -> None:
        try:
            self.inflight.remove(entry)
        except ValueError:
            pass

    def prepare(self) -> SignedRequest | RawResponse:
        """The request to send for the next attempt, re-signed if its signature would be stale."""
        self.attempt += 1
        if self.attempt == 1:
            self.began = time.perf_counter()
        request = self.request
        margin = self.policy.config.resign_margin
        if self.policy.check_stale and request.is_stale(time.time(), margin):
            if self.policy.resign is None:
                return self._final(error=ConfigurationError(
                    f"request {self.index} ({request.operation or request.method}) has a signature that "
                    f"expires within resign_margin={margin:g}s and no resign callback was given: pass "
                    "resign=signer.resign to the engine or to the call, or sign closer to sending",
                    attempts=self.attempt - 1,
                ))
            try:
                request = self.policy.resign(request)
            except Exception as exc:  # the callback's own failure, e.g. expired credentials
                return self._final(error=ConfigurationError(
                    f"re-signing request {self.index} failed: {type(exc).__name__}: {exc}",
                    attempts=self.attempt - 1,
                ))
            if request.is_stale(time.time(), margin):
                return self._final(error=ConfigurationError(
                    f"the resign callback returned a request for {request.operation or request.method} that "
                    f"is still stale (expires within {margin:g}s)",
                    attempts=self.attempt - 1,
                ))
            self.request = request
        return request

    @property
    def hedged(self) -> bool:
        """Whether this run's attempts may get a duplicate."""
        return self.policy.hedge is not None

    def hedge_due_in(self, started: float) -> float | None:
        """Seconds from now until the attempt that began at ``started`` gets a duplicate (0 when
        overdue), or ``None`` while a percentile hedge is still warming up: the driver waits
        :data:`HEDGE_WARMUP_POLL` and asks again, so an attempt that began before enough
        latencies were seen is hedged as soon as the percentile is known and it is slower."""
        delay = self.policy.hedge.delay() if self.policy.hedge is not None else None
        return None if delay is None else max(0.0, started + delay - time.perf_counter())

    def record(self, outcomes: list[Outcome], won: int = 0) -> float | RawResponse:
        """Take one attempt's outcomes, in start order (the primary, then a hedge if one was sent);
        ``won`` is the position of the one that answered first, the others were cancelled.

        Returns the backoff delay before the next attempt, or the final :class:`RawResponse`.
        """
        winner = outcomes[won]
        delay = self._backoff(winner)
        retry = delay is not None
        if retry:
            label = "retry"
        elif winner.error is not None or self.policy.retry.should_retry_status(winner.status):
            label = "error"
        else:
            label = "hedge" if won > 0 else "ok"
        for position, outcome in enumerate(outcomes):
            self.spans.append(Span(
                outcome.start, outcome.end, outcome.first_byte, self.attempt,
                label if position == won else "cancelled", outcome.status or None,
            ))
        if delay is not None:
            return delay
        if self.policy.hedge is not None and winner.error is None and 200 <= winner.status < 300:
            self.policy.hedge.observe(winner.end - winner.start)
        return self._final(outcome=winner)

    def cancelled(self, now: float | None = None) -> RawResponse:
        """Cancel the attempts in flight and return this request's record as of now (a race loser)."""
        now = time.perf_counter() if now is None else now
        spans = list(self.spans)
        for start, cancel in list(self.inflight):
            cancel()
            spans.append(Span(start, now, None, self.attempt, "cancelled"))
        self.done = True
        return RawResponse(self.index, spans=tuple(spans), error=cancelled_error(len(spans)), request=self.request)

    def _backoff(self, outcome: Outcome) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` when this outcome is final: a
        success, a failure not worth retrying, or a retry past the policy's count or time budget."""
        retry = self.policy.retry
        if self.attempt >= retry.max_attempts:
            return None
        throttled = False
        if outcome.error is not None:  # a cancelled attempt was stopped on purpose
            if not isinstance(outcome.error, TransportError) or isinstance(outcome.error, CancelledError):
                return None
        else:
            throttled = is_throttling(outcome.status, outcome.headers, outcome.body)
            if not throttled and not retry.should_retry_status(outcome.status):
                return None
        if not throttled:
            self.transient += 1
            if self.transient >= retry.max_transient_attempts:
                return None
        delay = retry.delay(self.attempt, self.policy.rng, throttled=throttled,
                            retry_after=retry_after(outcome.headers) if outcome.error is None else None)
        if time.perf_counter() + delay - self.began > retry.max_elapsed:
            return None
        return delay

    def _final(self, outcome: Outcome | None = None, error: AwsparError | None = None) -> RawResponse:
        self.done = True
        spans = tuple(self.spans)
        if outcome is None:
            return RawResponse(self.index, spans=spans, error=error, request=self.request)
        error = outcome.error
        if error is not None and len(spans) > 1:
            error = type(error)(f"{error.message} (after {len(spans)} attempts)", **{**error._fields, "attempts": len(spans)})
        elif error is not None:
            error = type(error)(error.message, **{**error._fields, "attempts": 1})
        return RawResponse(
            self.index, outcome.status, outcome.headers, outcome.body, spans, error, outcome.path, self.request
        )


class RunWindow:
    """The read-ahead and the order of one run, without I/O: what a driver loop asks before it
    takes the next job (:meth:`has_room`) and after a request ends (:meth:`finished`, then
    :meth:`pop_ready` for what may be handed out now). At most ``window`` jobs are taken ahead of
    the results handed out, and at most ``in_flight`` run at once; ``ordered`` hands results out
    in input order, else as they finish. ``pending`` maps each running job's index to the
    driver's handle on it (a future, a task), for cancelling what is left.
    """

    __slots__ = ("_in_flight", "_next_out", "_ordered", "_ready", "_window", "pending")

    def __init__(self, *, ordered: bool, window: int, in_flight: int | None = None) -> None:
        self._ordered = ordered
        self._window = window
        self._in_flight = window if in_flight is None else in_flight
        self.pending: dict[int, Any] = {}
        self._ready: dict[int, RawResponse] = {}
        self._next_out = 0

    def has_room(self) -> bool:
        """True when the next job may be taken."""
        pending = len(self.pending)
        return pending < self._in_flight and pending + len(self._ready) < self._window

    def started(self, index: int, handle: Any) -> None:
        self.pending[index] = handle

    def finished(self, response: RawResponse) -> None:
        del self.pending[response.index]
        self._ready[response.index] = response

    def pop_ready(self) -> RawResponse | None:
        """The next result that may be handed out now, or ``None``."""
        if not self._ordered:
            return self._ready.popitem()[1] if self._ready else None
        response = self._ready.pop(self._next_out, None)
        if response is not None:
            self._next_out += 1
        return response


def describe_failure(method: str, url: str, what: str, exc: BaseException) -> str:
    """A one-line error message with no secret in it (the URL's signature is redacted)."""
    detail = str(exc) or type(exc).__name__
    return redact_url(f"{method} {url}: {what}: {detail}")
