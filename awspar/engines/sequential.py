"""The ``sequential`` engine: one request after another in the caller's thread.

The reference answer in tests, and the baseline in benchmarks. Same send path (urllib3), same
retries and re-signing as the parallel engines; only hedges, which need a second request in
flight by definition, run in a helper thread.
"""

from __future__ import annotations

from concurrent.futures import Executor

from awspar.engines._pooled import InlineExecutor
from awspar.engines.threads import ThreadsEngine

__all__ = ["SequentialEngine"]


class SequentialEngine(ThreadsEngine):
    """Sends each job only once the previous one is answered; lazy, in input order."""

    name = "sequential"

    def _new_drivers(self, threads: int) -> Executor:
        return InlineExecutor()

    def _window(self) -> int:
        return 1

    def __repr__(self) -> str:
        return "SequentialEngine()"
