"""Adaptive concurrency (``EngineConfig(concurrency="auto")``): how many requests may be in flight
to one throttling scope, learned from what the service answers. No I/O.

The rule is TCP's congestion window (loss-based AIMD, as Netflix's ``AIMDLimit``), with the
service's throttling answer as the loss signal:

- **slow start**: until the first throttle, each success adds 1 (the limit doubles every round
  trip), from :data:`INITIAL_LIMIT`;
- **additive increase**: after it, each success adds ``1 / limit`` (about +1 per round trip),
  and only while the limit is in use (at least half of it in flight: a client that cannot fill
  its limit learns nothing about the service); back at the limit that was last throttled, a
  third of that for a few windows (CUBIC's plateau: probe gently where the service said no),
  and twice as much after every 4 windows with no throttle, up to 16 per window (CUBIC's convex
  growth far from the last throttle: a capacity that doubles is found in tens of round trips);
- **multiplicative decrease**: the first throttle halves the limit (slow start overshoots by
  up to twice the capacity); after it, a throttling answer (:func:`is_throttle`: 429, 503, or a
  throttling error code such as ``SlowDown``, ``ThrottlingException``,
  ``ProvisionedThroughputExceededException``, ``RequestLimitExceeded``,
  ``TooManyRequestsException``) multiplies the limit by :data:`BACKOFF` (and takes at least 1
  off it) **once per window**:
  the throttles of requests admitted before that cut are the same congestion event and do not
  cut again, and their successes do not grow it (TCP NewReno's recovery point);
- bounded by the configured maximum, never below 1. A throttled request gives its permit back
  while it backs off and takes one again for its retry, so it counts once at any time.

Why loss-based and not a latency gradient (Netflix's Gradient2 / Vegas): S3's and Bedrock's
limits are request-rate or concurrency quotas that answer *at once* with a 503/429, so latency
does not rise before the limit: a gradient limiter sees no signal and grows to the maximum.
Cutting once per window rather than once per throttle (Netflix's AIMD) and the backoff of 0.9
were chosen on the scripted service (:mod:`awspar.testing.scripted`, 1,500/s then 3,000/s at
20-50 ms): per window keeps 100 % of the capacity at 0.9 (91-100 % at 0.5), per throttle 61-93 %;
``benchmarks/bench_adaptive.py`` measures it against a local endpoint with a capacity model.

Scopes (:func:`scope_of`): one limit per thing the service throttles by, shared by every request
of an engine's runs: S3 per **bucket** (S3 throttles per partitioned prefix, but where its
partitions begin is not visible to a client: a guess such as the key's first path segment would
give one real partition several limits, each free to grow to its whole capacity, while a
per-bucket limit can only under-use a bucket whose load S3 has split across partitions);
Bedrock per **model id**; anything else per host.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from awspar._errors import THROTTLING_CODES, ConfigurationError
from awspar._models import RawResponse, SignedRequest
from awspar.engines._attempts import Outcome, error_code

__all__ = [
    "BACKOFF", "INITIAL_LIMIT", "AdaptiveLimit", "Admitted", "Permit", "ScopedLimits", "answer_of", "answer_of_response",
    "is_throttle",
    "scope_of",
]

#: Where a limit starts (slow start doubles it from here every round trip).
INITIAL_LIMIT = 8
#: What a throttling answer multiplies the limit by (once per window).
BACKOFF = 0.9
#: Statuses that mean "slow down" whatever the body says (S3's SlowDown is a 503).
THROTTLING_STATUSES = frozenset({429, 503})
#: After a cut, growth past the limit that was throttled is this many times slower ...
CAREFUL_SLOWDOWN = 3
#: ... for this many windows (of the old limit's size) of answers.
CAREFUL_WINDOWS = 8
#: Past the careful windows, growth doubles after each this many windows with no throttle ...
ACCELERATE_WINDOWS = 4
#: ... up to 2 ** this per window (a capacity that doubled is found in tens of round trips, not
#: hundreds).
MAX_SPEEDUP_DOUBLINGS = 4
#: The history keeps one sample per this many seconds, at most :data:`HISTORY_SAMPLES` of them.
HISTORY_INTERVAL = 0.5
HISTORY_SAMPLES = 240
#: How often a driver waiting for room checks whether its run was stopped (seconds).
ADMIT_POLL = 0.05
_MODEL_PATH = re.compile(r"^/model/([^/]+)/")


def is_throttle(status: int, headers: Mapping[str, str], body: bytes) -> bool:
    """True for the service's "slow down" answer: 429, 503, or a throttling error code."""
    if status in THROTTLING_STATUSES:
        return True
    return status >= 400 and error_code(status, headers, body) in THROTTLING_CODES


def answer_of(outcome: Outcome | None) -> str:
    """What an attempt tells the limit: ``"throttled"``, ``"ok"`` (any other answer), or
    ``"ignore"`` (no answer: a transport error, a cancelled attempt, or none at all)."""
    if outcome is None or outcome.error is not None or not outcome.status:
        return "ignore"
    return "throttled" if is_throttle(outcome.status, outcome.headers, outcome.body) else "ok"


def answer_of_response(response: RawResponse) -> str:
    """What a request's whole life tells the limit, from its record alone (the Dask engine learns
    of a request only when its batch comes back): ``"throttled"`` if any attempt was, ``"ok"``
    for any other answer, ``"ignore"`` for none."""
    if any(span.status in THROTTLING_STATUSES for span in response.spans):
        return "throttled"
    if not response.status:
        return "ignore"
    return "throttled" if is_throttle(response.status, response.headers, response.body) else "ok"


def scope_of(request: SignedRequest) -> str:
    """The throttling scope of ``request`` (see the module docstring): ``"s3 host/bucket"``,
    ``"bedrock-runtime host/model"``, or the host."""
    parts = urlsplit(request.url)
    service = request.service
    params = request.params or {}
    if service == "s3":
        bucket = params.get("Bucket") or unquote(parts.path[1:].partition("/")[0])
        return f"s3 {parts.netloc}/{bucket}"
    if service == "bedrock-runtime":
        model = params.get("modelId")
        if model is None:
            match = _MODEL_PATH.match(parts.path)
            model = unquote(match.group(1)) if match else ""
        return f"bedrock-runtime {parts.netloc}/{model}"
    return parts.netloc


@dataclass(frozen=True, slots=True)
class Permit:
    """One request's place under a limit: give it back with :meth:`AdaptiveLimit.release`."""

    seq: int


class AdaptiveLimit:
    """The limit of one scope and the requests in flight under it; thread-safe.

    :meth:`acquire` (blocking) or :meth:`aacquire` (on an event loop) waits until fewer than
    ``limit`` requests are in flight; :meth:`release` gives the permit back with what the
    service answered: ``"ok"``, ``"throttled"``, or ``"ignore"`` (no answer: a transport error,
    a cancelled attempt).
    """

    def __init__(self, maximum: int, *, initial: int = INITIAL_LIMIT, backoff: float = BACKOFF,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if maximum < 1:
            raise ConfigurationError("the maximum concurrency must be at least 1")
        if not 0.0 < backoff < 1.0:
            raise ConfigurationError("backoff must be between 0 and 1")
        self.maximum = maximum
        self.backoff = backoff
        self._limit = float(min(maximum, max(1, initial)))
        self._slow_start = True
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0
        self._next_seq = 0
        self._recover = 0  # permits numbered below this belong to a window already cut
        self._last_max = 0.0  # the limit when the last throttle came
        self._careful_until = 0  # answers until which growth past _last_max is gentle
        self._waiters: collections.deque[Callable[[], None]] = collections.deque()
        self.answered = 0
        self.throttled = 0
        self.peak_in_flight = 0
        self._history: collections.deque[tuple[float, int, float]] = collections.deque(maxlen=HISTORY_SAMPLES)
        self._sample_at = clock()
        self._sample_counts = (0, 0)

    @property
    def limit(self) -> int:
        """Requests that may be in flight now."""
        return max(1, int(self._limit))

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def try_acquire(self) -> Permit | None:
        """A permit if there is room now, else ``None``."""
        with self._lock:
            return self._take()

    def acquire(self, timeout: float | None = None) -> Permit | None:
        """Wait for a permit (``None`` after ``timeout`` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            woken = threading.Event()
            with self._lock:
                permit = self._take()
                if permit is not None:
                    return permit
                self._waiters.append(woken.set)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not woken.wait(remaining):
                with self._lock:
                    try:
                        self._waiters.remove(woken.set)
                    except ValueError:  # woken meanwhile: pass the room on
                        self._wake()
                return None

    async def aacquire(self) -> Permit:
        """Wait for a permit on the running event loop."""
        import asyncio

        loop = asyncio.get_running_loop()
        while True:
            future: asyncio.Future[None] = loop.create_future()

            def wake(future: asyncio.Future[None] = future) -> None:
                loop.call_soon_threadsafe(lambda: future.done() or future.set_result(None))

            with self._lock:
                permit = self._take()
                if permit is not None:
                    return permit
                self._waiters.append(wake)
            try:
                await future
            except asyncio.CancelledError:
                with self._lock:
                    try:
                        self._waiters.remove(wake)
                    except ValueError:  # woken, then cancelled: pass the room on
                        self._wake()
                raise

    def release(self, permit: Permit, answer: str) -> None:
        """Give ``permit`` back; ``answer`` is ``"ok"``, ``"throttled"`` or ``"ignore"``."""
        with self._lock:
            in_flight = self._in_flight
            self._in_flight -= 1
            if answer == "throttled":
                self.answered += 1
                self.throttled += 1
                if permit.seq >= self._recover:  # the first throttle of this window
                    # slow start overshoots by up to twice the capacity: halve once, as TCP does
                    factor = 0.5 if self._slow_start else self.backoff
                    self._last_max = self._limit
                    self._limit = max(1.0, min(self._limit - 1.0, self._limit * factor))
                    self._slow_start = False
                    self._recover = self._next_seq
                    self._careful_until = self.answered + CAREFUL_WINDOWS * self._last_max
            elif answer == "ok":
                self.answered += 1
                # no growth from the rest of a window already cut (TCP's fast recovery)
                if permit.seq >= self._recover and in_flight * 2 >= self._limit:
                    self._limit = min(float(self.maximum), self._limit + self._step())
            self._sample()
            self._wake()

    def history(self) -> list[tuple[float, int, float]]:
        """Samples ``(clock time, limit, throttled share since the previous sample)``, oldest
        first: one per :data:`HISTORY_INTERVAL` at most, the last :data:`HISTORY_SAMPLES`."""
        with self._lock:
            return list(self._history)

    def __repr__(self) -> str:
        return (f"AdaptiveLimit(limit={self.limit}, in_flight={self._in_flight}, maximum={self.maximum}, "
                f"throttled={self.throttled}/{self.answered})")

    # -- under the lock -----------------------------------------------------------------------------
    def _step(self) -> float:
        """What one success adds: 1 in slow start; 1/limit after it (one per window), and a third
        of that while the limit is back at the last one throttled, for a few windows after the
        cut (the service said "no" there moments ago: probe it gently, as CUBIC's plateau does)."""
        if self._slow_start:
            return 1.0
        if self._limit >= self._last_max - 1e-9 and self.answered < self._careful_until:
            return 1.0 / (CAREFUL_SLOWDOWN * self._limit)
        # far from any throttle, growth speeds up: twice per ACCELERATE_WINDOWS quiet windows
        quiet_windows = (self.answered - self._careful_until) / self._limit
        return 2.0 ** min(MAX_SPEEDUP_DOUBLINGS, max(0, int(quiet_windows / ACCELERATE_WINDOWS))) / self._limit

    def _take(self) -> Permit | None:
        if self._in_flight >= self.limit:
            return None
        self._in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        self._next_seq += 1
        return Permit(self._next_seq - 1)

    def _wake(self) -> None:
        for _ in range(min(len(self._waiters), self.limit - self._in_flight)):
            self._waiters.popleft()()

    def _sample(self) -> None:
        now = self._clock()
        if now - self._sample_at < HISTORY_INTERVAL:
            return
        answered, throttled = self.answered - self._sample_counts[0], self.throttled - self._sample_counts[1]
        self._history.append((now, self.limit, throttled / answered if answered else 0.0))
        self._sample_at, self._sample_counts = now, (self.answered, self.throttled)


@dataclass(frozen=True, slots=True)
class Admitted:
    """A request admitted under its scope's limit: :meth:`done` gives the place back with the
    attempt's outcome."""

    limit: AdaptiveLimit
    permit: Permit

    def done(self, outcome: Outcome | None) -> None:
        self.done_with(answer_of(outcome))

    def done_with(self, answer: str) -> None:
        """Give the place back with ``answer`` (``"ok"``, ``"throttled"``, ``"ignore"``)."""
        self.limit.release(self.permit, answer)


class ScopedLimits:
    """One :class:`AdaptiveLimit` per throttling scope (:func:`scope_of`), made on first use."""

    def __init__(self, maximum: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum = maximum
        self._clock = clock
        self._limits: dict[str, AdaptiveLimit] = {}
        self._lock = threading.Lock()

    def for_request(self, request: SignedRequest) -> AdaptiveLimit:
        scope = scope_of(request)
        limit = self._limits.get(scope)
        if limit is None:
            with self._lock:
                limit = self._limits.setdefault(scope, AdaptiveLimit(self.maximum, clock=self._clock))
        return limit

    def admit(self, request: SignedRequest, stopped: Callable[[], bool]) -> Admitted | None:
        """Wait until ``request``'s scope has room (``None`` if ``stopped()`` turns true first)."""
        limit = self.for_request(request)
        while True:
            permit = limit.acquire(timeout=ADMIT_POLL)
            if permit is not None:
                return Admitted(limit, permit)
            if stopped():
                return None

    async def aadmit(self, request: SignedRequest) -> Admitted:
        """Wait on the running event loop until ``request``'s scope has room."""
        limit = self.for_request(request)
        return Admitted(limit, await limit.aacquire())

    def try_admit(self, request: SignedRequest) -> Admitted | None:
        """Room for ``request`` now (a hedge goes out only then), else ``None``."""
        limit = self.for_request(request)
        permit = limit.try_acquire()
        return None if permit is None else Admitted(limit, permit)

    def scopes(self) -> dict[str, AdaptiveLimit]:
        """Every scope seen so far and its limit."""
        with self._lock:
            return dict(self._limits)
