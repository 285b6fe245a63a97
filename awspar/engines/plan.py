"""Plans: a unit of work as a generator that does no I/O, and the two drivers that run them.

A plan is the life of one unit of work (one S3 object, one call) written as a generator, the way
httpx writes its auth flow: it *yields* what it needs done and is *sent* the answer, so the same
plan runs unchanged on the event loop and in a worker thread. It never touches a socket, a loop
or a thread itself::

    def plan() -> Plan[int]:
        response = yield Send(request)            # one request (with the engine's retries)
        for _ in range(len(parts)):               # several at once, answers in input order
            part = yield (SendEach(parts) if _ == 0 else MORE)
        verification = yield Blocking(check)      # blocking work: off the event loop
        return result

The drivers: :func:`run_plan` in the calling thread (threads, sequential, processes,
subinterpreters, Dask: no event loop, so an AWS Lambda handler never loads asyncio), and
:func:`arun_plan` on the running event loop (the async engine: no thread hop per request). A
driver that stops early (an exception, a cancellation, Ctrl-C) closes the plan, so its
``finally`` blocks clean up (temporary files). :func:`run_plans` / :func:`arun_plans` run many
plans at once, ``workers`` at a time, each worker taking the next plan when it is done with one:
results come as they finish (or in input order with ``ordered=True``), at most ``workers`` plans
in progress and at most ``handoff`` results waiting for the consumer (in input order, results
that finished ahead of a slow earlier one count towards it: the read-ahead stays bounded).

The senders (:class:`SyncSender`, :class:`AsyncSender`) are what the engines offer the drivers:
``send(job)`` (one request through the engine's retry policy, in the caller's thread or task)
and ``map(jobs)`` (a run of the engine, answers in input order).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from awspar._models import RawResponse
from awspar.engines._attempts import Job

__all__ = [
    "MORE", "AsyncSender", "Blocking", "Plan", "Send", "SendEach", "SyncSender", "arun_plan", "arun_plans",
    "closing", "on_loop_thread", "run_plan", "run_plans",
]

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Send:
    """Send one job; the plan is sent its :class:`~awspar.RawResponse`."""

    job: Job


@dataclass(frozen=True, slots=True)
class SendEach:
    """Send ``jobs`` as one run of the engine; the plan is sent each response in input order, and
    yields :data:`MORE` for the next one (anything else ends the run early)."""

    jobs: list[Job]


@dataclass(frozen=True, slots=True)
class Blocking:
    """Call ``func()`` where it may block (a helper thread on the event loop, inline elsewhere);
    the plan is sent its result, or has its exception thrown in."""

    func: Callable[[], Any]


#: Yielded after a :class:`SendEach` response: "the next one, please".
MORE: Any = type("More", (), {"__repr__": lambda self: "MORE"})()

Step = Send | SendEach | Blocking
Plan = Generator[Step, Any, R]


class SyncSender(Protocol):
    def send(self, job: Job) -> RawResponse: ...
    def map(self, jobs: Iterable[Job]) -> Iterator[RawResponse]: ...


class AsyncSender(Protocol):
    async def send(self, job: Job) -> RawResponse: ...
    def map(self, jobs: Iterable[Job]) -> AsyncIterator[RawResponse]: ...


def run_plan(plan: Plan[R], sender: SyncSender) -> R:
    """Run ``plan`` to its result in this thread."""
    try:
        step = next(plan)
        while True:
            kind = type(step)
            if kind is Send:
                step = plan.send(sender.send(step.job))
            elif kind is Blocking:
                try:
                    value = step.func()
                except Exception as exc:  # noqa: BLE001 - the plan decides what it means
                    step = plan.throw(exc)
                else:
                    step = plan.send(value)
            elif kind is SendEach:
                responses = sender.map(step.jobs)
                try:
                    step = MORE
                    for response in responses:
                        step = plan.send(response)
                        if step is not MORE:
                            break
                finally:
                    close = getattr(responses, "close", None)
                    if close is not None:
                        close()
                if step is MORE:
                    raise RuntimeError("a plan asked for more responses than it sent requests")
            else:
                raise TypeError(f"a plan yielded {step!r}, not a step")
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        plan.close()


async def arun_plan(plan: Plan[R], sender: AsyncSender) -> R:
    """Run ``plan`` to its result on the running event loop."""
    import asyncio

    try:
        step = next(plan)
        while True:
            kind = type(step)
            if kind is Send:
                step = plan.send(await sender.send(step.job))
            elif kind is Blocking:
                try:
                    value = await asyncio.to_thread(step.func)
                except Exception as exc:  # noqa: BLE001 - the plan decides what it means
                    step = plan.throw(exc)
                else:
                    step = plan.send(value)
            elif kind is SendEach:
                responses = sender.map(step.jobs)
                try:
                    step = MORE
                    async for response in responses:
                        step = plan.send(response)
                        if step is not MORE:
                            break
                finally:
                    await responses.aclose()  # type: ignore[attr-defined]
                if step is MORE:
                    raise RuntimeError("a plan asked for more responses than it sent requests")
            else:
                raise TypeError(f"a plan yielded {step!r}, not a step")
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        plan.close()


_DONE = object()


def run_plans(
    plans: Iterable[Plan[R]], sender: SyncSender, *, workers: int, handoff: int = 64, ordered: bool = False
) -> Iterator[R]:
    """Run every plan, ``workers`` at a time in worker threads (inline when ``workers`` is 1);
    yield each result as it finishes, or in input order when ``ordered``. ``plans`` is pulled
    lazily, by one worker at a time.

    Leaving early stops the workers: each closes its plan (which cleans up) before this returns.
    """
    if workers <= 1:
        for plan in plans:
            yield run_plan(plan, sender)
        return
    source = enumerate(plans)
    take = threading.Lock()
    stop = threading.Event()
    room = threading.Semaphore(handoff + workers)
    results: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def work() -> None:
        try:
            while not stop.is_set():
                room.acquire()
                with take:
                    index, plan = next(source, (-1, _DONE))
                if plan is _DONE or stop.is_set():
                    if plan is not _DONE:
                        plan.close()  # type: ignore[attr-defined]
                    return
                results.put((True, index, run_plan(plan, sender)))  # type: ignore[arg-type]
        except BaseException as exc:  # handed to the consumer, raised there
            stop.set()
            results.put((False, -1, exc))
        finally:
            results.put((False, -1, _DONE))

    pool = ThreadPoolExecutor(workers, thread_name_prefix="awspar-plan")
    running = workers
    order = _Order(ordered)
    try:
        for _ in range(workers):
            pool.submit(work)
        while running:
            ok, index, item = results.get()
            if ok:
                for ready in order.add(index, item):
                    room.release()
                    yield ready
            elif item is _DONE:
                running -= 1
            else:
                raise item
    finally:
        stop.set()
        for _ in range(workers):  # wake any worker waiting for room
            room.release()
        stopper = getattr(sender, "stop", None)
        if stopper is not None and running:
            stopper()
        pool.shutdown(wait=True)


async def arun_plans(
    plans: AsyncIterator[Plan[R]], sender: AsyncSender, *, workers: int, handoff: int = 64, ordered: bool = False
) -> AsyncIterator[R]:
    """Run every plan, ``workers`` at a time as tasks on the running loop; yield each result as
    it finishes, or in input order when ``ordered``. Leaving early cancels the tasks (each closes
    its plan) and waits for them."""
    import asyncio

    results: asyncio.Queue[Any] = asyncio.Queue()
    room = _Room(handoff + max(1, workers))
    take = asyncio.Lock()
    taken = 0

    async def work() -> None:
        nonlocal taken
        while True:
            await room.take()
            async with take:
                try:
                    plan = await plans.__anext__()
                except StopAsyncIteration:
                    return
                index, taken = taken, taken + 1
            await results.put((True, index, await arun_plan(plan, sender)))

    async def worker() -> None:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, raised there
            await results.put((False, -1, exc))
            return
        await results.put((False, -1, _DONE))

    tasks = [asyncio.ensure_future(worker()) for _ in range(max(1, workers))]
    running = len(tasks)
    order = _Order(ordered)
    try:
        while running:
            ok, index, item = await results.get()
            if ok:
                for ready in order.add(index, item):
                    room.give()
                    yield ready
            elif item is _DONE:
                running -= 1
            else:
                raise item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        aclose = getattr(plans, "aclose", None)
        if aclose is not None:
            await aclose()


class _Room:
    """A count of free places with first-come waiters, for tasks on one loop: what
    ``asyncio.Semaphore`` does, in O(1) per call (its ``acquire`` scans every waiter)."""

    __slots__ = ("_free", "_waiters")

    def __init__(self, free: int) -> None:
        self._free = free
        self._waiters: deque[Any] = deque()

    async def take(self) -> None:
        if self._free > 0:
            self._free -= 1
            return
        import asyncio

        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter  # the place is handed over with the wake-up

    def give(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


class _Order:
    """Hands results out as they finish, or in input order (holding those that came early)."""

    __slots__ = ("_early", "_next", "_ordered")

    def __init__(self, ordered: bool) -> None:
        self._ordered = ordered
        self._early: dict[int, Any] = {}
        self._next = 0

    def add(self, index: int, result: Any) -> list[Any]:
        """The results that may be handed out now that plan ``index`` has given ``result``."""
        if not self._ordered:
            return [result]
        self._early[index] = result
        ready = []
        while self._next in self._early:
            ready.append(self._early.pop(self._next))
            self._next += 1
        return ready


def on_loop_thread(
    make: Callable[[], AsyncIterator[R]], engine: Any, *, name: str, handoff: int = 64,
    unwind_timeout: float | None = None, stuck: str | None = None,
) -> Iterator[R]:
    """Run an async iterator of results (a front-end's :func:`arun_plans`) on a private loop of
    the engine's kind (``engine.event_loop``) in a helper thread, and hand its items over: the
    sync API of a front-end on the async engine. Leaving early cancels the iterator and waits
    for its clean-up (see :meth:`awspar._loop_thread.LoopThread.iterate`)."""
    from awspar._loop_thread import UNWIND_TIMEOUT, LoopThread
    from awspar.engines.aio import loop_factory

    portal = LoopThread(loop_factory(getattr(engine, "event_loop", "asyncio")), name=name)
    try:
        yield from portal.iterate(make, handoff, unwind_timeout=unwind_timeout or UNWIND_TIMEOUT, stuck=stuck)
    finally:
        portal.close()


def closing(results: Iterator[R], engine: Any | None) -> Iterator[R]:
    """``results``, then ``engine`` closed (when given: the front-end made it), however the
    iteration ends."""
    try:
        yield from results
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
        if engine is not None:
            engine.close()
