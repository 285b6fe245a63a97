"""LoopThread: the one bridge from awspar's sync API into its async code (engine and S3 fetch)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from _stubborn import stubborn

from awspar._loop_thread import LoopThread


class _Counting:
    """``count`` items, one per turn of the loop (``pause`` seconds apart), counting as it goes."""

    def __init__(self, count: int, pause: float | None = None) -> None:
        self.count, self.pause, self.produced = count, pause, 0

    async def items(self) -> AsyncIterator[int]:
        for i in range(self.count):
            self.produced += 1
            yield i
            if self.pause is not None:
                await asyncio.sleep(self.pause)


@pytest.fixture
def portal() -> Iterator[LoopThread]:
    loop_thread = LoopThread(name="test-loop")
    yield loop_thread
    loop_thread.close()


@pytest.mark.timeout(30)
def test_items_cross_in_order_and_an_error_follows_the_items_before_it(portal: LoopThread) -> None:
    async def numbers():
        for i in range(500):
            if i % 50 == 0:
                await asyncio.sleep(0)
            yield i
        raise ValueError("after 500")

    seen = []
    with pytest.raises(ValueError, match="after 500"):
        for item in portal.iterate(numbers, limit=8):
            seen.append(item)
    assert seen == list(range(500))


@pytest.mark.timeout(30)
def test_a_slow_caller_pauses_the_producer_at_the_limit(portal: LoopThread) -> None:
    source = _Counting(100)
    ahead = []
    for consumed, _ in enumerate(portal.iterate(source.items, limit=4), start=1):
        time.sleep(0.002)  # the loop runs freely meanwhile
        ahead.append(source.produced - consumed)
    assert max(ahead) <= 2 * 4, max(ahead)  # a batch of 4 in the caller's hands, 4 more waiting


@pytest.mark.timeout(30)
def test_leaving_early_waits_until_the_iterator_has_cleaned_up(portal: LoopThread) -> None:
    cleaned = threading.Event()

    async def with_slow_cleanup():
        try:
            for i in range(1000):
                yield i
                await asyncio.sleep(0.01)
        finally:
            await asyncio.sleep(0.3)  # e.g. closing connections, removing temporary files
            cleaned.set()

    results = portal.iterate(with_slow_cleanup, limit=4)
    assert next(results) == 0
    results.close()
    assert cleaned.is_set()


@pytest.mark.timeout(30)
def test_a_stuck_cleanup_is_waited_for_a_bounded_time_then_reported_or_left(portal: LoopThread) -> None:
    quiet = portal.iterate(stubborn, limit=4, unwind_timeout=0.3)
    assert next(quiet) == "first"
    began = time.monotonic()
    quiet.close()  # no message asked for: returns once the wait is over
    assert 0.25 < time.monotonic() - began < 5

    loud = LoopThread(name="test-loop-loud").iterate(stubborn, limit=4, unwind_timeout=0.3, stuck="stuck!")
    assert next(loud) == "first"
    with pytest.raises(RuntimeError, match="stuck!"):
        loud.close()


@pytest.mark.timeout(30)
def test_items_that_keep_coming_wake_the_caller_once_per_interval(
    portal: LoopThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first item after a quiet spell crosses at once; the ones that follow within the interval
    wait for the next wake-up (here: the end of the run), instead of one wake-up each."""
    from awspar import _loop_thread

    monkeypatch.setattr(_loop_thread, "_WAKE_INTERVAL", 1.0)
    source = _Counting(50, pause=0.002)  # the loop idles between items: the caller could be woken
    seen_when_produced = [source.produced for _ in portal.iterate(source.items, limit=100)]
    assert seen_when_produced[0] < 50  # not held back
    assert seen_when_produced[1:] == [50] * 49  # the rest in one batch, at the end
