"""The ``threads`` engine: urllib3 in a bounded thread pool, with one shared connection pool.

One ``urllib3.PoolManager`` serves the whole engine, sized to the concurrency (``maxsize``) and
blocking when every connection is busy (``block=True``), so urllib3 never opens a connection it
has to discard ("connection pool is full"). The pool lives as long as the engine, so connections
are reused across calls (and across warm AWS Lambda invocations when the engine is global).

``threads`` picks the number of driver threads (default: the concurrency). More threads than
requests in flight only add GIL hand-offs; ``benchmarks/bench_engines.py`` measures the choice.
"""

from __future__ import annotations

from awspar._config import DEFAULT_CONFIG, EngineConfig
from awspar._errors import ConfigurationError
from awspar._models import FileSink, SignedRequest
from awspar.engines._attempts import Outcome, Resign
from awspar.engines._pooled import PooledEngine
from awspar.engines._urllib3_send import CancelToken, make_pool, send_once

__all__ = ["ThreadsEngine"]


class ThreadsEngine(PooledEngine):
    """urllib3 + threads. ``threads``: driver threads (default ``config.concurrency``);
    ``postprocess``: ``"module:function"`` applied to each 2xx body in the driver thread (see
    :class:`~awspar.engines._pooled.PooledEngine`).

    >>> with ThreadsEngine(EngineConfig(concurrency=32)) as engine:  # doctest: +SKIP
    ...     bodies = [r.body for r in engine.map(requests)]
    """

    name = "threads"

    def __init__(
        self,
        config: EngineConfig = DEFAULT_CONFIG,
        *,
        resign: Resign | None = None,
        threads: int | None = None,
        postprocess: str | None = None,
    ) -> None:
        super().__init__(config, resign=resign, postprocess=postprocess)
        if threads is not None and threads < 1:
            raise ConfigurationError(f"threads must be at least 1, not {threads}")
        self._threads = threads or config.max_in_flight
        self._pool = make_pool(config.max_in_flight, config.connect_timeout, config.read_timeout)

    def _driver_threads(self) -> int:
        return self._threads

    def _send(self, request: SignedRequest, sink: FileSink | None, cancel: CancelToken) -> Outcome:
        target = None if sink is None else sink.to_tuple()
        outcome = send_once(self._pool, request.method, request.url, request.headers, request.body, target, cancel)
        return outcome if self._postprocess is None else self._postprocess.apply(outcome)

    def close(self) -> None:
        super().close()
        self._pool.clear()

    def __repr__(self) -> str:
        return f"ThreadsEngine(concurrency={self.config.concurrency}, threads={self._threads})"
