"""A mode is one way to run a workload's N tasks: the seed's seven ways, awspar's engines, the
boto3 baselines and optional peers. Each is prepared before the clock starts (clients, engines,
worker interpreters or processes: the ``setup`` figure), run once per round, then closed.

Families: ``seed`` (the experiment's seven ways, boto3 for the I/O workloads), ``awspar`` (its
engines, or its interpreter pool for CPU work), ``boto3`` (a shared client in a thread pool) and
``peer`` (another library, only when installed).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from awspar.bench.records import Segment, TaskRecord
from awspar.bench.seedways import SEED_WAYS, SUBINTERPRETER_WAYS, run_way, subinterpreters_missing
from awspar.bench.tasks import TaskSpec

__all__ = [
    "SEED_DESCRIPTIONS",
    "Mode",
    "PoolRun",
    "Prepared",
    "SeedRun",
    "module_missing",
    "needs_313",
    "seed_modes",
]

SEED_DESCRIPTIONS = {
    "SINGLE": "a plain for loop",
    "ASYNC": "asyncio tasks, awaited",
    "SUBPROCESS": "one spawned process each",
    "THREADS": "one thread each",
    "SUBINTERPRETER": "a fresh subinterpreter each, one after another",
    "SUBINTERPRETER_THREADS": "a fresh subinterpreter each, each from its own thread",
    "SUBINTERPRETER_SUBPROC": "a subinterpreter each, inside a subprocess each",
}


class Prepared(Protocol):
    """A mode made ready: ``run()`` is timed, ``close()`` is not."""

    def run(self) -> list[TaskRecord]: ...

    def close(self) -> None: ...


def _nothing_missing() -> str | None:
    return None


@dataclass(frozen=True)
class Mode:
    """One way to run a workload. ``prepare(context)`` builds what :meth:`Prepared.run` needs;
    ``missing()`` says why this mode cannot run here (``None`` when it can)."""

    name: str
    family: str
    description: str
    prepare: Callable[[Any], Prepared]
    missing: Callable[[], str | None] = _nothing_missing


def module_missing(module: str, extra: str) -> Callable[[], str | None]:
    """A ``missing`` check: ``module`` must be importable (it comes with ``awspar[extra]``)."""

    def check() -> str | None:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install 'awspar[{extra}]')"
        return None

    return check


def needs_313() -> str | None:
    """A ``missing`` check for anything built on subinterpreters."""
    return subinterpreters_missing()


class SeedRun:
    """The seed's ``way`` over ``specs``; ``SINGLE`` and ``ASYNC`` share one boto3 client made
    here, before the clock, when ``make_client`` is given (the other ways make their own)."""

    def __init__(self, way: str, specs: Sequence[TaskSpec], make_client: Callable[[], Any] | None = None) -> None:
        self.way, self.specs = way, specs
        self.client = make_client() if make_client is not None and way in ("SINGLE", "ASYNC") else None

    def run(self) -> list[TaskRecord]:
        return run_way(self.way, self.specs, self.client)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


class PoolRun:
    """awspar's interpreter pool: one isolated subinterpreter per CPU, made once (setup), reused
    for every task, each driven from its own thread. A task's bar starts when it is submitted; the
    wait for a free interpreter shows as a ``queued`` segment."""

    def __init__(self, specs: Sequence[TaskSpec], workers: int, threads: int = 1) -> None:
        from awspar.engines._interp_pool import InterpreterPool

        self.specs = specs
        self.pool = InterpreterPool("awspar.bench.tasks:TaskService", workers=workers, threads=threads)

    def run(self) -> list[TaskRecord]:
        submitted = []
        for spec in self.specs:
            submitted.append((time.perf_counter(), self.pool.submit(spec)))
        records = []
        for index, (asked, future) in enumerate(submitted):
            try:
                marks = future.result()
            except Exception as exc:  # noqa: BLE001 - one task's failure, kept in its record
                records.append(TaskRecord(index, (Segment("error", asked, time.perf_counter()),), str(exc)))
                continue
            segments = [Segment(kind, start, end) for kind, start, end in marks]
            records.append(TaskRecord(index, (Segment("queued", asked, segments[0].start), *segments)))
        return records

    def close(self) -> None:
        self.pool.close()


def seed_modes(specs: Callable[[Any], Sequence[TaskSpec]], make_client: Callable[[Any], Any] | None = None,
               what: str = "") -> list[Mode]:
    """The seed's seven ways over the tasks ``specs(context)``; ``make_client(context)`` gives
    ``SINGLE``/``ASYNC`` their shared boto3 client for I/O tasks."""

    def prepare(way: str) -> Callable[[Any], Prepared]:
        def build(context: Any) -> Prepared:
            client = None if make_client is None else (lambda: make_client(context))
            return SeedRun(way, specs(context), client)

        return build

    return [
        Mode(way, "seed", SEED_DESCRIPTIONS[way] + what, prepare(way),
             needs_313 if way in SUBINTERPRETER_WAYS else _nothing_missing)
        for way in SEED_WAYS
    ]
