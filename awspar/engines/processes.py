"""The ``processes`` engine: worker processes, each with its own urllib3 pool and threads.

Only plain data crosses: a request goes out as ``SignedRequest.to_tuple()`` (and a file sink as
``(path, offset)``), an answer comes back as ``Outcome.to_tuple()``. Workers hold no credentials
and no clients; re-signing, retries, backoff and hedging stay in the parent (the shared
:class:`~awspar.engines._pooled.PooledEngine` policy), so a worker only ever makes single attempts.

Workers are started with ``forkserver`` where available, else ``spawn`` (``fork`` would copy the
parent's threads and locks mid-flight). Each runs ``ceil(concurrency / workers)`` threads, so the
engine as a whole can keep ``concurrency`` requests in flight. A worker that dies fails the
attempts it held with :class:`~awspar.WorkerCrashedError` (not retried: the request may have had
effects) and is replaced for the next ones. Cancelling an attempt (a race or hedge loser) sends the
worker a cancel message for that call: it shuts the attempt's socket down even before the first
byte, so the server sees the disconnect at once.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import pickle
import threading
import time
from concurrent.futures import Future
from typing import Any

from awspar._config import DEFAULT_CONFIG, EngineConfig
from awspar._errors import WorkerCrashedError
from awspar._models import FileSink, SignedRequest
from awspar.engines._attempts import Outcome, Resign
from awspar.engines._pooled import PooledEngine
from awspar.engines._urllib3_send import CancelToken

__all__ = ["ProcessEngine"]

# Messages, parent -> worker: (_TASK, id, request tuple, sink), (_CANCEL, id), or _STOP.
_TASK, _CANCEL, _STOP = "task", "cancel", None
# Worker -> parent: _READY once it can send, then (id, True, outcome tuple) per call, or
# (id, False, exception) when the postprocess step raised.
_READY = "ready"


def _start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _worker_main(
    conn: Any, threads: int, connect_timeout: float, read_timeout: float, postprocess: str | None
) -> None:
    """A worker: receive tasks ``(_TASK, id, request tuple, sink)`` and answer ``(id, True,
    outcome tuple)`` from a thread pool sharing one urllib3 pool, after the ``postprocess`` step
    if any; ``(_CANCEL, id)`` aborts that attempt wherever it is (even before its first byte).
    Exits when the parent says so or goes away. Ignores SIGINT: Ctrl-C reaches the whole
    process group, and it is the parent that stops the run (and its workers), without a
    KeyboardInterrupt traceback from each worker."""
    import signal
    from concurrent.futures import ThreadPoolExecutor

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    from awspar.engines._attempts import Postprocess
    from awspar.engines._urllib3_send import CancelToken, make_pool, send_once

    step = None if postprocess is None else Postprocess(postprocess)
    pool = make_pool(threads, connect_timeout, read_timeout)
    send_lock = threading.Lock()
    tokens: dict[int, CancelToken] = {}  # received and not yet answered
    conn.send(_READY)

    def attempt(call_id: int, request: tuple[Any, ...], sink: tuple[str, int] | None) -> None:
        method, url, headers, body = request
        try:
            outcome = send_once(pool, method, url, dict(headers), body, sink, tokens[call_id])
            if step is not None:
                outcome = step.apply(outcome)
            answer: tuple[Any, ...] = (call_id, True, outcome.to_tuple())
        except Exception as exc:  # the postprocess step's own error: raised in the parent
            answer = (call_id, False, _portable(exc))
        finally:
            tokens.pop(call_id, None)
        with send_lock:
            try:
                conn.send(answer)
            except (pickle.PicklingError, TypeError, AttributeError):  # an exception that does not pickle
                conn.send((call_id, False, RuntimeError(f"{type(answer[2]).__name__}: {answer[2]}")))

    with ThreadPoolExecutor(threads, thread_name_prefix="awspar-process-worker") as executor:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if message is _STOP:
                break
            if message[0] == _TASK:
                _, call_id, request, sink = message
                tokens[call_id] = CancelToken()
                executor.submit(attempt, call_id, request, sink)
            elif message[0] == _CANCEL and (token := tokens.get(message[1])) is not None:
                token.cancel()
        for token in list(tokens.values()):  # stopping: abort what still runs
            token.cancel()
    pool.clear()


def _portable(exc: Exception) -> Exception:
    """``exc`` if it survives a pickle round trip (the parent must be able to load it, or the
    answer would be lost), else a :class:`RuntimeError` with its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - whatever stops the round trip, the text still crosses
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


class _Worker:
    """One worker process as seen from the parent: its pipe, its reader thread, its open calls."""

    def __init__(self, ctx: Any, threads: int, config: EngineConfig, postprocess: str | None) -> None:
        self._conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=_worker_main,
            args=(child, threads, config.connect_timeout, config.read_timeout, postprocess),
            name="awspar-process-worker",
            daemon=True,
        )
        self.process.start()
        child.close()
        self._calls: dict[int, Future[Outcome]] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self.alive = True
        self._ready = threading.Event()
        threading.Thread(target=self._read, name="awspar-process-reader", daemon=True).start()

    @property
    def load(self) -> int:
        return len(self._calls)

    def submit(self, request: SignedRequest, sink: FileSink | None, cancel: CancelToken) -> Future[Outcome]:
        """Hand one attempt to the worker; cancelling ``cancel`` aborts it there."""
        future: Future[Outcome] = Future()
        with self._lock:
            if not self.alive:
                future.set_result(Outcome.failed(time.perf_counter(), _crashed(self.process)))
                return future
            call_id = next(self._ids)
            self._calls[call_id] = future
            target = None if sink is None else sink.to_tuple()
            try:
                self._conn.send((_TASK, call_id, request.to_tuple(), target))
            except (OSError, ValueError):
                self._calls.pop(call_id)
                future.set_result(Outcome.failed(time.perf_counter(), _crashed(self.process)))
                return future
        cancel.on_cancel(lambda: self._cancel(call_id))
        return future

    def _cancel(self, call_id: int) -> None:
        """Ask the worker to abort a call it still holds (its answer still comes back)."""
        with self._lock:
            if call_id in self._calls and self.alive:
                try:
                    self._conn.send((_CANCEL, call_id))
                except (OSError, ValueError):
                    pass

    def wait_ready(self, timeout: float) -> None:
        """Block until the worker can send (or raise :class:`WorkerCrashedError` if it never will)."""
        if not self._ready.wait(timeout):
            raise WorkerCrashedError(f"worker process {self.process.pid} was not ready after {timeout:g} s")
        if not self.alive:
            raise _crashed(self.process)

    def _read(self) -> None:
        """Hand each answer to its call's future; when the pipe ends (or breaks), fail the rest.

        Nothing that one answer does may stop this thread: a call whose answer is never read
        would leave its caller (and the engine's ``close``) waiting for ever.
        """
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                break
            except Exception:  # noqa: BLE001 - an answer that does not unpickle: whose is unknown, so
                self.process.kill()  # give up on this worker; its calls fail below and it is replaced
                break
            if message == _READY:
                self._ready.set()
                continue
            call_id, ok, data = message
            with self._lock:
                future = self._calls.pop(call_id, None)
            if future is None:
                continue
            try:
                if ok:
                    future.set_result(Outcome.from_tuple(data))
                else:
                    future.set_exception(data)
            except Exception as exc:  # noqa: BLE001 - a malformed answer still ends its call
                if not future.done():
                    future.set_exception(WorkerCrashedError(f"unreadable answer from worker process "
                                                            f"{self.process.pid}: {type(exc).__name__}"))
        self.process.join(timeout=1)
        with self._lock:
            self.alive = False
            orphans, self._calls = self._calls, {}
        self._ready.set()  # never will be: wake whoever waits
        for future in orphans.values():
            future.set_result(Outcome.failed(time.perf_counter(), _crashed(self.process)))

    def stop(self) -> None:
        with self._lock:
            self.alive = False
        try:
            self._conn.send(_STOP)
        except (OSError, ValueError):
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self._conn.close()


def _crashed(process: Any) -> WorkerCrashedError:
    return WorkerCrashedError(
        f"worker process {process.pid} died (exit code {process.exitcode}) while it held this request",
        pid=process.pid,
        exitcode=process.exitcode,
    )


class ProcessEngine(PooledEngine):
    """Worker processes (``config.workers``, default: the CPU count) sending with urllib3.
    ``postprocess``: ``"module:function"`` applied to each 2xx body inside the worker (see
    :class:`~awspar.engines._pooled.PooledEngine`).

    >>> with ProcessEngine(EngineConfig(concurrency=64, workers=4)) as engine:  # doctest: +SKIP
    ...     responses = list(engine.map(requests))
    """

    name = "processes"

    def __init__(
        self,
        config: EngineConfig = DEFAULT_CONFIG,
        *,
        resign: Resign | None = None,
        postprocess: str | None = None,
    ) -> None:
        super().__init__(config, resign=resign, postprocess=postprocess)
        self._count = config.workers or os.cpu_count() or 1
        self._threads = math.ceil(config.max_in_flight / self._count)
        self._ctx = multiprocessing.get_context(_start_method())
        self._workers: list[_Worker] = []
        self._workers_lock = threading.Lock()

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers (started on first use)."""
        with self._workers_lock:
            return [w.process.pid for w in self._workers if w.alive]

    def start(self, timeout: float = 60.0) -> ProcessEngine:
        """Start the workers now rather than on the first request, and wait until every one is
        ready to send (they take a moment: a timed run should not measure it).

        Raises :class:`~awspar.WorkerCrashedError` if a worker dies or is not ready in ``timeout``
        seconds.
        """
        with self._workers_lock:
            if self._closed:
                raise RuntimeError("the processes engine is closed")
            self._ensure_workers()
            workers = list(self._workers)
        for worker in workers:
            worker.wait_ready(timeout)
        return self

    def _ensure_workers(self) -> None:
        self._workers = [w for w in self._workers if w.alive]
        while len(self._workers) < self._count:
            self._workers.append(_Worker(self._ctx, self._threads, self.config, self.postprocess))

    def _start(self, request: SignedRequest, sink: FileSink | None, cancel: CancelToken) -> Future[Outcome]:
        with self._workers_lock:
            if self._closed:
                raise RuntimeError("the processes engine is closed")
            self._ensure_workers()
            worker = min(self._workers, key=lambda w: w.load)
        return worker.submit(request, sink, cancel)

    def _send(self, request: SignedRequest, sink: FileSink | None, cancel: CancelToken) -> Outcome:
        return self._start(request, sink, cancel).result()

    def close(self) -> None:
        """Stop the workers, then the driver threads.

        The workers go first: an attempt still in flight is aborted there (its caller gets a
        :class:`~awspar.CancelledError` outcome), and a call whose worker never answers fails
        with :class:`~awspar.WorkerCrashedError` once the worker is gone, so no driver thread can
        keep ``close`` waiting (within the workers' 5 s stop grace, then a kill).
        """
        with self._workers_lock:
            with self._lock:
                self._closed = True  # no new worker from here on (see _start)
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop()
        super().close()

    def __repr__(self) -> str:
        return f"ProcessEngine(concurrency={self.config.concurrency}, workers={self._count})"
