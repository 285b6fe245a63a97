"""The ``sequential`` engine: one request after another in the caller's thread.

The reference answer in tests, and the baseline in benchmarks. Same send path (urllib3), same
retries and re-signing as the parallel engines; no hedges (a hedge is a second request in flight).
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from awspar._config import DEFAULT_CONFIG, EngineConfig
from awspar._errors import ConfigurationError
from awspar.engines._pooled import InlineExecutor
from awspar.engines.threads import ThreadsEngine

__all__ = ["SequentialEngine"]


class SequentialEngine(ThreadsEngine):
    """Sends each job only once the previous one is answered; lazy, in input order. Its
    concurrency is 1 whatever the config says (``"auto"`` included: nothing to adapt). Refuses
    ``hedge_after``: a hedge is a second request in flight, which this engine never has."""

    name = "sequential"

    def __init__(self, config: EngineConfig = DEFAULT_CONFIG, **options: Any) -> None:
        if config.hedge_after is not None:
            raise ConfigurationError("the sequential engine sends one request at a time, so it cannot hedge: "
                                     "drop hedge_after or choose the threads engine")
        super().__init__(config.with_(concurrency=1), **options)

    def _new_drivers(self, threads: int) -> Executor:
        return InlineExecutor()

    def _window(self) -> int:
        return 1

    def __repr__(self) -> str:
        return "SequentialEngine()"
