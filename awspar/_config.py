"""Every concurrency knob in one immutable, documented place (standard library only).

Engines, front-ends and the CLI all take an :class:`EngineConfig`; change one with
``dataclasses.replace(config, concurrency=64)`` or :meth:`EngineConfig.with_`.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from awspar._errors import ConfigurationError

__all__ = ["RetryPolicy", "EngineConfig", "DEFAULT_CONFIG", "RETRYABLE_STATUSES"]

#: HTTP statuses that are retried (throttling and transient server errors).
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a request again and how long to wait first: full-jitter exponential backoff
    as botocore's standard mode does it, with a budget in time.

    - A **throttling** answer (429, 503, or a throttling code such as ``SlowDown``,
      ``ThrottlingException``, ``ProvisionedThroughputExceededException``, ``RequestLimitExceeded``:
      :data:`~awspar._errors.THROTTLING_CODES`) is the service asking for time: it is retried
      until the request has run ``max_elapsed`` seconds (default 120) or made ``max_attempts``
      attempts (default 20, the first included), waiting uniform in
      ``[0, min(max_delay, throttle_base_delay * 2 ** (n - 1))]`` after attempt ``n`` (1 s base,
      20 s cap by default), and at least what the answer's ``Retry-After`` (seconds or a date) or
      ``x-amz-retry-after`` (milliseconds) asks for. A wait that would end past ``max_elapsed``
      is not taken: the last answer is the result.
    - Any other retryable failure (connection errors, timeouts, short bodies, 500/502/504) is
      retried at most ``max_transient_attempts`` attempts in all (default 4), from a small
      ``base_delay`` (50 ms), so that a dead endpoint is reported in well under a second.

    ``max_attempts=1`` never retries. ``throttle_base_delay=None`` means ``20 * base_delay`` (1 s
    with the defaults), so that a test scales the whole policy down with ``base_delay`` alone.
    """

    max_attempts: int = 20
    base_delay: float = 0.05
    max_delay: float = 20.0
    retry_statuses: frozenset[int] = RETRYABLE_STATUSES
    max_elapsed: float = 120.0
    max_transient_attempts: int = 4
    throttle_base_delay: float | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.max_transient_attempts < 1:
            raise ConfigurationError("max_attempts and max_transient_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or (self.throttle_base_delay or 0) < 0:
            raise ConfigurationError("retry delays must not be negative")
        if self.max_elapsed <= 0:
            raise ConfigurationError("max_elapsed must be positive")

    @property
    def throttle_base(self) -> float:
        """The backoff base after a throttling answer (seconds)."""
        return 20 * self.base_delay if self.throttle_base_delay is None else self.throttle_base_delay

    def delay(self, attempt: int, rng: random.Random | None = None, *, throttled: bool = False,
              retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): full jitter from the
        throttling or the ordinary base, and never less than ``retry_after`` when the server gave one."""
        base = self.throttle_base if throttled else self.base_delay
        cap = min(self.max_delay, base * (2 ** min(attempt - 1, 62)))
        wait = (rng or random).uniform(0.0, cap)
        return wait if retry_after is None else max(wait, retry_after)

    def should_retry_status(self, status: int) -> bool:
        """True when an HTTP status is worth another attempt."""
        return status in self.retry_statuses


NO_RETRY = RetryPolicy(max_attempts=1)


@dataclass(frozen=True)
class EngineConfig:
    """The knobs every engine shares.

    - ``concurrency``: requests in flight at most, enforced the same way by every engine
      (default 32); ``"auto"`` learns it from the service instead, per throttling scope (S3
      bucket, Bedrock model, else host): it grows while answers succeed and shrinks on
      throttling answers (503 SlowDown, 429, ThrottlingException...), up to
      ``max_concurrency`` (see :mod:`awspar.engines._limiter`).
    - ``max_concurrency``: the ceiling of ``"auto"`` (default 256), and the size of the
      engines' pools then; :attr:`max_in_flight` is the bound either way.
    - ``connect_timeout`` / ``read_timeout``: seconds (defaults 10 and 120; botocore's 60 s read
      timeout is too short for long model generations).
    - ``retry``: a :class:`RetryPolicy` (throttling is retried for up to 120 s, other failures
      4 attempts in all).
    - ``hedge_after``: opt-in hedging. ``None`` (default) never hedges; a float sends a duplicate
      of a request that has run longer than that many seconds; a string ``"p95"`` (any
      percentile) hedges after that percentile of the latencies seen so far in the run (once
      ten are known; a request already running then is hedged as soon as it is slower). The
      sequential engine refuses it: it never has a second request in flight.
    - ``resign_margin``: a request whose signature expires within this many seconds is re-signed
      before it is sent (default 30).
    - ``workers``: worker count for the process and subinterpreter engines
      (``None``: the number of CPUs).
    """

    concurrency: int | str = 32
    max_concurrency: int = 256
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    retry: RetryPolicy = RetryPolicy()
    hedge_after: float | str | None = None
    resign_margin: float = 30.0
    workers: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.concurrency, str):
            if self.concurrency != "auto":
                raise ConfigurationError(f"concurrency must be a number or 'auto', not {self.concurrency!r}")
        elif self.concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        if self.max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be at least 1")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ConfigurationError("timeouts must be positive")
        if isinstance(self.hedge_after, str):
            pct = self.hedge_after.lower().removeprefix("p")
            if not pct.replace(".", "", 1).isdigit() or not 0 < float(pct) < 100:
                raise ConfigurationError(f"hedge_after must be seconds or a percentile like 'p95', not {self.hedge_after!r}")
        if self.workers is not None and self.workers < 1:
            raise ConfigurationError("workers must be at least 1")

    @property
    def adaptive(self) -> bool:
        """True for ``concurrency="auto"``."""
        return self.concurrency == "auto"

    @property
    def max_in_flight(self) -> int:
        """Requests in flight at most: ``concurrency``, or ``max_concurrency`` for ``"auto"``
        (what the engines size their pools by)."""
        return self.max_concurrency if isinstance(self.concurrency, str) else self.concurrency

    def with_(self, **changes: object) -> "EngineConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


DEFAULT_CONFIG = EngineConfig()
