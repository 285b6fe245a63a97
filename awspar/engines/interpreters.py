"""The ``subinterpreters`` engine: isolated interpreters with their own GIL, sending with urllib3.

Python 3.13+ only (:class:`~awspar.EngineUnavailableError` elsewhere). ``config.workers``
interpreters (default: the CPU count) each run ``ceil(concurrency / workers)`` threads that share
one urllib3 pool, so the engine keeps ``concurrency`` requests in flight with only a few
interpreters; each worker is reused for every request of the engine's life
(:mod:`awspar.engines._interp_pool`).

The main interpreter keeps the policy (the shared :class:`~awspar.engines._pooled.PooledEngine`
scheduler: slots, retries, backoff, hedges, races) and re-signs stale requests; a worker only
makes single attempts, receiving ``SignedRequest.to_tuple()`` and answering ``Outcome.to_tuple()``.
Credentials and clients never cross.

``postprocess`` names a function (``"module:function"``, importable in a subinterpreter: standard
library or pure Python) that each worker applies to every 2xx body held in memory, in parallel on
its own GIL: the response carries what it returns (bytes) as its body. This is where a CPU-heavy
step per response (hashing, parsing, decompressing) runs on every core instead of one.
"""

from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import Future
from typing import Any

from awspar._config import DEFAULT_CONFIG, EngineConfig
from awspar._errors import WorkerCrashedError
from awspar._models import FileSink, SignedRequest
from awspar.engines._attempts import Outcome, Postprocess, Resign
from awspar.engines._interp_pool import (
    Cancellation,
    InterpreterPool,
    require_subinterpreters,
)
from awspar.engines._pooled import PooledEngine
from awspar.engines._urllib3_send import CancelToken, make_pool, send_once

__all__ = ["InterpreterEngine"]

class _SendService:
    """What each worker interpreter runs: single urllib3 attempts on one shared pool."""

    def __init__(
        self, threads: int, connect_timeout: float, read_timeout: float, postprocess: str | None
    ) -> None:
        self._pool = make_pool(threads, connect_timeout, read_timeout)
        self._postprocess = None if postprocess is None else Postprocess(postprocess)

    def handle(self, payload: tuple[Any, ...], cancellation: Cancellation) -> tuple[object, ...]:
        (method, url, headers, body), sink = payload
        token = CancelToken()
        cancellation.on_cancel(token.cancel)
        outcome = send_once(self._pool, method, url, dict(headers), body, sink, token)
        if self._postprocess is not None:
            outcome = self._postprocess.apply(outcome)
        return outcome.to_tuple()

    def close(self) -> None:
        self._pool.clear()


class InterpreterEngine(PooledEngine):
    """Isolated subinterpreters (own GIL) sending with urllib3; Python 3.13+.

    ``postprocess``: ``"module:function"`` applied to each 2xx body inside the worker (see the
    module docstring); an exception it raises is raised from ``map``/``as_completed``.

    >>> config = EngineConfig(concurrency=100, workers=2)
    >>> with InterpreterEngine(config, postprocess="zlib:decompress") as engine:  # doctest: +SKIP
    ...     texts = [r.body for r in engine.map(requests)]
    """

    name = "subinterpreters"

    def __init__(
        self,
        config: EngineConfig = DEFAULT_CONFIG,
        *,
        resign: Resign | None = None,
        postprocess: str | None = None,
    ) -> None:
        require_subinterpreters()
        super().__init__(config, resign=resign, postprocess=postprocess)
        self._workers = max(1, min(config.workers or os.cpu_count() or 1, config.max_in_flight))
        self._pool: InterpreterPool | None = None
        self._pool_lock = threading.Lock()

    def start(self) -> InterpreterEngine:
        """Start the worker interpreters now rather than on the first request (they take a moment)."""
        self._interpreters()
        return self

    def _interpreters(self) -> InterpreterPool:
        with self._pool_lock:
            if self._closed:
                raise RuntimeError("the subinterpreters engine is closed")
            if self._pool is None:
                config = self.config
                threads = math.ceil(config.max_in_flight / self._workers)
                self._pool = InterpreterPool(
                    f"{__name__}:_SendService",
                    (threads, config.connect_timeout, config.read_timeout, self.postprocess),
                    workers=self._workers,
                    threads=threads,
                )
            return self._pool

    def _start(self, request: SignedRequest, sink: FileSink | None, cancel: CancelToken) -> Future[Outcome]:
        pool = self._interpreters()
        started = time.perf_counter()
        answer: Future[Outcome] = Future()
        try:
            task = pool.submit((request.to_tuple(), None if sink is None else sink.to_tuple()))
        except WorkerCrashedError as exc:
            answer.set_result(Outcome.failed(started, exc))
            return answer
        cancel.on_cancel(lambda: pool.cancel(task))
        task.add_done_callback(lambda done: _settle(answer, done, started))
        return answer

    def _send(self, request: SignedRequest, sink: FileSink | None, cancel: CancelToken) -> Outcome:
        return self._start(request, sink, cancel).result()

    def close(self) -> None:
        """Let attempts in flight end (as every engine does), then stop the interpreters."""
        super().close()
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def __repr__(self) -> str:
        return f"InterpreterEngine(concurrency={self.config.concurrency}, workers={self._workers})"


def _settle(answer: Future[Outcome], task: Future[Any], started: float) -> None:
    """Turn a worker's answer into the attempt's :class:`Outcome` (a crash is the attempt's error)."""
    error = task.exception()
    if isinstance(error, WorkerCrashedError):
        answer.set_result(Outcome.failed(started, error))
    elif error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(Outcome.from_tuple(task.result()))
