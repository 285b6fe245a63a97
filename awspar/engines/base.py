"""The one interface every engine keeps, and the async twins every sync engine gets for free.

An engine sends already-signed requests (:class:`~awspar.SignedRequest`) and returns what came
back (:class:`~awspar.RawResponse`), never parsing or signing itself. The contract (tested once,
for every engine, in ``tests/test_engines_contract.py``):

- jobs are consumed lazily, with a read-ahead bounded by about twice the concurrency;
- ``map`` yields in input order, ``as_completed`` as results finish (``RawResponse.index`` is the
  input position);
- at most ``config.concurrency`` HTTP attempts are in flight, hedges included; with
  ``concurrency="auto"`` at most the adaptive limit of their scope (:mod:`awspar.engines._limiter`);
- timeouts, retries, backoff, re-signing of stale requests and hedging follow the
  :class:`~awspar.EngineConfig` (the policy itself lives in :mod:`awspar.engines._attempts`);
- ``race`` keeps the first accepted 2xx answer and cancels the others, without waiting for them.

The ``a``-prefixed methods are the awaitable twins. Here they run the sync engine in a helper
thread, so they never block the event loop; the async engine implements them natively. They
import :mod:`asyncio` when called: the sync path (an AWS Lambda handler) never loads it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Self,
    TypeVar,
)

from awspar._config import DEFAULT_CONFIG, EngineConfig
from awspar._models import RawResponse
from awspar.engines._attempts import Job, Resign
from awspar.engines._limiter import ScopedLimits

if TYPE_CHECKING:  # pragma: no cover
    import asyncio
    from types import TracebackType

__all__ = ["Accept", "Engine", "Job", "MappedSender", "RaceResult", "RaceTally", "accepts"]

T = TypeVar("T")
#: Decides whether a 2xx answer may win a race (e.g. "the body parses as JSON").
Accept = Callable[[RawResponse], bool]


@dataclass(frozen=True)
class RaceResult:
    """The outcome of :meth:`Engine.race`.

    ``winner`` is the first accepted 2xx response (``None`` if no call was accepted) and
    ``winner_index`` its input position; ``results`` holds every call in input order, losers with
    a ``"cancelled"`` span and a cancellation error; ``elapsed`` is the seconds until the winner
    was known (or until every call had failed).
    """

    winner: RawResponse | None
    winner_index: int | None
    results: tuple[RawResponse, ...]
    elapsed: float


def accepts(accept: Accept | None, response: RawResponse) -> bool:
    """True when ``response`` may win a race: a 2xx answer that ``accept`` approves.

    An exception raised by ``accept`` counts as a refusal (a body that fails to parse is simply
    not a winner).
    """
    if not response.ok:
        return False
    if accept is None:
        return True
    try:
        return bool(accept(response))
    except Exception:
        return False


class RaceTally:
    """The score of one race, without I/O: every engine's race loop records each call's response
    as it ends (:meth:`record`, True once there is a winner) and builds its :class:`RaceResult`
    with :meth:`result`, naming what the calls still running became (cancelled losers)."""

    __slots__ = ("_accept", "_began", "_elapsed", "results", "winner")

    def __init__(self, accept: Accept | None) -> None:
        self._accept = accept
        self._began = time.perf_counter()
        self._elapsed: float | None = None
        self.results: dict[int, RawResponse] = {}
        self.winner: RawResponse | None = None

    def record(self, response: RawResponse) -> bool:
        """Note one call's response; True when the race has a winner (this one or an earlier)."""
        self.results[response.index] = response
        if self.winner is None and accepts(self._accept, response):
            self.winner = response
            self._elapsed = time.perf_counter() - self._began
        return self.winner is not None

    def result(self, count: int, loser: Callable[[int], RawResponse]) -> RaceResult:
        """The outcome of ``count`` calls; ``loser(index)`` is the record of a call with no response."""
        elapsed = self._elapsed if self._elapsed is not None else time.perf_counter() - self._began
        for index in range(count):
            if index not in self.results:
                self.results[index] = loser(index)
        winner = self.winner
        return RaceResult(winner, None if winner is None else winner.index,
                          tuple(self.results[i] for i in range(count)), elapsed)


class Engine:
    """Sends signed requests in parallel. Use as a context manager (sync or async) or call
    :meth:`close`. ``resign`` re-signs a request whose signature would be stale when sent.

    Every method that runs jobs also takes ``resign=``: that run's re-signing, used instead of the
    engine's own (so that one shared engine can serve requests from several signers, e.g.
    ``engine.map(requests, resign=signer.resign)``).

    >>> with get_engine("threads", EngineConfig(concurrency=16)) as engine:  # doctest: +SKIP
    ...     for response in engine.map(requests):
    ...         print(response.index, response.status, len(response.body))
    """

    name: ClassVar[str] = ""
    #: True when the engine runs on an event loop itself (its ``a``-methods are native): front-ends
    #: then run their plans on the loop (:meth:`AsyncEngine.aplan_sender`), else in threads
    #: (:meth:`plan_sender`). See :mod:`awspar.engines.plan`.
    native_async: ClassVar[bool] = False
    #: True when the engine signs each request itself from its parameters (the boto3 baseline).
    signs_itself: ClassVar[bool] = False

    def __init__(self, config: EngineConfig = DEFAULT_CONFIG, *, resign: Resign | None = None) -> None:
        self.config = config
        self.resign = resign
        #: The adaptive limits (``concurrency="auto"``), one per throttling scope, shared by every
        #: run of this engine; ``None`` for a fixed concurrency.
        self.limits: ScopedLimits | None = ScopedLimits(config.max_concurrency) if config.adaptive else None

    # -- the sync API --------------------------------------------------------------------------
    def map(self, jobs: Iterable[Job], *, resign: Resign | None = None) -> Iterator[RawResponse]:
        """Send every job; yield the responses in input order, lazily."""
        raise NotImplementedError

    def as_completed(self, jobs: Iterable[Job], *, resign: Resign | None = None) -> Iterator[RawResponse]:
        """Send every job; yield the responses as they finish (``response.index`` says which)."""
        raise NotImplementedError

    def send(self, job: Job, *, resign: Resign | None = None) -> RawResponse:
        """Send one job (with retries and hedging like any other)."""
        return next(iter(self.map([job], resign=resign)))

    def race(self, jobs: Iterable[Job], accept: Accept | None = None, *, resign: Resign | None = None) -> RaceResult:
        """Send every job at once; the first 2xx answer that ``accept`` approves wins and the
        others are cancelled (never retried). Returns without waiting for the losers."""
        raise NotImplementedError

    def plan_sender(self, resign: Resign | None = None) -> MappedSender:
        """What a plan driven in a thread sends through (:func:`awspar.engines.plan.run_plan`):
        here each request is a one-job run of :meth:`map`; the blocking engines send from the
        plan's own thread instead."""
        return MappedSender(self, resign)

    def resign_for(self, resign: Resign | None) -> Resign | None:
        """The re-signing a run uses: its own ``resign`` if given, else the engine's."""
        return resign if resign is not None else self.resign

    def close(self) -> None:
        """Release pools, threads and processes. The engine cannot be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the awaitable twins -------------------------------------------------------------------
    async def amap(
        self, jobs: Iterable[Job] | AsyncIterable[Job], *, resign: Resign | None = None
    ) -> AsyncIterator[RawResponse]:
        """Awaitable twin of :meth:`map`."""
        async for response in _iterate_in_thread(
            lambda sync_jobs: self.map(sync_jobs, resign=resign), jobs, self._window()
        ):
            yield response

    async def aas_completed(
        self, jobs: Iterable[Job] | AsyncIterable[Job], *, resign: Resign | None = None
    ) -> AsyncIterator[RawResponse]:
        """Awaitable twin of :meth:`as_completed`."""
        async for response in _iterate_in_thread(
            lambda sync_jobs: self.as_completed(sync_jobs, resign=resign), jobs, self._window()
        ):
            yield response

    async def asend(self, job: Job, *, resign: Resign | None = None) -> RawResponse:
        """Awaitable twin of :meth:`send`."""
        import asyncio

        return await asyncio.to_thread(lambda: self.send(job, resign=resign))

    async def arace(
        self, jobs: Iterable[Job], accept: Accept | None = None, *, resign: Resign | None = None
    ) -> RaceResult:
        """Awaitable twin of :meth:`race`."""
        import asyncio

        batch = list(jobs)
        return await asyncio.to_thread(lambda: self.race(batch, accept, resign=resign))

    async def aclose(self) -> None:
        """Awaitable twin of :meth:`close`."""
        import asyncio

        await asyncio.to_thread(self.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _window(self) -> int:
        """How many jobs may be taken from the input ahead of the results handed out."""
        return 2 * self.config.max_in_flight

    def __repr__(self) -> str:
        return f"{type(self).__name__}(concurrency={self.config.concurrency})"


class MappedSender:
    """A plan sender on any engine's sync API (one job per :meth:`Engine.send`)."""

    def __init__(self, engine: Engine, resign: Resign | None) -> None:
        self._engine = engine
        self._resign = resign

    def send(self, job: Job) -> RawResponse:
        return self._engine.send(job, resign=self._resign)

    def map(self, jobs: Iterable[Job]) -> Iterator[RawResponse]:
        return self._engine.map(jobs, resign=self._resign)


_DONE = object()


def _sync_jobs(jobs: Iterable[Job] | AsyncIterable[Job], loop: asyncio.AbstractEventLoop) -> Iterable[Job]:
    """A sync view of ``jobs``; an async iterable is pulled from the loop, one job at a time."""
    if not isinstance(jobs, AsyncIterable):
        return jobs
    import asyncio

    iterator = jobs.__aiter__()

    def pull() -> Iterator[Job]:
        while True:
            try:
                yield asyncio.run_coroutine_threadsafe(_anext(iterator), loop).result()
            except StopAsyncIteration:
                return

    return pull()


async def _anext(iterator: AsyncIterator[T]) -> T:
    return await iterator.__anext__()


async def _iterate_in_thread(
    make: Callable[[Iterable[Job]], Iterator[T]], jobs: Iterable[Job] | AsyncIterable[Job], limit: int
) -> AsyncIterator[T]:
    """Run a sync iterator in a helper thread and hand its items to the loop, at most ``limit``
    ahead of the consumer, never blocking the loop. Breaking out closes the sync iterator."""
    import asyncio

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue()
    room = threading.Semaphore(limit)
    stop = threading.Event()

    def deliver(ok: bool, item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (ok, item))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            stop.set()

    def produce() -> None:
        iterator = make(_sync_jobs(jobs, loop))
        try:
            for item in iterator:
                while not room.acquire(timeout=0.05):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                deliver(True, item)
            deliver(False, _DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            deliver(False, exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    threading.Thread(target=produce, name="awspar-bridge", daemon=True).start()
    try:
        while True:
            ok, item = await queue.get()
            if ok:
                room.release()
                yield item
            elif item is _DONE:
                return
            else:
                raise item
    finally:
        stop.set()
