"""Latency, faults and quotas for the local endpoints: plain settings, reproducible from a seed.

An :class:`EndpointBehaviour` is what one endpoint does on top of answering correctly:

- ``latency``: time to first byte (for Bedrock, time to first token), fixed or log-normal;
- ``body_rate``: bytes per second once the body starts (``None``: as fast as the socket goes);
- ``tokens_per_s``: the pace of Bedrock's streamed tokens;
- ``faults``: the probability of each fault per request (:class:`FaultRates`);
- ``quota``: Bedrock-style throttling past K concurrent calls or R calls a minute (:class:`Quota`);
- ``capacity``: what each scope (S3 prefix, Bedrock model) serves before the service's own
  throttling answer (:class:`~awspar.testing.capacity.Capacity`: N requests/s or N in flight);
- ``seed``: makes every draw reproducible.

A request's fate depends only on the seed, the request (method and path) and how many times that
same request has been seen before, never on the order in which concurrent requests arrive: with
the same seed, the first GET of ``obj-000042`` always gets the same fault (or none) and the same
latency, and its retry draws again. :class:`FaultPlanner` applies that rule; :class:`QuotaGate`
keeps the quota's state.

CLI strings parse into these settings (``awspar local`` uses them)::

    parse_faults("slowdown=0.05,reset=0.01,truncate=0.01,stall=0.01,stall_s=3")
    parse_latency(50)                       # fixed 50 ms
    parse_latency(None, "lognormal:50,0.5")  # median 50 ms, sigma 0.5
    parse_quota("concurrent=3,per_minute=60")
"""

from __future__ import annotations

import collections
import dataclasses
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from awspar.testing.capacity import Capacity

__all__ = [
    "FAULT_KINDS",
    "Decision",
    "EndpointBehaviour",
    "FaultPlanner",
    "FaultRates",
    "Latency",
    "Quota",
    "QuotaGate",
    "parse_faults",
    "parse_latency",
    "parse_quota",
]

# What each fault does, by field name of FaultRates (the order is the order of the draw).
FAULT_KINDS: dict[str, str] = {
    "slowdown": "503 SlowDown (Bedrock: 503 ServiceUnavailableException)",
    "internal": "500 InternalError (Bedrock: 500 InternalServerException)",
    "throttle": "429 ThrottlingException",
    "reset": "the connection is reset before any response",
    "truncate": "Content-Length promises the whole body, half is sent, then the connection closes",
    "stall": "the response waits stall_s seconds before its first byte",
    "invalid_json": "Bedrock only: the model's answer text is not valid JSON",
}


@dataclass(frozen=True)
class Latency:
    """Time to first byte: ``median_ms`` fixed when ``sigma`` is 0, else log-normal around it."""

    median_ms: float = 0.0
    sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.median_ms < 0 or self.sigma < 0:
            raise ValueError("latency median and sigma must be >= 0")

    def sample(self, rng: random.Random) -> float:
        """One draw, in seconds."""
        if self.median_ms <= 0:
            return 0.0
        if self.sigma == 0:
            return self.median_ms / 1000.0
        return rng.lognormvariate(math.log(self.median_ms / 1000.0), self.sigma)


@dataclass(frozen=True)
class FaultRates:
    """The probability (0..1) of each fault per request; at most one fault hits a request."""

    slowdown: float = 0.0
    internal: float = 0.0
    throttle: float = 0.0
    reset: float = 0.0
    truncate: float = 0.0
    stall: float = 0.0
    invalid_json: float = 0.0
    stall_s: float = 5.0  # how long a stall lasts

    def __post_init__(self) -> None:
        rates = self.rates()
        for name, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault rate {name}={rate} is not between 0 and 1")
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError("fault rates add up to more than 1")
        if self.stall_s < 0:
            raise ValueError("stall_s must be >= 0")

    def rates(self) -> dict[str, float]:
        """``{fault kind: rate}`` in draw order."""
        return {name: getattr(self, name) for name in FAULT_KINDS}

    def any(self) -> bool:
        return any(self.rates().values())

    def pick(self, u: float) -> str | None:
        """The fault that a uniform draw ``u`` in [0, 1) lands on, or ``None``."""
        edge = 0.0
        for name, rate in self.rates().items():
            edge += rate
            if u < edge:
                return name
        return None


@dataclass(frozen=True)
class Quota:
    """Throttle (429) past ``max_concurrent`` calls in flight or ``per_minute`` calls a minute."""

    max_concurrent: int | None = None
    per_minute: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_concurrent", "per_minute"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"quota {name} must be >= 1")


@dataclass(frozen=True)
class EndpointBehaviour:
    """Everything an endpoint does besides answering correctly; the default does nothing extra."""

    latency: Latency = field(default_factory=Latency)
    body_rate: float | None = None
    tokens_per_s: float | None = None
    faults: FaultRates = field(default_factory=FaultRates)
    quota: Quota | None = None
    capacity: Capacity | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("body_rate", "tokens_per_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0")

    @property
    def quiet(self) -> bool:
        """True when no latency, pacing or fault is configured (the fast path)."""
        return (self.latency.median_ms <= 0 and self.body_rate is None and self.tokens_per_s is None
                and not self.faults.any())

    def replace(self, **changes: object) -> EndpointBehaviour:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Decision:
    """The fate of one request: a fault kind (or ``None``) and the delay before its first byte."""

    fault: str | None = None
    delay_s: float = 0.0


_NOTHING = Decision()


class FaultPlanner:
    """Draws each request's :class:`Decision` from (seed, request, how many times it was seen)."""

    def __init__(self, behaviour: EndpointBehaviour) -> None:
        self.behaviour = behaviour
        self._active = behaviour.latency.median_ms > 0 or behaviour.faults.any()
        self._seen: collections.Counter[str] = collections.Counter()

    def decide(self, request_key: str) -> Decision:
        """The decision for the next occurrence of ``request_key`` (e.g. ``"GET /bucket/key"``)."""
        behaviour = self.behaviour
        if not self._active:
            return _NOTHING
        occurrence = self._seen[request_key]
        self._seen[request_key] = occurrence + 1
        rng = random.Random(f"{behaviour.seed}|{request_key}|{occurrence}")
        fault = behaviour.faults.pick(rng.random())
        return Decision(fault, behaviour.latency.sample(rng))


class QuotaGate:
    """The state of a :class:`Quota`: calls in flight and the start times of the last minute's calls."""

    def __init__(self, quota: Quota | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.quota = quota
        self._clock = clock
        self._in_flight = 0
        self._recent: collections.deque[float] = collections.deque()

    def try_enter(self) -> bool:
        """Admit one call (then call :meth:`leave` when it ends), or ``False`` to throttle it."""
        quota = self.quota
        if quota is None:
            return True
        if quota.max_concurrent is not None and self._in_flight >= quota.max_concurrent:
            return False
        if quota.per_minute is not None:
            now = self._clock()
            while self._recent and self._recent[0] <= now - 60.0:
                self._recent.popleft()
            if len(self._recent) >= quota.per_minute:
                return False
            self._recent.append(now)
        self._in_flight += 1
        return True

    def leave(self) -> None:
        if self.quota is not None:
            self._in_flight -= 1


def _pairs(spec: str, what: str) -> dict[str, str]:
    out = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{what} {item!r} is not name=value")
        out[name.strip().lower().replace("-", "_")] = value.strip()
    return out


def _number(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number") from None


def parse_faults(spec: str) -> FaultRates:
    """``"slowdown=0.05,reset=0.01,stall=0.01,stall_s=3"`` -> :class:`FaultRates` (ValueError if bad)."""
    known = [*FAULT_KINDS, "stall_s"]
    values = {}
    for name, value in _pairs(spec, "fault").items():
        if name not in known:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(known)}")
        values[name] = _number(name, value)
    return FaultRates(**values)


def parse_latency(latency_ms: float | None = None, dist: str | None = None) -> Latency:
    """``--latency-ms 50`` (fixed) or ``--latency-dist lognormal:50,0.5`` / ``fixed:50``."""
    if latency_ms is not None and dist is not None:
        raise ValueError("give either a fixed latency or a latency distribution, not both")
    if dist is None:
        return Latency(latency_ms or 0.0)
    kind, _, args = dist.partition(":")
    numbers = [_number("latency", a) for a in args.split(",") if a.strip()]
    if kind == "fixed" and len(numbers) == 1:
        return Latency(numbers[0])
    if kind == "lognormal" and len(numbers) == 2:
        return Latency(numbers[0], numbers[1])
    raise ValueError(f"latency distribution {dist!r} is not 'fixed:MS' or 'lognormal:MEDIAN_MS,SIGMA'")


def parse_quota(spec: str) -> Quota:
    """``"concurrent=3,per_minute=60"`` -> :class:`Quota`."""
    names = {"concurrent": "max_concurrent", "max_concurrent": "max_concurrent", "per_minute": "per_minute"}
    values = {}
    for name, value in _pairs(spec, "quota").items():
        if name not in names:
            raise ValueError(f"unknown quota {name!r}; known: concurrent, per_minute")
        number = _number(name, value)
        if number != int(number):
            raise ValueError(f"quota {name}={value!r} is not a whole number")
        values[names[name]] = int(number)
    return Quota(**values)
