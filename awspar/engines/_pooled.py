"""The scheduler of the blocking engines (sequential, threads, processes, boto3).

Each request is driven by one driver thread through :class:`~awspar.engines._attempts.RequestRun`;
a subclass only says how to make one attempt (:meth:`PooledEngine._send`, blocking) and, if it
has a better way than a helper thread, how to start one in the background
(:meth:`PooledEngine._start`). Concurrency is enforced the same way for all of them: a semaphore
of ``config.concurrency`` slots, one held by every attempt in flight (hedges included) until that
attempt really ends, even when its caller has stopped waiting for it. With
``concurrency="auto"`` each attempt is also admitted under its scope's adaptive limit
(:mod:`awspar.engines._limiter`) before it takes a slot, and gives its place back with what the
service answered; a request backing off holds no place.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from typing import Any

from awspar._config import DEFAULT_CONFIG, EngineConfig
from awspar._models import FileSink, RawResponse, SignedRequest
from awspar.engines._attempts import (
    HEDGE_WARMUP_POLL,
    Job,
    Outcome,
    Postprocess,
    RequestRun,
    Resign,
    RunPolicy,
    RunWindow,
)
from awspar.engines._urllib3_send import CancelToken
from awspar.engines.base import Accept, Engine, RaceResult, RaceTally

__all__ = ["InlineExecutor", "PooledEngine", "PooledSender"]

# How often a hedge that waits for a free slot checks whether the primary has answered meanwhile.
_HEDGE_SLOT_POLL = 0.005


class InlineExecutor(Executor):
    """Runs each call at once in the caller's thread: the sequential engine's "pool"."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class PooledEngine(Engine):
    """Base of the blocking engines: driver threads, slots, hedges, races.

    ``postprocess`` (``"module:function"``, for the engines that offer it: sequential, threads,
    processes, subinterpreters) is a CPU step applied to each 2xx body held in memory where the
    attempt was made (:class:`~awspar.engines._attempts.Postprocess`); a name that does not load
    is a :class:`~awspar.ConfigurationError` here.
    """

    def __init__(
        self,
        config: EngineConfig = DEFAULT_CONFIG,
        *,
        resign: Resign | None = None,
        postprocess: str | None = None,
    ) -> None:
        super().__init__(config, resign=resign)
        self._postprocess = Postprocess.checked(postprocess)
        self.postprocess = postprocess
        self._slots = threading.BoundedSemaphore(config.max_in_flight)
        self._drivers: Executor | None = None
        self._helpers: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    # -- what a subclass provides ---------------------------------------------------------------
    def _send(self, request: SignedRequest, sink: FileSink | None, cancel: CancelToken) -> Outcome:
        """Make one attempt and wait for it (the caller holds a slot)."""
        raise NotImplementedError

    def _start(self, request: SignedRequest, sink: FileSink | None, cancel: CancelToken) -> Future[Outcome]:
        """Start one attempt in the background (used for hedges); a helper thread by default."""
        with self._lock:
            if self._helpers is None:
                self._helpers = ThreadPoolExecutor(self.config.max_in_flight, thread_name_prefix=f"awspar-{self.name}-hedge")
            helpers = self._helpers
        return helpers.submit(self._send, request, sink, cancel)

    def _driver_threads(self) -> int:
        """Driver threads for map/as_completed: one per request in flight by default."""
        return self.config.max_in_flight

    def _new_drivers(self, threads: int) -> Executor:
        return ThreadPoolExecutor(threads, thread_name_prefix=f"awspar-{self.name}")

    # -- the sync API ----------------------------------------------------------------------------
    def map(self, jobs: Iterable[Job], *, resign: Resign | None = None) -> Iterator[RawResponse]:
        return self._run(jobs, ordered=True, resign=resign)

    def as_completed(self, jobs: Iterable[Job], *, resign: Resign | None = None) -> Iterator[RawResponse]:
        return self._run(jobs, ordered=False, resign=resign)

    def race(self, jobs: Iterable[Job], accept: Accept | None = None, *, resign: Resign | None = None) -> RaceResult:
        tally = RaceTally(accept)
        policy = RunPolicy.for_run(
            self.config, self.resign_for(resign), check_stale=not self.signs_itself, hedging=False
        )
        runs = [RequestRun(index, job, policy) for index, job in enumerate(jobs)]
        stop = threading.Event()
        drivers = self._new_drivers(min(len(runs), self._driver_threads()) or 1)
        finished: queue.SimpleQueue[Future[RawResponse]] = queue.SimpleQueue()

        def collect(block: bool) -> bool:
            while len(tally.results) < submitted:
                try:
                    response = finished.get(block=block).result()
                except queue.Empty:
                    return False
                if tally.record(response):
                    return True
            return False

        submitted = 0
        try:
            for run in runs:
                drivers.submit(self._drive, run, stop).add_done_callback(finished.put)
                submitted += 1
                if collect(block=False):
                    break
            else:
                collect(block=True)
        finally:
            stop.set()
            drivers.shutdown(wait=False, cancel_futures=True)
        now = time.perf_counter()
        return tally.result(len(runs), lambda index: runs[index].cancelled(now))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            drivers, helpers = self._drivers, self._helpers
            self._drivers = self._helpers = None
        for pool in (drivers, helpers):  # queued work is dropped; attempts in flight end first
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def plan_sender(self, resign: Resign | None = None) -> PooledSender:
        """Sends a plan's requests from the thread that runs the plan (no hand-off to a driver
        thread): see :mod:`awspar.engines.plan`."""
        return PooledSender(self, resign)

    # -- scheduling ------------------------------------------------------------------------------
    def _shared_drivers(self) -> Executor:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the {self.name} engine is closed")
            if self._drivers is None:
                self._drivers = self._new_drivers(self._driver_threads())
            return self._drivers

    def _run(self, jobs: Iterable[Job], ordered: bool, resign: Resign | None) -> Iterator[RawResponse]:
        """Feed jobs to the drivers, at most a window ahead of what has been handed out."""
        policy = RunPolicy.for_run(self.config, self.resign_for(resign), check_stale=not self.signs_itself)
        drivers = self._shared_drivers()
        window = RunWindow(ordered=ordered, window=self._window())
        stop = threading.Event()
        finished: queue.SimpleQueue[Future[RawResponse]] = queue.SimpleQueue()
        numbered = enumerate(jobs)
        exhausted = False
        try:
            while True:
                while not exhausted and window.has_room():
                    try:
                        index, job = next(numbered)
                    except StopIteration:
                        exhausted = True
                        break
                    future = drivers.submit(self._drive, RequestRun(index, job, policy), stop)
                    window.started(index, future)
                    future.add_done_callback(finished.put)
                response = window.pop_ready()
                if response is not None:
                    yield response
                    continue
                if not window.pending:
                    return
                window.finished(finished.get().result())
        finally:
            stop.set()
            for future in window.pending.values():
                future.cancel()

    def _drive(self, run: RequestRun, stop: threading.Event) -> RawResponse:
        """Take one request through its attempts, backoffs and re-signing."""
        while True:
            if stop.is_set():
                return run.cancelled()
            request = run.prepare()
            if isinstance(request, RawResponse):
                return request
            admitted = None if self.limits is None else self.limits.admit(request, stop.is_set)
            if self.limits is not None and admitted is None:
                return run.cancelled()
            outcomes: list[Outcome] = []
            won = 0
            try:
                if run.hedged:
                    outcomes, won = self._hedged_attempt(run, request)
                else:
                    outcomes = [self._attempt(run, request)]
            finally:
                if admitted is not None:
                    admitted.done(outcomes[won] if outcomes else None)
            step = run.record(outcomes, won)
            if isinstance(step, RawResponse):
                return step
            if stop.wait(step):
                return run.cancelled()

    def _attempt(self, run: RequestRun, request: SignedRequest) -> Outcome:
        cancel = CancelToken()
        entry = run.track(cancel.cancel)
        try:
            with self._slots:
                return self._send(request, run.sink, cancel)
        finally:
            run.untrack(entry)

    def _launch(self, run: RequestRun, request: SignedRequest, *, slot_taken: bool = False) -> tuple[Future[Outcome], CancelToken]:
        """Start an attempt in the background holding a slot until it really ends."""
        if not slot_taken:
            self._slots.acquire()
        cancel = CancelToken()
        try:
            future = self._start(request, run.sink, cancel)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return future, cancel

    def _hedged_attempt(self, run: RequestRun, request: SignedRequest) -> tuple[list[Outcome], int]:
        """The primary attempt, and a duplicate if it has not answered when the hedge is due."""
        starts = [time.perf_counter()]
        primary, primary_cancel = self._launch(run, request)
        while True:
            due = run.hedge_due_in(starts[0])
            if wait([primary], timeout=HEDGE_WARMUP_POLL if due is None else due).done:
                return [primary.result()], 0
            if due is not None:
                break
        got_slot = False
        while not got_slot and not primary.done():
            got_slot = self._slots.acquire(timeout=_HEDGE_SLOT_POLL)
        # concurrency="auto": a hedge goes out only while its scope's limit has room
        hedge_admitted = None if self.limits is None or primary.done() else self.limits.try_admit(request)
        if primary.done() or (self.limits is not None and hedge_admitted is None):
            if got_slot:  # answered while the hedge waited for a slot, or no room for a hedge
                self._slots.release()
            return [primary.result()], 0
        starts.append(time.perf_counter())
        hedge, hedge_cancel = self._launch(run, request, slot_taken=True)
        if hedge_admitted is not None:
            hedge.add_done_callback(lambda done: hedge_admitted.done(_outcome_of(done)))
        wait([primary, hedge], return_when=FIRST_COMPLETED)
        won = 0 if primary.done() else 1
        (primary_cancel, hedge_cancel)[1 - won].cancel()
        winner = (primary, hedge)[won].result()
        loser = Outcome(start=starts[1 - won], end=time.perf_counter())
        return ([winner, loser] if won == 0 else [loser, winner]), won


def _outcome_of(future: Future[Outcome]) -> Outcome | None:
    """The outcome of a finished attempt, or ``None`` if it was cancelled or raised."""
    if future.cancelled() or future.exception() is not None:
        return None
    return future.result()


class PooledSender:
    """One run of plans on a blocking engine: :meth:`send` drives a request through its attempts
    in the calling thread (a plan's worker thread), :meth:`map` is a run of the engine's own
    drivers (a large object's parts). :meth:`stop` ends every request in flight at once (their
    sockets are aborted), so a stopped run of plans unwinds without waiting for slow answers."""

    def __init__(self, engine: PooledEngine, resign: Resign | None) -> None:
        self._engine = engine
        self._resign = engine.resign_for(resign)
        self._policy = RunPolicy.for_run(engine.config, self._resign, check_stale=not engine.signs_itself)
        self._stop = threading.Event()
        self._active: set[RequestRun] = set()
        self._lock = threading.Lock()

    def send(self, job: Job) -> RawResponse:
        run = RequestRun(0, job, self._policy)
        with self._lock:
            self._active.add(run)
        try:
            return self._engine._drive(run, self._stop)
        finally:
            with self._lock:
                self._active.discard(run)

    def map(self, jobs: Iterable[Job]) -> Iterator[RawResponse]:
        return self._engine.map(jobs, resign=self._resign)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            active = list(self._active)
        for run in active:
            for _, cancel in list(run.inflight):
                cancel()
