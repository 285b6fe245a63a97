"""A private event loop in a daemon thread: how awspar's sync API drives its async code.

The async engine's ``map``/``as_completed``/``send``/``race`` and :func:`awspar.s3.get_objects` run
their coroutines on such a loop and hand the results to the calling thread (which may itself be
inside a running event loop: it then blocks only itself, like any sync call).

:meth:`LoopThread.iterate` is the one bridge for async iterators: items cross in batches, one
wake-up of the caller per turn of the loop; at most ``limit`` wait besides the batch in the
caller's hands, so a slow consumer pauses the producer instead of piling results up. Leaving
early (``break``, an exception, Ctrl-C in the caller) cancels the iterator and waits for its
clean-up to finish, a bounded time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

__all__ = ["UNWIND_TIMEOUT", "LoopThread"]

T = TypeVar("T")
#: Seconds a cancelled run, or a closing loop, may take to unwind (close connections, remove files).
UNWIND_TIMEOUT = 10.0
# The caller is woken at most once per this many seconds while items keep coming (the first item
# after a quiet spell and the end of the run wake it at once): each wake-up is a thread switch and
# a GIL hand-off, ~50 µs of CPU here, and results of 16 KiB GETs come about one per loop turn.
_WAKE_INTERVAL = 0.001


class LoopThread:
    """An event loop running forever in a daemon thread, until :meth:`close`."""

    def __init__(
        self, new_loop: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop, *,
        name: str = "awspar-loop",
    ) -> None:
        self.loop = new_loop()
        self._stuck = False  # a run would not unwind: close() then leaves the loop to it
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(_await(make), self.loop).result()

    def iterate(
        self, make: Callable[[], AsyncIterator[T]], limit: int, *,
        unwind_timeout: float = UNWIND_TIMEOUT, stuck: str | None = None,
    ) -> Iterator[T]:
        """Iterate ``make()`` on the loop from sync code: at most ``limit`` items wait to cross
        (besides the batch the caller is going through), then the iterator is paused.

        Left early, the iterator is cancelled and closed, and this waits until it has unwound, at
        most ``unwind_timeout`` seconds; past that, ``stuck`` (when given) is raised as a
        :class:`RuntimeError` instead of returning with the clean-up still running.
        """
        lock = threading.Condition()
        batch: deque[T] = deque()
        resume = asyncio.Event()
        state: dict[str, Any] = {"done": False, "error": None, "wake_pending": False, "paused": False,
                                 "last_wake": float("-inf")}
        unwound = threading.Event()
        started: concurrent.futures.Future[asyncio.Task[None]] = concurrent.futures.Future()

        def wake() -> None:
            with lock:
                state["wake_pending"] = False
                state["last_wake"] = self.loop.time()
                lock.notify()

        async def pump() -> None:
            iterator = make()
            try:
                async for item in iterator:
                    with lock:
                        batch.append(item)
                    # One wake-up of the caller for all the items that finish in the same turn of
                    # the loop, and at most one per _WAKE_INTERVAL while they keep coming.
                    if not state["wake_pending"]:
                        state["wake_pending"] = True
                        self.loop.call_at(state["last_wake"] + _WAKE_INTERVAL, wake)
                    while True:
                        with lock:
                            if len(batch) < limit:
                                break
                            resume.clear()
                            state["paused"] = True
                        await resume.wait()
            except BaseException as exc:
                state["error"] = exc
                raise
            finally:
                try:
                    await iterator.aclose()  # type: ignore[attr-defined]
                finally:
                    with lock:
                        state["done"] = True
                        lock.notify()

        def start() -> None:
            task = self.loop.create_task(pump())
            # Set once the task is over, however it ended (even cancelled before its first step).
            task.add_done_callback(lambda _: unwound.set())
            task.add_done_callback(_retrieve)
            started.set_result(task)

        self.loop.call_soon_threadsafe(start)
        try:
            while True:
                with lock:
                    while not batch and not state["done"]:
                        lock.wait()
                    items = list(batch)
                    batch.clear()
                    finished = state["done"]
                    paused, state["paused"] = state["paused"], False
                if paused:
                    self.loop.call_soon_threadsafe(resume.set)
                yield from items
                if finished:
                    break
            if state["error"] is not None:
                raise state["error"]
        finally:
            if not unwound.is_set():
                self.loop.call_soon_threadsafe(lambda: started.result().cancel())
                if not unwound.wait(unwind_timeout):
                    self._stuck = True
                    if stuck is not None:
                        raise RuntimeError(stuck)

    def close(self, timeout: float = UNWIND_TIMEOUT) -> None:
        """Cancel whatever still runs on the loop, let it unwind, then stop the loop; unless a run
        already failed to unwind: the loop and its daemon thread are then left to that clean-up."""
        if self._stuck:
            return
        try:
            asyncio.run_coroutine_threadsafe(_cancel_all(), self.loop).result(timeout=timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=timeout)
        if not self.loop.is_running():
            self.loop.close()


async def _await(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


async def _cancel_all() -> None:
    me = asyncio.current_task()
    others = [task for task in asyncio.all_tasks() if task is not me]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


def _retrieve(task: asyncio.Task[None]) -> None:
    """The iterator's exception reaches the caller through ``state``; mark the task's as seen."""
    if not task.cancelled():
        task.exception()
