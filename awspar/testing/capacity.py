"""The capacity model of the local endpoints: how much a scope serves before the service throttles.

A :class:`Capacity` is a token bucket per scope (``rate`` requests a second, ``burst`` of them at
once) and/or a bound on calls in flight per scope (``concurrent``); a request above it gets the
service's own throttling answer (the object server: 503 SlowDown; the Bedrock server: 429
ThrottlingException). The scope is what the real service throttles by: the object server's is
the bucket and the key's first path segment (an S3 prefix), the Bedrock server's the model id.

:class:`CapacityGate` keeps the state, on any clock (the endpoints use ``time.monotonic``; the
limiter's tests a fake one). CLI strings parse with :func:`parse_capacity`::

    parse_capacity("rate=1500")              # 1,500 requests/s per scope
    parse_capacity("concurrent=3")           # 3 in flight per scope
    parse_capacity("rate=1500,burst=50")
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Capacity", "CapacityGate", "parse_capacity"]


@dataclass(frozen=True)
class Capacity:
    """``rate`` requests per second per scope (token bucket holding ``burst``, default a tenth
    of a second's worth) and/or ``concurrent`` in flight per scope; ``None``: unbounded."""

    rate: float | None = None
    concurrent: int | None = None
    burst: float | None = None

    def __post_init__(self) -> None:
        if self.rate is not None and self.rate <= 0:
            raise ValueError("capacity rate must be > 0")
        if self.concurrent is not None and self.concurrent < 1:
            raise ValueError("capacity concurrent must be >= 1")
        if self.burst is not None and self.burst < 1:
            raise ValueError("capacity burst must be >= 1")

    @property
    def bucket_size(self) -> float:
        if self.burst is not None:
            return self.burst
        return max(1.0, (self.rate or 0.0) / 10.0)


class _Scope:
    __slots__ = ("in_flight", "stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp
        self.in_flight = 0


class CapacityGate:
    """The state of a :class:`Capacity`: tokens and calls in flight per scope. Not thread-safe
    (an endpoint uses it on its event loop); :meth:`configure` changes the capacity at run time,
    keeping what is in flight."""

    def __init__(self, capacity: Capacity | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self._clock = clock
        self._scopes: dict[str, _Scope] = {}

    def configure(self, capacity: Capacity | None) -> None:
        self.capacity = capacity
        for scope in self._scopes.values():
            scope.tokens = min(scope.tokens, capacity.bucket_size) if capacity is not None else 0.0

    def try_enter(self, scope_name: str) -> bool:
        """Admit one request of ``scope_name`` (then :meth:`leave` it when it ends), or ``False``."""
        capacity = self.capacity
        if capacity is None:
            return True
        now = self._clock()
        scope = self._scopes.get(scope_name)
        if scope is None:
            scope = self._scopes[scope_name] = _Scope(capacity.bucket_size, now)
        if capacity.concurrent is not None and scope.in_flight >= capacity.concurrent:
            return False
        if capacity.rate is not None:
            scope.tokens = min(capacity.bucket_size, scope.tokens + (now - scope.stamp) * capacity.rate)
            scope.stamp = now
            if scope.tokens < 1.0:
                return False
            scope.tokens -= 1.0
        scope.in_flight += 1
        return True

    def leave(self, scope_name: str) -> None:
        scope = self._scopes.get(scope_name)
        if scope is not None and scope.in_flight > 0:
            scope.in_flight -= 1


def parse_capacity(spec: str) -> Capacity:
    """``"rate=1500,burst=50,concurrent=3"`` -> :class:`Capacity` (ValueError if bad)."""
    values: dict[str, float] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or name not in ("rate", "burst", "concurrent"):
            raise ValueError(f"capacity {item!r} is not rate=N, burst=N or concurrent=N")
        try:
            values[name] = float(value)
        except ValueError:
            raise ValueError(f"capacity {name}={value.strip()!r} is not a number") from None
    if "concurrent" in values and values["concurrent"] != int(values["concurrent"]):
        raise ValueError("capacity concurrent must be a whole number")
    concurrent = int(values["concurrent"]) if "concurrent" in values else None
    return Capacity(rate=values.get("rate"), concurrent=concurrent, burst=values.get("burst"))
