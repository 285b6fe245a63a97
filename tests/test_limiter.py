"""The adaptive concurrency limit without sockets: a fake clock and a scripted service."""

from __future__ import annotations

import asyncio
import collections
import threading
import time

import pytest

from awspar import SignedRequest
from awspar.engines._limiter import INITIAL_LIMIT, AdaptiveLimit, Permit, ScopedLimits, is_throttle, scope_of
from awspar.testing.capacity import Capacity, CapacityGate, parse_capacity
from awspar.testing.scripted import FakeClock, simulate


def _pump(limit: AdaptiveLimit, count: int, answer: str = "ok") -> None:
    """Keep the limit full of requests while ``count`` of them are answered, oldest first."""
    held: collections.deque[Permit] = collections.deque()
    for _ in range(count):
        while (permit := limit.try_acquire()) is not None:
            held.append(permit)
        limit.release(held.popleft(), answer)
    for permit in held:
        limit.release(permit, "ignore")


def _limit(maximum: int = 256, **options: object):
    return lambda clock: AdaptiveLimit(maximum, clock=clock, **options)  # type: ignore[arg-type]


# -- the rule -------------------------------------------------------------------------------------
def test_a_window_of_throttles_cuts_the_limit_once() -> None:
    limit = AdaptiveLimit(256)
    permits = [limit.try_acquire() for _ in range(INITIAL_LIMIT)]
    assert None not in permits and limit.try_acquire() is None
    for permit in permits:  # the whole window comes back throttled
        limit.release(permit, "throttled")  # type: ignore[arg-type]
    assert limit.limit == 4  # slow start ends halved once, not 8 * 0.5 ** 8
    assert limit.throttled == INITIAL_LIMIT
    # a request admitted after the cut is a new window: its throttle cuts again, now by 0.9 (and
    # at least 1)
    for expected in (3, 2, 1, 1):
        limit.release(limit.try_acquire(), "throttled")  # type: ignore[arg-type]
        assert limit.limit == expected


def test_the_rest_of_a_cut_window_does_not_grow_the_limit() -> None:
    limit = AdaptiveLimit(256)
    _pump(limit, 8)  # slow start: 16
    permits = [limit.try_acquire() for _ in range(limit.limit)]
    limit.release(permits[0], "throttled")  # type: ignore[arg-type]
    assert limit.limit == 8
    for permit in permits[1:]:  # the same window's successes: no growth
        limit.release(permit, "ok")  # type: ignore[arg-type]
    assert limit.limit == 8


def test_slow_start_doubles_per_window_then_growth_is_additive() -> None:
    limit = AdaptiveLimit(256)
    for expected in (16, 32, 64):
        _pump(limit, limit.limit)
        assert limit.limit == expected
    limit.release(limit.try_acquire(), "throttled")  # type: ignore[arg-type]
    assert limit.limit == 32  # the end of slow start halves it
    _pump(limit, 34)
    assert limit.limit == 33  # about +1 for a whole window of successes (32 + 34/32.5)
    limit.release(limit.try_acquire(), "throttled")  # type: ignore[arg-type]
    assert limit.limit == 29  # then x 0.9


def test_bounded_by_the_maximum_and_never_below_one() -> None:
    limit = AdaptiveLimit(20)
    _pump(limit, 1000)
    assert limit.limit == 20
    for _ in range(50):
        limit.release(limit.try_acquire(), "throttled")  # type: ignore[arg-type]
    assert limit.limit == 1
    assert limit.try_acquire() is not None and limit.try_acquire() is None


def test_a_limit_not_in_use_does_not_grow() -> None:
    """One request at a time teaches nothing about the service's capacity."""
    limit = AdaptiveLimit(256)
    for _ in range(100):
        limit.release(limit.try_acquire(), "ok")  # type: ignore[arg-type]
    assert limit.limit == INITIAL_LIMIT


def test_an_answer_that_is_no_answer_changes_nothing() -> None:
    limit = AdaptiveLimit(256)
    for _ in range(INITIAL_LIMIT):
        limit.release(limit.try_acquire(), "ignore")  # type: ignore[arg-type]
    assert limit.limit == INITIAL_LIMIT and limit.answered == 0 and limit.in_flight == 0


def test_history_is_sampled_and_bounded() -> None:
    clock = FakeClock()
    limit = AdaptiveLimit(256, clock=clock)
    for step in range(2000):
        clock.now = step * 0.1
        limit.release(limit.try_acquire(), "throttled" if step % 4 == 0 else "ok")  # type: ignore[arg-type]
    history = limit.history()
    assert 200 <= len(history) <= 240
    assert all(b[0] - a[0] >= 0.5 - 1e-9 for a, b in zip(history, history[1:]))
    assert all(0.0 <= share <= 1.0 for _, _, share in history)
    assert sum(share for _, _, share in history) / len(history) == pytest.approx(0.25, abs=0.06)


# -- against a scripted service ---------------------------------------------------------------------
def test_reaches_a_rate_capacity_with_few_throttles() -> None:
    run = simulate(_limit(), Capacity(rate=1500), seconds=12, latency=0.02)
    assert run.goodput(2, 12) >= 0.9 * 1500
    assert run.throttled_share(2, 12) <= 0.05


def test_follows_a_capacity_step_up_and_down() -> None:
    run = simulate(_limit(), Capacity(rate=1500), seconds=30, latency=0.02,
                   steps=[(10.0, Capacity(rate=3000)), (20.0, Capacity(rate=1500))])
    up = next(i.start for i in run.intervals if i.start >= 10 and i.ok / run.interval_s >= 0.9 * 3000)
    assert up - 10 <= 5
    assert run.goodput(15, 20) >= 0.9 * 3000
    down = next(i.start for i in run.intervals if i.start >= 20 and i.throttled_share < 0.05)
    assert down - 20 <= 5
    assert run.throttled_share(25, 30) < 0.05


def test_far_from_a_throttle_growth_speeds_up() -> None:
    """At 50 ms a round trip, a capacity that doubles from 1,500/s means 75 more in flight: one
    more per round trip would take ~4 s to get to 90 % of it; growth that doubles every few quiet
    windows takes about one."""
    run = simulate(_limit(), Capacity(rate=1500), seconds=16, latency=0.05, jitter=0.4,
                   steps=[(10.0, Capacity(rate=3000))])
    up = next(i.start for i in run.intervals if i.start >= 10 and i.ok / run.interval_s >= 0.9 * 3000)
    assert up - 10 <= 1.5
    assert run.throttled_share(2, 10) <= 0.02


def test_settles_at_a_concurrency_quota() -> None:
    """Bedrock's quota of 3 concurrent calls, answered at once with a 429 above it."""
    run = simulate(_limit(), Capacity(concurrent=3), seconds=20, latency=0.5, throttle_latency=0.01)
    settled = run.intervals[4:]
    assert all(i.limit == 3 or i.limit == 4 for i in settled)
    assert max(i.peak_in_flight for i in settled) <= 4
    assert sum(i.ok for i in settled) / (len(settled) * run.interval_s) >= 0.9 * 3 / 0.5


# -- waiting --------------------------------------------------------------------------------------
def test_threads_never_hold_more_permits_than_the_limit() -> None:
    limit = AdaptiveLimit(6, initial=6)
    holding = 0
    peak = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal holding, peak
        for _ in range(30):
            permit = limit.acquire(timeout=10)
            assert permit is not None
            with lock:
                holding += 1
                peak = max(peak, holding)
            time.sleep(0.001)
            with lock:
                holding -= 1
            limit.release(permit, "ok")

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert peak == 6 and limit.peak_in_flight == 6 and limit.in_flight == 0


def test_acquire_times_out_and_a_cancelled_waiter_passes_its_turn_on() -> None:
    limit = AdaptiveLimit(1, initial=1)
    held = limit.try_acquire()
    assert limit.acquire(timeout=0.05) is None

    async def main() -> None:
        first = asyncio.ensure_future(limit.aacquire())
        second = asyncio.ensure_future(limit.aacquire())
        await asyncio.sleep(0.01)
        limit.release(held, "ok")  # type: ignore[arg-type]
        first.cancel()  # woken, then cancelled before it ran: the second gets the room
        permit = await asyncio.wait_for(second, 2)
        assert limit.in_flight == 1
        limit.release(permit, "ok")

    asyncio.run(main())
    assert limit.in_flight == 0


# -- what is a throttle, and whose ------------------------------------------------------------------
@pytest.mark.parametrize(("status", "body", "expected"), [
    (503, b"<Error><Code>SlowDown</Code></Error>", True),
    (503, b"", True),
    (429, b"", True),
    (400, b'{"__type":"com.amazon#ThrottlingException"}', True),
    (400, b'{"__type":"ProvisionedThroughputExceededException"}', True),
    (503, b"<Error><Code>RequestLimitExceeded</Code></Error>", True),
    (400, b'{"__type":"TooManyRequestsException"}', True),
    (500, b"<Error><Code>InternalError</Code></Error>", False),
    (404, b"<Error><Code>NoSuchKey</Code></Error>", False),
    (200, b"<Code>SlowDown</Code>", False),
])
def test_is_throttle(status: int, body: bytes, expected: bool) -> None:
    assert is_throttle(status, {}, body) is expected


def test_scopes_s3_per_bucket_bedrock_per_model_else_per_host() -> None:
    def req(url: str, operation: str, params: dict[str, str] | None = None) -> SignedRequest:
        return SignedRequest("GET", url, operation=operation, params=params)

    a = scope_of(req("http://127.0.0.1:9000/data/2026/11/a.txt?X-Amz-Signature=x", "s3.GetObject"))
    b = scope_of(req("http://127.0.0.1:9000/data/2025/b.txt", "s3.GetObject"))
    other = scope_of(req("http://127.0.0.1:9000/logs/a", "s3.GetObject"))
    virtual = scope_of(req("https://data.s3.amazonaws.com/2026/a", "s3.GetObject", {"Bucket": "data"}))
    assert a == b != other and "X-Amz" not in a
    assert virtual == "s3 data.s3.amazonaws.com/data"
    m1 = scope_of(req("http://h/model/anthropic.claude%3A1/invoke", "bedrock-runtime.InvokeModel"))
    m2 = scope_of(req("http://h/model/amazon.nova/invoke", "bedrock-runtime.InvokeModel"))
    assert m1 == "bedrock-runtime h/anthropic.claude:1" and m1 != m2
    assert scope_of(req("https://dynamodb.us-east-1.amazonaws.com/", "dynamodb.GetItem")) == "dynamodb.us-east-1.amazonaws.com"
    limits = ScopedLimits(64)
    assert limits.for_request(req("http://h/model/x/invoke", "bedrock-runtime.InvokeModel")) is \
        limits.for_request(req("http://h/model/x/converse", "bedrock-runtime.Converse"))


# -- the capacity model -----------------------------------------------------------------------------
def test_capacity_gate_rate_concurrency_and_step() -> None:
    clock = FakeClock()
    gate = CapacityGate(Capacity(rate=100, burst=5), clock)
    assert [gate.try_enter("p") for _ in range(6)] == [True] * 5 + [False]
    assert gate.try_enter("q")  # another scope has its own bucket
    clock.now = 0.05
    assert [gate.try_enter("p") for _ in range(6)].count(True) == 5
    gate.configure(Capacity(concurrent=2))
    for _ in range(15):
        gate.leave("p")
    assert [gate.try_enter("p") for _ in range(3)] == [True, True, False]
    gate.leave("p")
    assert gate.try_enter("p")


def test_parse_capacity() -> None:
    assert parse_capacity("rate=1500,burst=50") == Capacity(rate=1500, burst=50)
    assert parse_capacity("concurrent=3") == Capacity(concurrent=3)
    for bad in ("rate=x", "speed=3", "concurrent=1.5", "rate=0"):
        with pytest.raises(ValueError):
            parse_capacity(bad)
