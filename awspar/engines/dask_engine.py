"""The ``dask`` engine: signed requests fanned out over a Dask cluster, in batches.

For the work one machine cannot carry (its network card, its cores): the requests are signed
here, cut into batches of ``batch_size``, and each batch goes to a Dask worker as plain tuples.
A worker sends its batch with awspar's ``async`` engine (``threads`` where aiohttp is not
installed) at ``config.concurrency`` requests in flight per worker process, shared evenly by the
worker's threads, and sends back plain tuples. Here they become :class:`~awspar.RawResponse`
again, with the request they answer.

- **Credentials never leave this process.** Workers get signed requests (presigned URLs or
  header-signed requests) and no AWS configuration at all. A request whose signature would be
  stale (``config.resign_margin``) is re-signed here, through ``resign``, when its batch is
  submitted, not earlier; one that went stale while its batch waited on the cluster comes back
  unsent, is re-signed here and goes out again in a new batch.
- **Bounded.** The input is read lazily, a batch at a time, and at most ``max_batches`` batches
  are on the cluster at once (default: two per worker thread), so a million keys never sit in
  the scheduler together; ``map`` also holds at most ``max_batches * batch_size`` finished
  responses waiting for an earlier one.
- **Streaming.** ``as_completed`` yields each batch's responses as the batch finishes; ``map``
  restores the input order.
- **Worker failures.** A worker that dies mid-batch has its batch run again on another worker
  by the scheduler (up to ``distributed.scheduler.allowed-failures`` deaths, 3 by default); a
  batch whose task raises is retried ``retries`` times (Dask's own ``retries=``). The batch's
  requests are then sent again (harmless for reads; for Bedrock it costs tokens twice), and each
  request still gets exactly one response: results are keyed by index and a batch is collected
  once. A batch that fails for good gives each of its requests a
  :class:`~awspar.WorkerCrashedError` response; nothing is lost.
- **Large bodies** go where the job says: a job ``(request, FileSink(path, offset))`` makes the
  worker write the body into ``path``, which must be reachable by the workers (the same machine
  or a shared file system); other bodies come back as bytes.
- **Adaptive concurrency** (``concurrency="auto"``): the limit is kept here, for the whole run:
  a request is submitted only while its scope's limit has room, holds its place while it is on
  the cluster (queued, sent, retried by the worker) and gives it back, with what it met
  (throttled or not), when its batch comes back; batches are as large as the room allows. The
  workers send what they get at once.
- ``race`` sends each call as its own task and judges the answers here (``accept`` never
  travels); the losers still queued are cancelled, one already running finishes on its worker
  and is dropped.

Which cluster: ``client=`` (a ``distributed.Client``, not closed by the engine), else
``scheduler=`` (an address), else Dask's own ``scheduler-address`` setting
(``DASK_SCHEDULER_ADDRESS``), else a try-out ``LocalCluster`` of ``config.workers`` (default:
the CPU count) single-threaded worker processes, started in a child process with no ``AWS_*``
variable (:mod:`awspar.engines._dask_cluster`) and stopped by :meth:`DaskEngine.close`.

>>> from distributed import Client
>>> with DaskEngine(EngineConfig(concurrency=64), client=Client("tcp://scheduler:8786"),
...                 resign=signer.resign) as engine:  # doctest: +SKIP
...     for response in engine.as_completed(signer.presign_many("GetObject", params)):
...         ...

``distributed`` is imported when the engine first needs the cluster.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from awspar._config import DEFAULT_CONFIG, EngineConfig
from awspar._errors import ConfigurationError, EngineUnavailableError, WorkerCrashedError
from awspar._models import FileSink, RawResponse, SignedRequest, Span, redact_url
from awspar.engines._attempts import Job, RequestRun, Resign, RunPolicy, cancelled_error, split_job
from awspar.engines._limiter import Admitted, answer_of_response
from awspar.engines.base import Accept, Engine, RaceResult, RaceTally

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client, Future

    from awspar.engines._dask_cluster import ClusterProcess

__all__ = ["DEFAULT_BATCH_SIZE", "BatchTiming", "DaskEngine", "DaskRunStats", "send_batch"]

#: Requests per batch unless ``batch_size=`` says otherwise.
DEFAULT_BATCH_SIZE = 256
#: Batches on the cluster at once, per worker thread, unless ``max_batches=`` says otherwise.
BATCHES_PER_THREAD = 2
# Rounds a request may come back stale from a worker before it fails (a worker's clock far ahead).
_STALE_ROUNDS = 2

# A request on the wire: (index, method, url, header pairs, body, expires_at, sink (path, offset, memory_limit) or None).
WireRequest = tuple[int, str, str, tuple[tuple[str, str], ...], bytes, "float | None", "tuple[str, int] | None"]
# A response on the wire: (index, status, header pairs, body, span tuples, error, path).
WireResponse = tuple[int, int, tuple[tuple[str, str], ...], bytes, tuple[tuple[Any, ...], ...], "BaseException | None", "str | None"]


# -- on the worker ---------------------------------------------------------------------------------
_worker_engines: dict[tuple[str, EngineConfig], Engine] = {}
_worker_engines_lock = threading.Lock()


def send_batch(items: tuple[WireRequest, ...], config: EngineConfig, engine: str | None = None) -> tuple[Any, ...]:
    """Send one batch on a Dask worker (the task the engine submits); plain data in and out.

    ``engine`` is ``"async"``, ``"threads"``, or ``None`` for async when this worker has aiohttp.
    Returns ``(started, first request, finished, worker address, response tuples, stale indices)``,
    times on this machine's ``time.perf_counter()``. A request whose signature is stale here is
    not sent: its index comes back for the client to re-sign.
    """
    started = time.perf_counter()
    sender = _worker_engine(engine, config)
    jobs = [_job_from_wire(item) for item in items]
    responses: list[WireResponse] = []
    stale: list[int] = []
    first: float | None = None
    for response in sender.as_completed(jobs):
        index = items[response.index][0]
        if _went_stale(response):
            stale.append(index)
            continue
        if response.spans:
            start = min(span.start for span in response.spans)
            first = start if first is None else min(first, start)
        responses.append(_response_to_wire(index, response))
    return started, first, time.perf_counter(), _worker_address(), tuple(responses), tuple(stale)


def _worker_engine(name: str | None, config: EngineConfig) -> Engine:
    """This worker process's engine for ``config``, made once and reused by every batch.

    The threads engine shares its slots among the batches running at once, so it gets the
    worker's whole concurrency; the async engine bounds each run on its own, so each of the
    worker's threads gets an equal share.
    """
    from awspar.engines import get_engine

    if name is None:
        name = "async" if importlib.util.find_spec("aiohttp") is not None else "threads"
    if name == "async":
        config = config.with_(concurrency=math.ceil(config.max_in_flight / _worker_threads()))
    with _worker_engines_lock:
        engine = _worker_engines.get((name, config))
        if engine is None:
            engine = _worker_engines[(name, config)] = get_engine(name, config)
        return engine


def _worker_threads() -> int:
    try:
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError):  # not on a Dask worker
        return 1


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return ""


def _went_stale(response: RawResponse) -> bool:
    """True for a request the worker's engine refused to send because its signature is stale
    (the only configuration error an engine without a resign callback makes, before any attempt)."""
    return isinstance(response.error, ConfigurationError) and not response.spans


def _job_from_wire(item: WireRequest) -> Job:
    _, method, url, headers, body, expires_at, sink = item
    request = SignedRequest(method, url, dict(headers), body, expires_at=expires_at)
    return request if sink is None else (request, FileSink(*sink))


def _request_to_wire(index: int, request: SignedRequest, sink: FileSink | None) -> WireRequest:
    return (index, request.method, request.url, tuple(request.headers.items()), request.body, request.expires_at,
            None if sink is None else sink.to_tuple())


def _response_to_wire(index: int, response: RawResponse) -> WireResponse:
    spans = tuple((s.start, s.end, s.first_byte, s.attempt, s.outcome, s.status) for s in response.spans)
    return (index, response.status, tuple(response.headers.items()), response.body, spans, response.error,
            response.path)


def _response_from_wire(data: WireResponse, request: SignedRequest) -> RawResponse:
    index, status, headers, body, spans, error, path = data
    return RawResponse(index, status, dict(headers), body, tuple(Span(*s) for s in spans), error, path, request)


# -- on the client ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchTiming:
    """One batch's life. ``submitted`` and ``received`` are the client's ``perf_counter()``;
    ``started`` / ``first_request`` / ``finished`` the worker's, comparable with the client's
    only when the worker runs on the same machine (Linux: one system-wide clock)."""

    number: int
    size: int
    worker: str
    submitted: float
    started: float
    first_request: float | None
    finished: float
    received: float

    @property
    def overhead(self) -> float | None:
        """Seconds from submitting the batch to its first request leaving the worker."""
        return None if self.first_request is None else self.first_request - self.submitted


@dataclass
class DaskRunStats:
    """What one run (``map``, ``as_completed`` or ``race``) did on the cluster."""

    batch_size: int
    max_batches: int
    batches: int = 0
    peak_batches: int = 0
    resubmitted: int = 0
    failed_batches: int = 0
    duplicates: int = 0
    timings: list[BatchTiming] = field(default_factory=list)


@dataclass
class _Batch:
    """A batch on the cluster: its requests by index (with how often each came back stale)."""

    number: int
    requests: dict[int, tuple[SignedRequest, FileSink | None, int]]
    submitted: float = 0.0


class DaskEngine(Engine):
    """Sends signed requests from Dask workers; see the module docstring for the cluster it uses.

    ``batch_size``: requests per task (default :data:`DEFAULT_BATCH_SIZE`). ``max_batches``:
    batches on the cluster at once (default: :data:`BATCHES_PER_THREAD` per worker thread).
    ``worker_engine``: ``"async"`` or ``"threads"`` on the workers (default: async where aiohttp
    is installed). ``retries``: Dask retries of a batch whose task raised. ``config.concurrency``
    is per worker process. After each run, :attr:`last_run` tells what it did.

    >>> with DaskEngine(scheduler="tcp://10.0.0.5:8786", resign=signer.resign) as engine:  # doctest: +SKIP
    ...     responses = list(engine.map(requests))
    """

    name = "dask"

    def __init__(
        self,
        config: EngineConfig = DEFAULT_CONFIG,
        *,
        resign: Resign | None = None,
        client: Client | None = None,
        scheduler: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_batches: int | None = None,
        worker_engine: str | None = None,
        retries: int = 2,
    ) -> None:
        super().__init__(config, resign=resign)
        if client is not None and scheduler is not None:
            raise ConfigurationError("give the dask engine a client or a scheduler address, not both")
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be at least 1, not {batch_size}")
        if max_batches is not None and max_batches < 1:
            raise ConfigurationError(f"max_batches must be at least 1, not {max_batches}")
        if worker_engine not in (None, "async", "threads"):
            raise ConfigurationError(f"worker_engine must be 'async' or 'threads', not {worker_engine!r}")
        if retries < 0:
            raise ConfigurationError(f"retries must not be negative, not {retries}")
        _import_distributed()
        self.batch_size = batch_size
        self.max_batches = max_batches
        self.worker_engine = worker_engine
        self.retries = retries
        self.last_run: DaskRunStats | None = None
        self._client = client
        self._owns_client = client is None
        self._scheduler = scheduler
        self._cluster: ClusterProcess | None = None
        self._lock = threading.Lock()
        self._closed = False

    # -- the cluster -----------------------------------------------------------------------------
    @property
    def client(self) -> Client:
        """The ``distributed.Client`` (connecting, or starting a local cluster, on first use)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the dask engine is closed")
            if self._client is None:
                self._client = self._connect()
            return self._client

    def start(self) -> DaskEngine:
        """Connect (or start the local cluster) now rather than on the first request."""
        _ = self.client
        return self

    def _connect(self) -> Client:
        import dask
        from distributed import Client

        address = self._scheduler or dask.config.get("scheduler-address", None)
        if not address:
            from awspar.engines._dask_cluster import ClusterProcess

            self._cluster = ClusterProcess(workers=self.config.workers or os.cpu_count() or 1).start()
            address = self._cluster.address
        try:
            return Client(address, timeout=self.config.connect_timeout, set_as_default=False)
        except (OSError, ValueError, TypeError) as exc:
            self._stop_cluster()
            raise EngineUnavailableError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from None

    def _batch_limit(self, client: Client) -> int:
        if self.max_batches is not None:
            return self.max_batches
        threads = sum(int(w.get("nthreads", 1)) for w in client.scheduler_info()["workers"].values())
        return max(2, BATCHES_PER_THREAD * threads)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None and self._owns_client:
            client.close()
        self._stop_cluster()

    def _stop_cluster(self) -> None:
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.stop()

    # -- the sync API ----------------------------------------------------------------------------
    def map(self, jobs: Iterable[Job], *, resign: Resign | None = None) -> Iterator[RawResponse]:
        return self._run(jobs, ordered=True, resign=resign)

    def as_completed(self, jobs: Iterable[Job], *, resign: Resign | None = None) -> Iterator[RawResponse]:
        return self._run(jobs, ordered=False, resign=resign)

    def race(self, jobs: Iterable[Job], accept: Accept | None = None, *, resign: Resign | None = None) -> RaceResult:
        tally = RaceTally(accept)
        run = _Run(self, self.client, ordered=False, batch_size=1, limit=None, resign=resign)
        count = 0
        won = False
        try:
            for number, job in enumerate(jobs):
                while not won and not run.admit(number, job):  # concurrency="auto": no room yet
                    for response in run.next_responses():
                        won = tally.record(response) or won
                if won:
                    break
                run.submit_new([(number, job)])
                count += 1
            while not won and len(tally.results) < count:
                for response in run.next_responses():
                    won = tally.record(response) or won
        finally:
            for index, request in run.abandon():
                tally.results.setdefault(index, RawResponse(index, error=cancelled_error(0), request=request))
        return tally.result(count, lambda index: RawResponse(index, error=cancelled_error(0)))

    def _run(self, jobs: Iterable[Job], ordered: bool, resign: Resign | None) -> Iterator[RawResponse]:
        client = self.client
        limit = self._batch_limit(client)
        run = _Run(self, client, ordered=ordered, batch_size=self.batch_size, limit=limit, resign=resign)
        source = _AdmittedChunks(enumerate(jobs), self.batch_size, run)
        try:
            while True:
                while run.has_room():
                    if run.resubmit_stale():
                        continue
                    if source.exhausted or not run.may_read_more():
                        break
                    chunk = source.next_chunk()
                    if chunk:
                        run.submit_new(chunk)
                    if source.waiting:  # concurrency="auto": the limit is full until a batch comes back
                        break
                yield from run.drain()
                if run.on_cluster():
                    run.receive()
                elif source.waiting:  # the limit is held by another run of this engine
                    source.wait()
                elif source.exhausted:
                    return
                # else: handing out answers made room to read more
        finally:
            run.abandon()

    def __repr__(self) -> str:
        return (f"DaskEngine(concurrency={self.config.concurrency}, batch_size={self.batch_size}, "
                f"max_batches={self.max_batches})")


class _AdmittedChunks:
    """The next batch of numbered jobs, read only when asked for: ``size`` of them, or with
    ``concurrency="auto"`` as many as the limits admit now (a job refused waits, ``waiting``, for
    the next call)."""

    def __init__(self, numbered: Iterator[tuple[int, Job]], size: int, run: _Run) -> None:
        self._numbered = numbered
        self._size = size
        self._run = run
        self._held: tuple[int, Job] | None = None
        self.exhausted = False

    @property
    def waiting(self) -> bool:
        return self._held is not None

    def next_chunk(self) -> list[tuple[int, Job]]:
        chunk: list[tuple[int, Job]] = []
        while len(chunk) < self._size:
            item, self._held = self._held or next(self._numbered, None), None
            if item is None:
                self.exhausted = True
                break
            if not self._run.admit(*item):
                self._held = item
                break
            chunk.append(item)
        return chunk

    def wait(self) -> None:
        """Block until the job held back is admitted."""
        if self._held is not None:
            self._run.admit(*self._held, block=True)
            self._run.submit_new([self._held])
            self._held = None


class _Run:
    """One run's batches on the cluster: submitting, collecting, re-signing (with the run's
    ``resign``, else the engine's), delivering."""

    def __init__(
        self, engine: DaskEngine, client: Client, *, ordered: bool, batch_size: int, limit: int | None,
        resign: Resign | None = None,
    ) -> None:
        self._engine = engine
        self._client = client
        self._ordered = ordered
        self._limit = limit
        self._policy = RunPolicy.for_run(engine.config, engine.resign_for(resign), hedging=False)
        self._prefix = f"awspar-batch-{uuid.uuid4().hex[:12]}"
        self._numbers = itertools.count()
        self._finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
        self._pending: dict[str, tuple[Future, _Batch]] = {}
        self._stale: deque[tuple[int, SignedRequest, FileSink | None, int]] = deque()
        self._ready: dict[int, RawResponse] = {}  # ordered: finished, waiting for an earlier one
        self._outbox: deque[RawResponse] = deque()
        self._next_out = 0
        # concurrency="auto": every request on the cluster holds a place under its scope's limit,
        # taken here when it is submitted and given back when its batch comes back, so the limit
        # holds for the whole run however many workers there are (they send at a fixed concurrency)
        self._limits = engine.limits
        self._admitted: dict[int, Admitted] = {}
        self.stats = DaskRunStats(batch_size, limit or 0)
        engine.last_run = self.stats

    # -- flow control ----------------------------------------------------------------------------
    def has_room(self) -> bool:
        return self._limit is None or len(self._pending) < self._limit

    def may_read_more(self) -> bool:
        """Ordered runs stop reading while too many answers wait for an earlier one."""
        return self._limit is None or len(self._ready) < self._limit * self.stats.batch_size

    def on_cluster(self) -> bool:
        """True while batches are out (or requests wait to go out again after going stale)."""
        return bool(self._pending or self._stale)

    # -- submitting ------------------------------------------------------------------------------
    def admit(self, index: int, job: Job, *, block: bool = False) -> bool:
        """Take a place for job ``index`` under its scope's limit (always True for a fixed
        concurrency); ``block`` waits for one."""
        if self._limits is None:
            return True
        request = split_job(job)[0]
        admitted = self._limits.admit(request, lambda: False) if block else self._limits.try_admit(request)
        if admitted is None:
            return False
        self._admitted[index] = admitted
        return True

    def submit_new(self, chunk: list[tuple[int, Job]]) -> None:
        """Prepare (re-signing what would be stale now) and submit one batch of new jobs."""
        requests: dict[int, tuple[SignedRequest, FileSink | None, int]] = {}
        for index, job in chunk:
            run = RequestRun(index, job, self._policy)
            self._add(requests, run, 0)
        self._submit(requests)

    def resubmit_stale(self) -> bool:
        """Re-sign the requests that came back stale and submit them as one batch; False if none."""
        if not self._stale:
            return False
        requests: dict[int, tuple[SignedRequest, FileSink | None, int]] = {}
        while self._stale and len(requests) < self.stats.batch_size:
            index, request, sink, rounds = self._stale.popleft()
            if rounds >= _STALE_ROUNDS:
                self._deliver(RawResponse(index, error=ConfigurationError(
                    f"request {index} ({request.operation or request.method}) came back stale from the "
                    f"workers {rounds} times, the last right after being re-signed: is a worker's clock ahead?"),
                    request=request))
                continue
            expired = SignedRequest(request.method, request.url, request.headers, request.body,
                                    request.operation, 0.0, request.params)  # forces prepare() to re-sign
            self._add(requests, RequestRun(index, expired if sink is None else (expired, sink), self._policy),
                      rounds)
            self.stats.resubmitted += 1
        self._submit(requests)
        return True

    def _add(self, requests: dict[int, tuple[SignedRequest, FileSink | None, int]], run: RequestRun,
             rounds: int) -> None:
        prepared = run.prepare()
        if isinstance(prepared, RawResponse):  # could not be re-signed: answered here, never sent
            self._deliver(prepared)
        else:
            requests[run.index] = (prepared, run.sink, rounds)

    def _submit(self, requests: dict[int, tuple[SignedRequest, FileSink | None, int]]) -> None:
        if not requests:
            return
        batch = _Batch(next(self._numbers), requests)
        items = tuple(_request_to_wire(i, request, sink) for i, (request, sink, _) in requests.items())
        engine = self._engine
        key = f"{self._prefix}-{batch.number}"
        batch.submitted = time.perf_counter()
        future = self._client.submit(send_batch, items, engine.config, engine.worker_engine, key=key,
                                     retries=engine.retries, pure=False)
        self._pending[key] = (future, batch)
        future.add_done_callback(self._finished.put)
        self.stats.batches += 1
        self.stats.peak_batches = max(self.stats.peak_batches, len(self._pending))

    # -- collecting ------------------------------------------------------------------------------
    def receive(self) -> None:
        """Wait for the next batch to finish and take its responses (a batch counts once)."""
        if not self._pending:
            return
        future = self._finished.get()
        entry = self._pending.pop(str(future.key), None)
        if entry is None:
            self.stats.duplicates += 1
            return
        _, batch = entry
        received = time.perf_counter()
        try:
            started, first, finished, worker, responses, stale = future.result()
        except Exception as exc:  # noqa: BLE001 - failed for good: retries used up, workers died, or cancelled
            self.stats.failed_batches += 1
            error = WorkerCrashedError(redact_url(
                f"batch {batch.number} ({len(batch.requests)} requests) failed on the Dask cluster: "
                f"{type(exc).__name__}: {exc}"))
            for index, (request, _, _) in batch.requests.items():
                self._deliver(RawResponse(index, error=error, request=request))
            return
        finally:
            future.release()
        self.stats.timings.append(BatchTiming(batch.number, len(batch.requests), worker, batch.submitted,
                                              started, first, finished, received))
        waiting = dict(batch.requests)
        for data in responses:
            entry_request = waiting.pop(data[0], None)
            if entry_request is None:
                self.stats.duplicates += 1
                continue
            self._deliver(_response_from_wire(data, entry_request[0]))
        for index in stale:
            if index in waiting:
                request, sink, rounds = waiting.pop(index)
                self._stale.append((index, request, sink, rounds + 1))
        for index, (request, _, _) in waiting.items():  # never answered: say so rather than lose it
            self._deliver(RawResponse(index, error=WorkerCrashedError(
                f"batch {batch.number} came back without request {index}"), request=request))

    def next_responses(self) -> list[RawResponse]:
        """The responses ready now, else those of the next batch to finish (what came back stale
        goes out again first)."""
        while self.resubmit_stale():
            pass
        if not self._outbox and self._pending:
            self.receive()
        return list(self.drain())

    def _deliver(self, response: RawResponse) -> None:
        admitted = self._admitted.pop(response.index, None)
        if admitted is not None:
            admitted.done_with(answer_of_response(response))
        if self._ordered:
            self._ready[response.index] = response
        else:
            self._outbox.append(response)

    def drain(self) -> Iterator[RawResponse]:
        """The responses that may be handed out now (in input order for an ordered run)."""
        while self._outbox:
            yield self._outbox.popleft()
        while self._next_out in self._ready:
            self._next_out += 1
            yield self._ready.pop(self._next_out - 1)

    def abandon(self) -> list[tuple[int, SignedRequest]]:
        """Cancel the batches still on the cluster; the requests they held."""
        entries = list(self._pending.values())
        self._pending.clear()
        if entries:
            self._client.cancel([future for future, _ in entries])
        held = [(index, request) for _, batch in entries for index, (request, _, _) in batch.requests.items()]
        held.extend((index, request) for index, request, _, _ in self._stale)
        self._stale.clear()
        for admitted in self._admitted.values():
            admitted.done_with("ignore")
        self._admitted.clear()
        return held


def _import_distributed() -> None:
    if importlib.util.find_spec("distributed") is None:
        raise EngineUnavailableError(
            "the dask engine needs Dask's distributed scheduler (not installed): pip install 'awspar[dask]'"
        )
