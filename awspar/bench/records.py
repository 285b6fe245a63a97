"""What a benchmark run measured, as plain data: segments, tasks, rounds, modes, workloads.

Times inside a round are seconds from the round's start (its clock started just before the first
task); a task is one request or one unit of work, drawn as one bar of a waterfall chart, made of
segments (``startup``, ``setup``, ``work``, ``request``, or an engine attempt's outcome: ``ok``,
``retry``, ``hedge``, ``cancelled``, ``error``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from awspar._models import Span

__all__ = [
    "BenchResult",
    "ModeResult",
    "RoundResult",
    "Segment",
    "TaskRecord",
    "WorkloadResult",
    "percentile",
    "records_from_spans",
]


@dataclass(frozen=True)
class Segment:
    """One stretch of a task: what it was and when, in seconds from the round's start."""

    kind: str
    start: float
    end: float

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "start_s": round(self.start, 6), "end_s": round(self.end, 6)}


@dataclass(frozen=True)
class TaskRecord:
    """One request or unit of work: its segments in time order, and its error if it failed.

    ``cancelled`` is True for a race's loser (stopped on purpose, not a failure).
    """

    index: int
    segments: tuple[Segment, ...]
    error: str | None = None
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled

    @property
    def start(self) -> float:
        return min((s.start for s in self.segments), default=0.0)

    @property
    def end(self) -> float:
        return max((s.end for s in self.segments), default=0.0)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def shifted(self, origin: float) -> TaskRecord:
        """The same record with times measured from ``origin``."""
        moved = tuple(Segment(s.kind, s.start - origin, s.end - origin) for s in self.segments)
        return TaskRecord(self.index, moved, self.error, self.cancelled)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "ok": self.ok,
            "cancelled": self.cancelled,
            "error": self.error,
            "start_s": round(self.start, 6),
            "end_s": round(self.end, 6),
            "segments": [s.to_dict() for s in self.segments],
        }


def records_from_spans(index: int, spans: Iterable[Span], error: str | None = None) -> TaskRecord:
    """A task record from an engine response's attempts (retries and hedges become segments)."""
    ordered = sorted(spans, key=lambda s: s.start)
    segments = tuple(Segment(s.outcome, s.start, s.end) for s in ordered)
    cancelled = bool(ordered) and all(s.outcome == "cancelled" for s in ordered)
    return TaskRecord(index, segments, None if cancelled else error, cancelled)


@dataclass(frozen=True)
class RoundResult:
    """One run of one mode: wall time, client CPU (this process, all its threads and
    subinterpreters, plus children that ended), setup time outside the clock, and every task."""

    round: int
    wall: float
    cpu: float
    setup: float
    tasks: tuple[TaskRecord, ...]

    @property
    def errors(self) -> int:
        return sum(1 for t in self.tasks if t.error is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "wall_s": round(self.wall, 6),
            "cpu_s": round(self.cpu, 6),
            "setup_s": round(self.setup, 6),
            "errors": self.errors,
            "tasks": [t.to_dict() for t in self.tasks],
        }


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) of ``values`` by linear interpolation; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class ModeResult:
    """Every round of one mode in one workload, or why it did not run.

    ``status`` is ``"ok"``, ``"skipped"`` (not available here: the note says why) or ``"failed"``
    (every task of a round failed: the note holds the first error).
    """

    mode: str
    family: str
    description: str
    status: str = "ok"
    note: str | None = None
    rounds: list[RoundResult] = field(default_factory=list)

    @property
    def wall(self) -> float:
        """Median wall time over the rounds (NaN when none ran)."""
        return statistics.median(r.wall for r in self.rounds) if self.rounds else math.nan

    def median_round(self) -> RoundResult | None:
        """The round whose wall time is the median (the lower one for an even count)."""
        if not self.rounds:
            return None
        ordered = sorted(self.rounds, key=lambda r: r.wall)
        return ordered[(len(ordered) - 1) // 2]

    def summary(self, baseline: float | None, requests: int) -> dict[str, Any]:
        """The figures of the table: medians over rounds, per-request percentiles over all rounds."""
        if not self.rounds:
            return {}
        durations = [t.duration for r in self.rounds for t in r.tasks if t.ok]
        wall = self.wall
        return {
            "wall_s": wall,
            "relative": wall / baseline if baseline else None,
            "requests_per_s": requests / wall if wall > 0 else None,
            "p50_s": percentile(durations, 50) if durations else None,
            "p99_s": percentile(durations, 99) if durations else None,
            "cpu_per_request_s": statistics.median(r.cpu for r in self.rounds) / requests,
            "setup_s": statistics.median(r.setup for r in self.rounds),
            "rounds": len(self.rounds),
            "errors": sum(r.errors for r in self.rounds),
        }


@dataclass
class WorkloadResult:
    """One workload: its parameters (what the charts' titles say) and every mode's result."""

    name: str
    description: str
    params: dict[str, Any]
    requests: int
    modes: list[ModeResult] = field(default_factory=list)

    @property
    def baseline(self) -> float | None:
        """SINGLE's median wall time, the 1.0 of the relative column (None if it did not run)."""
        for mode in self.modes:
            if mode.mode == "SINGLE" and mode.rounds:
                return mode.wall
        return None

    def summaries(self) -> list[tuple[ModeResult, dict[str, Any]]]:
        baseline = self.baseline
        return [(m, m.summary(baseline, self.requests)) for m in self.modes]


@dataclass
class BenchResult:
    """The whole run: the machine, the settings and every workload."""

    machine: dict[str, Any]
    settings: dict[str, Any]
    workloads: list[WorkloadResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0
