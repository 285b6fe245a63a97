"""Runs the modes of each workload interleaved (A B C A B C ...) over the rounds, timing each run.

Per run: the mode is prepared (not timed: that is ``setup``), then ``run()`` is timed on the
``perf_counter`` clock; client CPU is this process's ``process_time`` (every thread and
subinterpreter) over the run plus the CPU of child processes that ended by the time the mode was
closed (``getrusage(RUSAGE_CHILDREN)``, where the platform has it). A mode that cannot run here
is skipped with a note; a mode whose every task fails in a round is marked failed (with the first
error) and not run again; one mode's trouble never stops the others.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from awspar._errors import ConfigurationError
from awspar.bench.records import BenchResult, ModeResult, RoundResult, WorkloadResult
from awspar.bench.settings import BenchSettings
from awspar.bench.tasks import one_line
from awspar.bench.workloads import WORKLOADS, Context, Workload

__all__ = ["machine_info", "resolve_modes", "run_bench"]

#: ``progress(message)``: one line about what the benchmark is doing.
Progress = Callable[[str], object]


def machine_info() -> dict[str, Any]:
    """What the figures depend on: CPUs, Python, platform, and the load when the run started."""
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def _children_cpu() -> float:
    try:
        import resource
    except ImportError:  # Windows: no getrusage
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def resolve_modes(settings: BenchSettings) -> dict[str, list[str]]:
    """``workload -> mode names`` to run. A mode name given in ``settings.modes`` runs in every
    selected workload that has it (case-insensitive); a name that no selected workload has is a
    :class:`~awspar.ConfigurationError`."""
    chosen: dict[str, list[str]] = {}
    if settings.modes is None:
        return {w: WORKLOADS[w].default_modes(settings.quick) for w in settings.workloads}
    wanted = [m.strip() for m in settings.modes if m.strip()]
    if not wanted:
        raise ConfigurationError("--modes is empty")
    known: set[str] = set()
    for name in settings.workloads:
        by_lower = {m.name.lower(): m.name for m in WORKLOADS[name].modes}
        chosen[name] = [by_lower[m.lower()] for m in wanted if m.lower() in by_lower]
        known.update(m.lower() for m in wanted if m.lower() in by_lower)
    unknown = [m for m in wanted if m.lower() not in known]
    if unknown:
        every = sorted({m.name for w in settings.workloads for m in WORKLOADS[w].modes})
        raise ConfigurationError(
            f"unknown mode {', '.join(unknown)} for {', '.join(settings.workloads)}; known: {', '.join(every)}"
        )
    return chosen


def _run_once(workload: Workload, context: Context, result: ModeResult, round_number: int) -> RoundResult:
    mode = workload.mode(result.mode)
    assert mode is not None
    began = time.perf_counter()
    prepared = mode.prepare(context)
    try:
        setup = time.perf_counter() - began
        context.before_run(round_number)
        children = _children_cpu()
        cpu = time.process_time()
        start = time.perf_counter()
        tasks = prepared.run()
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
    finally:
        prepared.close()
    cpu += _children_cpu() - children
    shifted = tuple(t.shifted(start) for t in tasks)
    return RoundResult(round_number, wall, cpu, setup, shifted)


def _run_workload(workload: Workload, names: Sequence[str], settings: BenchSettings,
                  progress: Progress) -> WorkloadResult:
    with workload.open(settings) as context:
        result = WorkloadResult(workload.name, workload.description, context.describe(), context.n)
        active: list[ModeResult] = []
        for name in names:
            mode = workload.mode(name)
            assert mode is not None
            entry = ModeResult(mode.name, mode.family, mode.description)
            result.modes.append(entry)
            reason = mode.missing()
            if reason is not None:
                entry.status, entry.note = "skipped", reason
                progress(f"{workload.name}: {mode.name} skipped: {reason}")
            else:
                active.append(entry)
        for round_number in range(1, settings.repeat + 1):
            progress(f"{workload.name}: round {round_number}/{settings.repeat}")
            for entry in list(active):
                try:
                    measured = _run_once(workload, context, entry, round_number)
                except Exception as exc:  # noqa: BLE001 - one mode's failure, kept in its result
                    entry.status, entry.note = "failed", one_line(exc)
                    active.remove(entry)
                    progress(f"{workload.name}: {entry.mode} failed: {entry.note}")
                    continue
                failed = [t.error for t in measured.tasks if t.error is not None]
                if measured.tasks and len(failed) == len(measured.tasks):
                    entry.status, entry.note = "failed", f"every task failed: {failed[0]}"
                    active.remove(entry)
                    progress(f"{workload.name}: {entry.mode} failed: {entry.note}")
                    continue
                entry.rounds.append(measured)
                if failed and entry.note is None:
                    entry.note = f"{len(failed)} of {len(measured.tasks)} failed: {failed[0]}"
        return result


def run_bench(settings: BenchSettings, progress: Progress = lambda message: None) -> BenchResult:
    """Run every selected workload and mode; the measurements (see :mod:`awspar.bench`).

    ``progress`` is told what is happening, one line at a time (skipped and failed modes too).
    Raises :class:`~awspar.ConfigurationError` for bad settings before anything runs.
    """
    plan = resolve_modes(settings)
    began = time.perf_counter()
    result = BenchResult(machine_info(), settings.to_dict())
    if sys.version_info < (3, 13):
        result.notes.append("subinterpreter modes need Python 3.13+: skipped on this Python")
    for name in settings.workloads:
        if not plan[name]:
            continue
        result.workloads.append(_run_workload(WORKLOADS[name], plan[name], settings, progress))
    result.elapsed = time.perf_counter() - began
    if "load_average" in result.machine and hasattr(os, "getloadavg"):
        result.machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return result
