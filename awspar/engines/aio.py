"""The ``async`` engine: aiohttp on an event loop, natively awaitable.

One ``ClientSession`` per run (one ``amap``/``aas_completed``/``arace`` call) on a
``TCPConnector`` whose ``limit`` is the concurrency. Requests go out exactly as signed:

- the URL is passed as already encoded (``yarl.URL(url, encoded=True)``): re-quoting it would
  change the canonical request and break the signature;
- aiohttp adds none of its automatic headers (``Accept``, ``Accept-Encoding``, ``User-Agent``,
  a default ``Content-Type``) and sends no cookies; only ``Host`` and ``Content-Length`` are
  derived, and they match what was signed;
- bodies are not decompressed.

The sync API (``map``, ``race``...) runs the same coroutines on a private event loop in a helper
thread, so it works from plain code and from inside a running event loop alike (it then blocks
only the calling thread, like any sync call). ``loop="uvloop"`` makes that private loop a uvloop
one (the ``uvloop`` extra; less client CPU per request); the native API runs on the caller's
loop, e.g. under ``uvloop.run(main())``. aiohttp is imported when the engine is created.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import io
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from awspar._config import DEFAULT_CONFIG, EngineConfig
from awspar._errors import (
    AwsparError,
    ConfigurationError,
    ConnectError,
    EngineUnavailableError,
    IncompleteBodyError,
    LocalFileError,
    TimeoutError,
    TransportError,
)
from awspar._loop_thread import LoopThread
from awspar._models import FileSink, RawResponse, SignedRequest, SinkFile
from awspar.engines._attempts import (
    HEDGE_WARMUP_POLL,
    Job,
    Outcome,
    RequestRun,
    Resign,
    RunPolicy,
    RunWindow,
    describe_failure,
    empty_by_range,
)
from awspar.engines.base import Accept, Engine, RaceResult, RaceTally

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp

__all__ = ["EVENT_LOOPS", "AsyncPlanSender", "SKIPPED_AUTO_HEADERS", "AsyncEngine", "aiohttp_error", "loop_factory", "send_as_signed"]

#: Headers aiohttp would add on its own; a signed request carries its own or none.
SKIPPED_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
_NO_BODY_STATUSES = (204, 304)


def _import_aiohttp() -> Any:
    try:
        import aiohttp
        import yarl  # noqa: F401 - aiohttp's own dependency; send_as_signed uses it
    except ImportError as exc:
        raise EngineUnavailableError(
            f"the async engine needs aiohttp ({exc.name} is not installed): pip install 'awspar[async]'"
        ) from None
    return aiohttp


#: The event loops the sync API can run on.
EVENT_LOOPS = ("asyncio", "uvloop")


def loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes a new event loop of kind ``loop`` (one of :data:`EVENT_LOOPS`); uvloop is
    imported here, with a clear error when it is not installed."""
    if loop == "asyncio":
        return asyncio.new_event_loop
    if loop != "uvloop":
        raise ConfigurationError(f"unknown event loop {loop!r}; choose one of: {', '.join(EVENT_LOOPS)}")
    try:
        import uvloop
    except ImportError:
        raise EngineUnavailableError(
            "loop='uvloop' needs uvloop, which is not installed: pip install 'awspar[uvloop]'"
        ) from None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


class AsyncEngine(Engine):
    """aiohttp + asyncio. Use ``async with`` and the ``a``-methods inside a loop, or the sync API
    anywhere.

    >>> async with AsyncEngine(EngineConfig(concurrency=100)) as engine:  # doctest: +SKIP
    ...     async for response in engine.amap(requests):
    ...         ...
    """

    name = "async"
    native_async = True

    def __init__(
        self, config: EngineConfig = DEFAULT_CONFIG, *, resign: Resign | None = None, loop: str = "asyncio"
    ) -> None:
        super().__init__(config, resign=resign)
        self._new_loop = loop_factory(loop)
        #: The kind of event loop the sync API runs on: ``"asyncio"`` or ``"uvloop"``.
        self.event_loop = loop
        self._aiohttp = _import_aiohttp()
        self._portal: LoopThread | None = None
        self._lock = threading.Lock()

    # -- the native API -------------------------------------------------------------------------
    async def amap(
        self, jobs: Iterable[Job] | AsyncIterable[Job], *, resign: Resign | None = None
    ) -> AsyncIterator[RawResponse]:
        """Send every job; yield the responses in input order. Twin of :meth:`Engine.map`."""
        async for response in self._arun(jobs, ordered=True, resign=resign):
            yield response

    async def aas_completed(
        self, jobs: Iterable[Job] | AsyncIterable[Job], *, resign: Resign | None = None
    ) -> AsyncIterator[RawResponse]:
        """Send every job; yield the responses as they finish. Twin of :meth:`Engine.as_completed`."""
        async for response in self._arun(jobs, ordered=False, resign=resign):
            yield response

    async def asend(self, job: Job, *, resign: Resign | None = None) -> RawResponse:
        """Send one job. Twin of :meth:`Engine.send`."""
        async for response in self._arun([job], ordered=True, resign=resign):
            return response
        raise AssertionError("unreachable: one job gives one response")

    async def arace(
        self, jobs: Iterable[Job], accept: Accept | None = None, *, resign: Resign | None = None
    ) -> RaceResult:
        """Race the jobs; losers' tasks are cancelled and their connections closed before this
        returns. Twin of :meth:`Engine.race`."""
        tally = RaceTally(accept)
        policy = RunPolicy.for_run(self.config, self.resign_for(resign), hedging=False)
        runs = [RequestRun(index, job, policy) for index, job in enumerate(jobs)]
        async with self.session() as session:
            sender = _Sender(self, session)
            tasks: dict[asyncio.Future[RawResponse], RequestRun] = {
                asyncio.ensure_future(sender.drive(run)): run for run in runs
            }
            pending = set(tasks)
            won = False
            try:
                while pending and not won:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for task in sorted(done, key=lambda t: tasks[t].index):
                        won = tally.record(task.result()) or won
            finally:
                now = time.perf_counter()
                for task in pending:
                    tally.results[tasks[task].index] = tasks[task].cancelled(now)
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        return tally.result(len(runs), lambda index: runs[index].cancelled(now))

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    # -- the sync API, through a private loop in a helper thread -----------------------------------
    def map(self, jobs: Iterable[Job], *, resign: Resign | None = None) -> Iterator[RawResponse]:
        return self._loop().iterate(lambda: self._arun(jobs, ordered=True, resign=resign), self._window())

    def as_completed(self, jobs: Iterable[Job], *, resign: Resign | None = None) -> Iterator[RawResponse]:
        return self._loop().iterate(lambda: self._arun(jobs, ordered=False, resign=resign), self._window())

    def send(self, job: Job, *, resign: Resign | None = None) -> RawResponse:
        return self._loop().call(lambda: self.asend(job, resign=resign))

    def race(self, jobs: Iterable[Job], accept: Accept | None = None, *, resign: Resign | None = None) -> RaceResult:
        return self._loop().call(lambda: self.arace(jobs, accept, resign=resign))

    def close(self) -> None:
        with self._lock:
            portal, self._portal = self._portal, None
        if portal is not None:
            portal.close()

    def _loop(self) -> LoopThread:
        with self._lock:
            if self._portal is None:
                self._portal = LoopThread(self._new_loop, name="awspar-async-loop")
            return self._portal

    # -- one run -----------------------------------------------------------------------------------
    def session(self) -> aiohttp.ClientSession:
        """A new aiohttp session with this engine's settings: at most ``concurrency`` connections,
        its connect and read timeouts, no automatic headers, cookies, proxies from the environment
        or decompression. For drivers that read a body as it streams (e.g. live Bedrock tokens);
        send with ``yarl.URL(url, encoded=True)`` so that the signed URL is not re-quoted. Use it
        as ``async with engine.session() as session:`` inside a running loop."""
        aiohttp = self._aiohttp
        connector = aiohttp.TCPConnector(limit=self.config.max_in_flight, limit_per_host=0)
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self.config.connect_timeout, sock_read=self.config.read_timeout
            ),
            auto_decompress=False,
            skip_auto_headers=SKIPPED_AUTO_HEADERS,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )
        # aiohttp resends an idempotent request by itself when a reused connection turns out
        # closed (RFC 9112 9.3.1), outside the retry policy and its spans; its own test client
        # turns that off the same way. tests/test_engines_contract.py (every attempt the server
        # saw is a span) fails loudly if this private switch changes.
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        return session

    def sender(self, session: aiohttp.ClientSession) -> _Sender:
        """The attempts loop (retries, backoff, re-signing, spans, the concurrency bound) on
        ``session``, for a driver that reads bodies its own way: ``await sender.drive(run,
        attempt)``, where ``attempt(request)`` sends with :func:`send_as_signed` and returns an
        :class:`~awspar.engines._attempts.Outcome`."""
        return _Sender(self, session)

    @contextlib.asynccontextmanager
    async def aplan_sender(self, resign: Resign | None = None) -> AsyncIterator[AsyncPlanSender]:
        """What plans run on this loop send through (:func:`awspar.engines.plan.arun_plan`): one
        session and one concurrency bound for every request of the run, each request driven in
        the plan's own task. ``async with engine.aplan_sender(resign) as sender:``."""
        async with self.session() as session:
            yield AsyncPlanSender(self, _Sender(self, session), RunPolicy.for_run(self.config, self.resign_for(resign)))

    async def _arun(
        self, jobs: Iterable[Job] | AsyncIterable[Job], ordered: bool, resign: Resign | None,
        shared: tuple[_Sender, RunPolicy] | None = None,
    ) -> AsyncIterator[RawResponse]:
        """Drive the jobs, at most a window ahead of the responses handed out (on ``shared``'s
        session and bound when given, else on a session of their own)."""
        if shared is not None:
            async for response in self._drive_jobs(jobs, ordered, *shared):
                yield response
            return
        policy = RunPolicy.for_run(self.config, self.resign_for(resign))
        async with self.session() as session:
            async for response in self._drive_jobs(jobs, ordered, _Sender(self, session), policy):
                yield response

    async def _drive_jobs(
        self, jobs: Iterable[Job] | AsyncIterable[Job], ordered: bool, sender: _Sender, policy: RunPolicy
    ) -> AsyncIterator[RawResponse]:
        # A task is started only when a slot is free: a task waiting on the semaphore would cost
        # a wake-up per request; the window still lets ordered results run ahead of a slow head.
        window = RunWindow(ordered=ordered, window=self._window(), in_flight=self.config.max_in_flight)
        finished: asyncio.Queue[asyncio.Task[RawResponse]] = asyncio.Queue()
        next_job = _job_source(jobs)
        index = 0
        exhausted = False
        try:
            while True:
                while not exhausted and window.has_room():
                    job = await next_job()
                    if job is _END:
                        exhausted = True
                        break
                    task = asyncio.ensure_future(sender.drive(RequestRun(index, job, policy)))  # type: ignore[arg-type]
                    task.add_done_callback(finished.put_nowait)
                    window.started(index, task)
                    index += 1
                response = window.pop_ready()
                if response is not None:
                    yield response
                    continue
                if not window.pending:
                    return
                window.finished((await finished.get()).result())
        finally:
            tasks = list(window.pending.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class AsyncPlanSender:
    """One run of plans on the loop: :meth:`send` drives one request in the caller's task,
    :meth:`map` a run of several (a large object's parts), on one session and one bound."""

    def __init__(self, engine: AsyncEngine, sender: _Sender, policy: RunPolicy) -> None:
        self._engine = engine
        self._shared = (sender, policy)

    async def send(self, job: Job) -> RawResponse:
        sender, policy = self._shared
        return await sender.drive(RequestRun(0, job, policy))

    def map(self, jobs: Iterable[Job]) -> AsyncIterator[RawResponse]:
        return self._engine._arun(jobs, True, None, self._shared)


_END = object()


def _job_source(jobs: Iterable[Job] | AsyncIterable[Job]) -> Callable[[], Awaitable[Any]]:
    """An awaitable "next job" over a sync or async iterable (``_END`` when exhausted)."""
    if isinstance(jobs, AsyncIterable):
        aiterator = jobs.__aiter__()

        async def next_async() -> Any:
            try:
                return await aiterator.__anext__()
            except StopAsyncIteration:
                return _END

        return next_async
    iterator = iter(jobs)

    async def next_sync() -> Any:
        return next(iterator, _END)

    return next_sync


class _Sender:
    """Attempts, hedges and backoffs for one run, on one session."""

    def __init__(self, engine: AsyncEngine, session: aiohttp.ClientSession) -> None:
        self._session = session
        self._slots = asyncio.Semaphore(engine.config.max_in_flight)
        self._limits = engine.limits

    async def drive(
        self, run: RequestRun, attempt: Callable[[SignedRequest], Awaitable[Outcome]] | None = None
    ) -> RawResponse:
        """Take one request through its attempts, backoffs and re-signing. ``attempt`` replaces
        the plain send (and is never hedged)."""
        while True:
            request = run.prepare()
            if isinstance(request, RawResponse):
                return request
            admitted = None if self._limits is None else await self._limits.aadmit(request)
            entry = run.track(_nothing)  # cancelling the task is what stops the attempt
            outcomes: list[Outcome] = []
            won = 0
            try:
                if attempt is None and run.hedged:
                    outcomes, won = await self._hedged(run, request)
                else:
                    async with self._slots:
                        sent = self._send(request, run.sink) if attempt is None else attempt(request)
                        outcomes = [await sent]
            finally:
                run.untrack(entry)
                if admitted is not None:
                    admitted.done(outcomes[won] if outcomes else None)
            step = run.record(outcomes, won)
            if isinstance(step, RawResponse):
                return step
            await asyncio.sleep(step)

    async def _hedged(self, run: RequestRun, request: SignedRequest) -> tuple[list[Outcome], int]:
        """The primary attempt, and a duplicate (holding its own slot) if it has not answered when
        the hedge is due."""
        sink = run.sink
        starts = [time.perf_counter()]
        primary = asyncio.ensure_future(self._slotted(request, sink, acquire=True))
        hedge: asyncio.Future[Outcome] | None = None
        slot: asyncio.Future[Any] | None = None
        try:
            while True:
                due = run.hedge_due_in(starts[0])
                done, _ = await asyncio.wait({primary}, timeout=HEDGE_WARMUP_POLL if due is None else due)
                if done:
                    return [primary.result()], 0
                if due is not None:
                    break
            slot = asyncio.ensure_future(self._slots.acquire())
            await asyncio.wait({primary, slot}, return_when=asyncio.FIRST_COMPLETED)
            if primary.done():
                return [primary.result()], 0
            # concurrency="auto": a hedge goes out only while its scope's limit has room
            admitted = None if self._limits is None else self._limits.try_admit(request)
            if self._limits is not None and admitted is None:
                return [await primary], 0
            starts.append(time.perf_counter())
            slot = None  # the hedge owns the slot now
            hedge = asyncio.ensure_future(self._slotted(request, sink, acquire=False))
            if admitted is not None:
                hedge.add_done_callback(lambda done: admitted.done(
                    None if done.cancelled() or done.exception() is not None else done.result()))
            await asyncio.wait({primary, hedge}, return_when=asyncio.FIRST_COMPLETED)
            won = 0 if primary.done() else 1
            winner = (primary, hedge)[won].result()
            loser = Outcome(start=starts[1 - won], end=time.perf_counter())
            return ([winner, loser] if won == 0 else [loser, winner]), won
        finally:
            leftovers = [f for f in (primary, hedge) if f is not None and not f.done()]
            if slot is not None:
                if slot.done() and not slot.cancelled():
                    self._slots.release()
                else:
                    leftovers.append(slot)
            for future in leftovers:
                future.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)

    async def _slotted(self, request: SignedRequest, sink: FileSink | None, *, acquire: bool) -> Outcome:
        if acquire:
            await self._slots.acquire()
        try:
            return await self._send(request, sink)
        finally:
            self._slots.release()

    async def _send(self, request: SignedRequest, sink: FileSink | None) -> Outcome:
        """One attempt, exactly as signed; transport trouble comes back in the Outcome."""
        method, url = request.method, request.url
        start = time.perf_counter()
        first_byte: float | None = None
        try:
            async with send_as_signed(self._session, request) as response:
                first_byte = time.perf_counter()
                status = response.status
                headers = dict(response.headers)
                if empty_by_range(status, headers):  # nothing to read, whatever Content-Length says
                    response.close()
                    return Outcome(start, time.perf_counter(), status, headers, b"", None, first_byte)
                expected = _expected_length(method, status, response.content_length)
                path = None
                if sink is None or sink.in_memory(status, expected):
                    body = await response.read()
                    received = len(body)
                else:
                    body = b""
                    received = await _stream_to_file(response, sink)
                    path = sink.path
                if expected is not None and received < expected:
                    raise IncompleteBodyError(f"body ended after {received} of {expected} bytes")
            return Outcome(start, time.perf_counter(), status, headers, body, path, first_byte)
        except LocalFileError as exc:  # the local disk's fault: it names the path, not the URL
            error: AwsparError = exc
        except AwsparError as exc:
            error = type(exc)(describe_failure(method, url, "incomplete body", exc))
        except ValueError as exc:  # an invalid URL or header
            error = TransportError(describe_failure(method, url, "invalid request", exc))
        except Exception as exc:
            mapped = aiohttp_error(method, url, exc, after_headers=first_byte is not None)
            if mapped is None:
                raise
            error = mapped
        return Outcome.failed(start, error)


def send_as_signed(session: aiohttp.ClientSession, request: SignedRequest) -> Any:
    """``session.request(...)`` for ``request`` exactly as signed: the URL passed as already encoded
    (re-quoting it would break the signature), its headers and body, no redirects, and no
    ``Content-Type`` of aiohttp's own (S3 would store it as the object's). A body above 1 MiB
    goes as a buffer written in chunks, so one large upload does not hold the loop. Use it as
    ``async with send_as_signed(session, request) as response:``."""
    import yarl

    body: Any = request.body or None
    if body is not None and len(body) > _LARGE_BODY:
        body = io.BytesIO(body)  # shares the bytes; aiohttp writes it in chunks, yielding between them
    return session.request(
        request.method,
        yarl.URL(request.url, encoded=True),
        headers=request.headers,
        data=body,
        allow_redirects=False,
        skip_auto_headers=_NO_AUTO_CONTENT_TYPE,
    )


# aiohttp warns about (and writes in one go) bodies above this as bytes.
_LARGE_BODY = 1 << 20
_NO_AUTO_CONTENT_TYPE = ("Content-Type",)


def aiohttp_error(
    method: str, url: str, exc: BaseException, *, after_headers: bool = False
) -> AwsparError | None:
    """awspar's most specific error for what aiohttp raised while sending ``method url``, with the
    URL's signature redacted; ``None`` when ``exc`` is not a transport failure (re-raise it).

    ``after_headers``: the response had started, so a broken connection means a body cut short
    (:class:`~awspar.IncompleteBodyError`) rather than a :class:`~awspar.ConnectError`::

        except Exception as exc:
            error = aiohttp_error("GET", url, exc, after_headers=response_started)
            if error is None:
                raise
    """
    import aiohttp

    if isinstance(exc, aiohttp.ClientPayloadError):
        return IncompleteBodyError(describe_failure(method, url, "incomplete body", exc))
    if isinstance(exc, builtins.TimeoutError):  # asyncio.TimeoutError and aiohttp's timeouts
        return TimeoutError(describe_failure(method, url, "timed out", exc))
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        if after_headers:
            return IncompleteBodyError(describe_failure(method, url, "body cut short", exc))
        return ConnectError(describe_failure(method, url, "connection failed", exc))
    return None


def _nothing() -> None:
    return None


def _expected_length(method: str, status: int, content_length: int | None) -> int | None:
    if method == "HEAD" or status in _NO_BODY_STATUSES or 100 <= status < 200:
        return None
    return content_length


async def _stream_to_file(response: Any, sink: FileSink) -> int:
    """Write the body into ``sink.path`` from ``sink.offset``, one chunk at a time: each chunk as
    the socket delivered it (``iter_chunks``), never joined with its neighbours into a copy."""
    written = 0
    with SinkFile(sink.path, sink.offset) as file:
        async for chunk, _ in response.content.iter_chunks():
            file.write(chunk)
            written += len(chunk)
    return written
