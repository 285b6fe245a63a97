"""A scripted service for the adaptive limiter: a discrete-event run on a fake clock, no sockets.

:func:`simulate` drives an :class:`~awspar.engines._limiter.AdaptiveLimit` the way an engine
does (a request takes a permit, is answered, gives the permit back with what the service said;
a throttled one backs off and goes again) against a :class:`~awspar.testing.capacity.Capacity`
that may change at scripted times. It returns what a benchmark would measure, per interval:
answers, throttles and the limit. Seconds of simulated traffic take milliseconds.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from awspar.engines._limiter import AdaptiveLimit, Permit
from awspar.testing.capacity import Capacity, CapacityGate

__all__ = ["FakeClock", "Interval", "SimulatedRun", "simulate"]


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Interval:
    """What one interval of the run saw."""

    start: float
    ok: int = 0
    throttled: int = 0
    limit: int = 0
    peak_in_flight: int = 0

    @property
    def throttled_share(self) -> float:
        answered = self.ok + self.throttled
        return self.throttled / answered if answered else 0.0


@dataclass
class SimulatedRun:
    intervals: list[Interval] = field(default_factory=list)
    interval_s: float = 0.5
    completed: int = 0

    def goodput(self, start: float, end: float) -> float:
        """Successful answers per second between ``start`` and ``end`` (seconds of the run)."""
        chosen = [i for i in self.intervals if start <= i.start < end]
        return sum(i.ok for i in chosen) / (len(chosen) * self.interval_s) if chosen else 0.0

    def throttled_share(self, start: float, end: float) -> float:
        chosen = [i for i in self.intervals if start <= i.start < end]
        answered = sum(i.ok + i.throttled for i in chosen)
        return sum(i.throttled for i in chosen) / answered if answered else 0.0


def simulate(
    limit: Callable[[FakeClock], AdaptiveLimit],
    capacity: Capacity,
    *,
    seconds: float,
    latency: float = 0.02,
    jitter: float = 0.2,
    throttle_latency: float | None = None,
    steps: Sequence[tuple[float, Capacity]] = (),
    interval_s: float = 0.5,
    seed: int = 0,
) -> SimulatedRun:
    """Run endless work through ``limit(clock)`` against ``capacity`` for ``seconds``.

    Each answer (success or throttle) comes ``latency`` seconds (± ``jitter`` of it) after its
    request (a throttle after ``throttle_latency`` when given: a quota that rejects at once);
    the work never ends, so a free permit is used at once (a throttled request's retry
    is just more work). ``steps``: ``(time, new capacity)`` changes.
    """
    rng = random.Random(seed)
    clock = FakeClock()
    limiter = limit(clock)
    gate = CapacityGate(capacity, clock)
    run = SimulatedRun(interval_s=interval_s)
    events: list[tuple[float, int, str, object]] = []
    order = 0

    def push(at: float, kind: str, payload: object = None) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (at, order, kind, payload))

    def interval() -> Interval:
        index = int(clock.now / interval_s)
        while len(run.intervals) <= index:
            run.intervals.append(Interval(len(run.intervals) * interval_s))
        return run.intervals[index]

    def start_what_fits() -> None:  # the work never ends: a free permit is used at once
        while True:
            permit = limiter.try_acquire()
            if permit is None:
                return
            admitted = gate.try_enter("scope")
            took = latency if admitted or throttle_latency is None else throttle_latency
            answer_in = took * (1.0 + rng.uniform(-jitter, jitter))
            push(clock.now + answer_in, "answer", (permit, admitted))
            current = interval()
            current.peak_in_flight = max(current.peak_in_flight, limiter.in_flight)

    for at, new_capacity in steps:
        push(at, "capacity", new_capacity)
    start_what_fits()
    while events:
        at, _, kind, payload = heapq.heappop(events)
        if at >= seconds:
            break
        clock.now = at
        if kind == "capacity":
            gate.configure(payload)  # type: ignore[arg-type]
            continue
        permit, admitted = payload  # type: ignore[misc]
        assert isinstance(permit, Permit)
        current = interval()
        if admitted:
            gate.leave("scope")
            limiter.release(permit, "ok")
            current.ok += 1
            run.completed += 1
        else:
            limiter.release(permit, "throttled")
            current.throttled += 1
        current.limit = limiter.limit
        start_what_fits()
    return run
