"""The benchmark's files: ``bench.json`` (everything), ``summary.csv`` and ``spans.csv``.

``bench.json`` (layout ``"awspar.bench/1"``)::

    {
      "schema": "awspar.bench/1",
      "created": "2026-...Z",              # UTC, ISO 8601
      "command": "awspar bench --quick",   # how it was made, when known
      "elapsed_s": 41.2,                    # the whole benchmark
      "machine": {"cpus": 2, "python": "3.13.0", "implementation": "CPython",
                  "platform": "...", "machine": "x86_64",
                  "load_average": [..], "load_average_after": [..]},
      "settings": {...},                    # BenchSettings as given
      "notes": ["..."],
      "workloads": [{
        "name": "s3", "description": "...", "requests": 10,
        "params": {"n": 10, "size": 102400, "latency_ms": 50.0, ...},
        "baseline": "SINGLE", "baseline_wall_s": 0.61,
        "modes": [{
          "mode": "awspar-async", "family": "awspar", "description": "...",
          "status": "ok" | "skipped" | "failed", "note": null | "...",
          "summary": {"wall_s", "relative", "requests_per_s", "p50_s", "p99_s",
                      "cpu_per_request_s", "setup_s", "rounds", "errors"},   # {} unless run
          "median_round": 2,
          "rounds": [{"round": 1, "wall_s", "cpu_s", "setup_s", "errors",
                      "tasks": [{"index": 0, "ok": true, "cancelled": false, "error": null,
                                 "start_s", "end_s",
                                 "segments": [{"kind": "ok", "start_s": 0.0003, "end_s": 0.0581}]}]}]
        }]
      }]
    }

Times in a round are seconds from the start of that round's clock. ``relative`` is the mode's
median wall time over SINGLE's (``null`` when SINGLE did not run). Floats that are not numbers
(NaN) are written as ``null``. Files are written whole to a temporary name and renamed, so an
interrupted run leaves no half-written file.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import math
import os
import secrets
from pathlib import Path
from typing import Any

from awspar.bench.records import BenchResult

__all__ = ["SCHEMA", "SPANS_COLUMNS", "SUMMARY_COLUMNS", "to_json_dict", "write_atomic", "write_results"]

SCHEMA = "awspar.bench/1"
SUMMARY_COLUMNS = (
    "workload", "mode", "family", "status", "wall_s", "relative", "requests_per_s", "p50_ms", "p99_ms",
    "cpu_ms_per_request", "setup_s", "rounds", "errors", "note",
)
SPANS_COLUMNS = ("workload", "mode", "round", "task", "segment", "kind", "start_s", "end_s", "ok", "error")


def _clean(value: Any) -> Any:
    """NaN and infinities as ``None``; floats rounded to microseconds' worth of digits."""
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 6)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_json_dict(result: BenchResult, command: str | None = None) -> dict[str, Any]:
    """The JSON document described in the module docstring."""
    workloads = []
    for workload in result.workloads:
        modes = []
        for mode, summary in workload.summaries():
            median = mode.median_round()
            modes.append({
                "mode": mode.mode, "family": mode.family, "description": mode.description,
                "status": mode.status, "note": mode.note, "summary": summary,
                "median_round": None if median is None else median.round,
                "rounds": [r.to_dict() for r in mode.rounds],
            })
        workloads.append({
            "name": workload.name, "description": workload.description, "requests": workload.requests,
            "params": workload.params, "baseline": "SINGLE", "baseline_wall_s": workload.baseline,
            "modes": modes,
        })
    created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _clean({
        "schema": SCHEMA, "created": created, "command": command, "elapsed_s": result.elapsed,
        "machine": result.machine, "settings": result.settings, "notes": result.notes, "workloads": workloads,
    })


def _ms(value: Any) -> Any:
    """Seconds (to the microsecond) as milliseconds to the microsecond: 0.054516 is 54.516, not
    54.516000000000005."""
    return None if value is None else round(value * 1000.0, 3)


def _summary_rows(document: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for workload in document["workloads"]:
        for mode in workload["modes"]:
            s = mode["summary"]
            rows.append([
                workload["name"], mode["mode"], mode["family"], mode["status"], s.get("wall_s"), s.get("relative"),
                s.get("requests_per_s"), _ms(s.get("p50_s")), _ms(s.get("p99_s")), _ms(s.get("cpu_per_request_s")),
                s.get("setup_s"), s.get("rounds", 0), s.get("errors", 0), mode["note"] or "",
            ])
    return rows


def _span_rows(document: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for workload in document["workloads"]:
        for mode in workload["modes"]:
            for round_ in mode["rounds"]:
                for task in round_["tasks"]:
                    for number, segment in enumerate(task["segments"]):
                        rows.append([workload["name"], mode["mode"], round_["round"], task["index"], number,
                                     segment["kind"], segment["start_s"], segment["end_s"], task["ok"],
                                     task["error"] or ""])
    return rows


def _csv_text(columns: tuple[str, ...], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buffer.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    The file gets the mode any new file gets (0666 less the umask), not ``mkstemp``'s 0600:
    benchmark results are meant to be shared.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(document: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write ``bench.json``, ``summary.csv`` and ``spans.csv`` into ``out_dir``; their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "bench.json": json.dumps(document, indent=1).encode() + b"\n",
        "summary.csv": _csv_text(SUMMARY_COLUMNS, _summary_rows(document)).encode(),
        "spans.csv": _csv_text(SPANS_COLUMNS, _span_rows(document)).encode(),
    }
    written = []
    for name, data in files.items():
        write_atomic(out_dir / name, data)
        written.append(out_dir / name)
    return written
