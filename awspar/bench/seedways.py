"""The seed's seven ways to run N tasks, one task each, exactly as the experiment did.

======================== ======================================================================
``SINGLE``               a plain for loop
``ASYNC``                asyncio tasks, awaited (``sleep`` awaits ``asyncio.sleep``; other kinds
                         call the blocking function inside the coroutine, as boto3 forces)
``SUBPROCESS``           one ``multiprocessing.Process`` each (``spawn``: portable, the default
                         on macOS and Windows; ``fork`` is unsafe in a threaded process)
``THREADS``              one ``threading.Thread`` each
``SUBINTERPRETER``       a fresh isolated subinterpreter each, one after another
``SUBINTERPRETER_THREADS`` a fresh isolated subinterpreter each, each driven from its own thread
``SUBINTERPRETER_SUBPROC`` a subinterpreter each, inside a subprocess each
======================== ======================================================================

Each way returns one :class:`~awspar.bench.records.TaskRecord` per task with absolute
``perf_counter`` times: a process or subinterpreter contributes a ``startup`` segment (from the
moment it was asked for to the moment the task began in it) and an ``exit`` segment (from the end
of the task to the moment the parent saw it gone), so start-up costs show on the waterfall. A task
that fails is recorded with its error; the others go on.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from typing import Any

from awspar.bench.hosts import child_main, in_subinterpreter
from awspar.bench.records import Segment, TaskRecord
from awspar.bench.tasks import Mark, TaskSpec, one_line, run_task

__all__ = ["SEED_WAYS", "SUBINTERPRETER_WAYS", "run_way", "subinterpreters_missing"]

SEED_WAYS = (
    "SINGLE",
    "ASYNC",
    "SUBPROCESS",
    "THREADS",
    "SUBINTERPRETER",
    "SUBINTERPRETER_THREADS",
    "SUBINTERPRETER_SUBPROC",
)
SUBINTERPRETER_WAYS = frozenset(w for w in SEED_WAYS if w.startswith("SUBINTERPRETER"))
_START_METHOD = "spawn"


def subinterpreters_missing() -> str | None:
    """Why this Python cannot run the subinterpreter ways, or ``None`` when it can."""
    if sys.version_info < (3, 13):
        return f"subinterpreters need Python 3.13+ (this is {sys.version_info[0]}.{sys.version_info[1]})"
    return None


def _record(index: int, marks: Sequence[Mark], asked: float | None = None, gone: float | None = None,
            error: str | None = None) -> TaskRecord:
    """A task record from its marks, with ``startup``/``exit`` segments around them when the task
    ran somewhere that had to be started (``asked``) and torn down (``gone``)."""
    segments = [Segment(kind, start, end) for kind, start, end in marks]
    if asked is not None:
        began = segments[0].start if segments else (gone if gone is not None else asked)
        segments.insert(0, Segment("startup", asked, max(asked, began)))
    if gone is not None:
        ended = segments[-1].end
        segments.append(Segment("exit", min(ended, gone), gone))
    return TaskRecord(index, tuple(segments), error)


def _guarded(index: int, spec: TaskSpec, client: Any = None) -> TaskRecord:
    started = time.perf_counter()
    try:
        return _record(index, run_task(spec, client))
    except Exception as exc:  # noqa: BLE001 - one task's failure, kept in its record
        return TaskRecord(index, (Segment("error", started, time.perf_counter()),), one_line(exc))


# -- in this process -----------------------------------------------------------------------------


def _single(specs: Sequence[TaskSpec], client: Any) -> list[TaskRecord]:
    return [_guarded(i, spec, client) for i, spec in enumerate(specs)]


def _async(specs: Sequence[TaskSpec], client: Any) -> list[TaskRecord]:
    async def one(index: int, spec: TaskSpec) -> TaskRecord:
        kind, args = spec
        if kind == "sleep":
            start = time.perf_counter()
            await asyncio.sleep(float(args["seconds"]))
            return _record(index, [("work", start, time.perf_counter())])
        return _guarded(index, spec, client)

    async def everything() -> list[TaskRecord]:
        return list(await asyncio.gather(*(one(i, spec) for i, spec in enumerate(specs))))

    return asyncio.run(everything())


def _threads(specs: Sequence[TaskSpec], run: Callable[[int, TaskSpec], TaskRecord]) -> list[TaskRecord]:
    records: list[TaskRecord | None] = [None] * len(specs)

    def target(index: int, spec: TaskSpec) -> None:
        records[index] = run(index, spec)

    threads = [threading.Thread(target=target, args=(i, s), name=f"bench-task-{i}") for i, s in enumerate(specs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in records if r is not None]


# -- elsewhere ---------------------------------------------------------------------------------


def _in_subinterpreter(index: int, spec: TaskSpec) -> TaskRecord:
    asked, marks, gone, error = in_subinterpreter(spec)
    if error is not None:
        return TaskRecord(index, (Segment("error", asked, gone),), error)
    return _record(index, marks, asked, gone)


def _subprocesses(specs: Sequence[TaskSpec], inner_subinterpreter: bool) -> list[TaskRecord]:
    """One spawned process per task, all started at once; each task's bar ends when the parent
    sees its process gone."""
    context: Any = multiprocessing.get_context(_START_METHOD)
    pending: dict[int, tuple[int, Any, Any, float]] = {}
    for index, spec in enumerate(specs):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=child_main, args=(spec, sender, inner_subinterpreter),
                                  name=f"bench-task-{index}", daemon=True)
        asked = time.perf_counter()
        process.start()
        sender.close()
        pending[process.sentinel] = (index, process, receiver, asked)
    records: dict[int, TaskRecord] = {}
    while pending:
        for sentinel in wait(list(pending)):
            assert isinstance(sentinel, int)
            gone = time.perf_counter()
            index, process, receiver, asked = pending.pop(sentinel)
            process.join()
            value: Any
            try:
                status, value = receiver.recv() if receiver.poll() else ("error", f"exit code {process.exitcode}")
            except EOFError:
                status, value = "error", f"the process ended with exit code {process.exitcode}"
            receiver.close()
            if status == "ok":
                records[index] = _record(index, list(value), asked, gone)
            else:
                records[index] = TaskRecord(index, (Segment("error", asked, gone),), str(value))
    return [records[i] for i in range(len(specs))]


def run_way(way: str, specs: Sequence[TaskSpec], client: Any = None) -> list[TaskRecord]:
    """Run ``specs`` the seed's ``way``; one record per task, in input order.

    ``client`` is the one boto3 client that ``SINGLE`` and ``ASYNC`` share for boto3 tasks (made
    before the clock starts); the other ways make their own, one per task, as the seed did.
    """
    if way == "SINGLE":
        return _single(specs, client)
    if way == "ASYNC":
        return _async(specs, client)
    if way == "THREADS":
        return _threads(specs, _guarded)
    if way == "SUBPROCESS":
        return _subprocesses(specs, inner_subinterpreter=False)
    missing = subinterpreters_missing() if way in SUBINTERPRETER_WAYS else None
    if missing is not None:
        raise RuntimeError(missing)
    if way == "SUBINTERPRETER":
        return [_in_subinterpreter(i, spec) for i, spec in enumerate(specs)]
    if way == "SUBINTERPRETER_THREADS":
        return _threads(specs, _in_subinterpreter)
    if way == "SUBINTERPRETER_SUBPROC":
        return _subprocesses(specs, inner_subinterpreter=True)
    raise ValueError(f"unknown way {way!r}; the seed's ways are {', '.join(SEED_WAYS)}")
