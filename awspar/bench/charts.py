"""The benchmark's pictures, drawn with matplotlib (the ``plot`` extra, imported only here, with
the non-interactive Agg backend):

- ``waterfall-<workload>-<mode>.<fmt>``: one horizontal bar per task of the mode's median round,
  from its start to its end, first task on top; each segment coloured by what it was (process or
  interpreter start-up, boto3 set-up, the work or request itself, retries, hedges, cancelled race
  losers, errors);
- ``relative-<workload>.<fmt>``: each mode's median wall time relative to SINGLE (= 1);
- ``overview.<fmt>``: every workload's relative times side by side.

:func:`draw_charts` returns the files it wrote, or raises :class:`PlotUnavailable` when
matplotlib is not installed (the tables and JSON do not need it).
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from awspar.bench.output import write_atomic

__all__ = ["SEGMENT_COLOURS", "PlotUnavailable", "chart_title", "draw_charts"]

#: Colours of the segment kinds (anything else is drawn grey).
SEGMENT_COLOURS = {
    "work": "#1f77b4", "request": "#1f77b4", "ok": "#1f77b4",
    "startup": "#ff7f0e", "exit": "#ffbb78", "setup": "#9467bd", "queued": "#c7c7c7",
    "retry": "#d62728", "hedge": "#2ca02c", "cancelled": "#7f7f7f", "error": "#000000",
}
_LABELS = {
    "work": "work / request", "request": "work / request", "ok": "work / request",
    "startup": "process or interpreter start-up", "exit": "process or interpreter exit",
    "setup": "boto3 import + client", "queued": "waiting for a worker", "retry": "retried attempt",
    "hedge": "hedge", "cancelled": "cancelled (race loser)", "error": "failed",
}
_FAMILY_COLOURS = {"seed": "#8c8c8c", "awspar": "#1f77b4", "boto3": "#ff7f0e", "peer": "#2ca02c"}


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed: charts are not drawn."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable("charts need matplotlib: pip install 'awspar[plot]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _params_text(params: dict[str, Any]) -> str:
    parts = []
    for key, value in params.items():
        if value is None or key == "target":
            continue
        if key == "size":
            parts.append(f"size={value // 1024} KiB" if value >= 1024 else f"size={value} B")
        elif key == "latency_ms":
            sigma = params.get("latency_sigma")
            parts.append(f"latency {value:g} ms" + (f" log-normal σ={sigma:g}" if sigma else ""))
        elif key != "latency_sigma":
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def chart_title(workload: dict[str, Any], mode: str | None = None, width: int | None = None) -> str:
    """``"s3 · awspar-async\\nn=10, size=100 KiB, latency 50 ms ..."``, the parameters wrapped
    at ``width`` characters when given (a long Bedrock model id would run off a chart)."""
    head = workload["name"] if mode is None else f"{workload['name']} · {mode}"
    params = _params_text(workload["params"])
    return f"{head}\n{textwrap.fill(params, width) if width else params}"


def _waterfall(plt: Any, workload: dict[str, Any], mode: dict[str, Any]) -> Any:
    round_ = next(r for r in mode["rounds"] if r["round"] == mode["median_round"])
    tasks = round_["tasks"]
    height = max(2.4, 0.9 + 0.32 * len(tasks))
    figure, axes = plt.subplots(figsize=(10, height), dpi=100)
    by_kind: dict[str, tuple[list[int], list[float], list[float]]] = {}
    for row, task in enumerate(tasks):
        for segment in task["segments"]:
            rows, lefts, widths = by_kind.setdefault(segment["kind"], ([], [], []))
            rows.append(row)
            lefts.append(segment["start_s"])
            widths.append(max(segment["end_s"] - segment["start_s"], 1e-6))
    seen: dict[str, Any] = {}
    for kind, (rows, lefts, widths) in by_kind.items():  # one call per kind: far fewer draws
        bars = axes.barh(rows, widths, left=lefts, height=0.7, color=SEGMENT_COLOURS.get(kind, "#bcbd22"),
                         edgecolor="white", linewidth=0.3)
        seen.setdefault(_LABELS.get(kind, kind), bars)
    axes.set_yticks(range(len(tasks)), [f"#{t['index']}" for t in tasks])
    axes.invert_yaxis()  # first task on top
    axes.set_xlabel("seconds from the start of the run")
    axes.set_ylabel("task / request")
    axes.set_xlim(left=0, right=max(round_["wall_s"], max((t["end_s"] for t in tasks), default=0)) * 1.02 or 1)
    axes.axvline(round_["wall_s"], color="#444444", linewidth=0.8, linestyle="--")
    summary = mode["summary"]
    relative = summary.get("relative")
    extra = f", {relative:.2f}× SINGLE" if relative is not None else ""
    axes.set_title(f"{chart_title(workload, mode['mode'], width=100)}\nwall {round_['wall_s']:.3f} s (median of "
                   f"{summary.get('rounds', 1)}){extra}", fontsize=9)
    if seen:
        axes.legend(list(seen.values()), list(seen), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes.grid(axis="x", linewidth=0.3)
    figure.tight_layout()
    return figure


def _bars(axes: Any, modes: list[dict[str, Any]]) -> None:
    ran = [m for m in modes if m["summary"].get("relative") is not None]
    names = [m["mode"] for m in ran]
    values = [m["summary"]["relative"] for m in ran]
    colours = [_FAMILY_COLOURS.get(m["family"], "#bcbd22") for m in ran]
    axes.barh(range(len(ran)), values, color=colours)
    axes.set_yticks(range(len(ran)), names, fontsize=8)
    axes.invert_yaxis()
    axes.axvline(1.0, color="#444444", linewidth=0.8, linestyle="--")
    for row, value in enumerate(values):
        axes.text(value, row, f" {value:.2f}×", va="center", fontsize=7)
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    times = FuncFormatter(lambda value, _: f"{value:g}×")
    if values and max(values) / max(min(values), 1e-9) > 30:
        # Decades alone leave one or two ticks, matplotlib's minor labels overlap: 1-2-5 steps.
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.set_xlim(min(values) / 1.3, max(values) * 1.8)  # room for the last bar's label
    elif values:
        axes.set_xlim(0, max(values) * 1.15)
    axes.xaxis.set_major_formatter(times)
    axes.set_xlabel("median wall time relative to SINGLE (lower is faster)")
    axes.grid(axis="x", linewidth=0.3)


def _relative(plt: Any, workload: dict[str, Any]) -> Any:
    modes = workload["modes"]
    figure, axes = plt.subplots(figsize=(8, max(2.4, 1.0 + 0.34 * len(modes))), dpi=100)
    _bars(axes, modes)
    axes.set_title(f"{chart_title(workload, width=80)}\ntime relative to SINGLE "
                   f"({workload['baseline_wall_s']:.3f} s)", fontsize=9)
    figure.tight_layout()
    return figure


def _overview(plt: Any, document: dict[str, Any]) -> Any:
    workloads = [w for w in document["workloads"] if w["baseline_wall_s"] is not None]
    columns = max(1, min(2, len(workloads)))
    rows = math.ceil(len(workloads) / columns)
    figure, grid = plt.subplots(rows, columns, figsize=(7 * columns, 0.6 + 3.6 * rows), dpi=100, squeeze=False)
    for axes, workload in zip(grid.flat, workloads):
        _bars(axes, workload["modes"])
        axes.set_title(chart_title(workload, width=60), fontsize=9)
    for axes in list(grid.flat)[len(workloads):]:
        axes.set_visible(False)
    machine = document["machine"]
    figure.suptitle(f"awspar bench: time relative to SINGLE · Python {machine['python']}, "
                    f"{machine['cpus']} CPUs", fontsize=11)
    figure.tight_layout()
    return figure


def _figures(plt: Any, document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every chart of a ``bench.json`` document: (file name without suffix, figure)."""
    for workload in document["workloads"]:
        for mode in workload["modes"]:
            if mode["rounds"]:
                yield f"waterfall-{_slug(workload['name'])}-{_slug(mode['mode'])}", _waterfall(plt, workload, mode)
        if workload["baseline_wall_s"] is not None:
            yield f"relative-{_slug(workload['name'])}", _relative(plt, workload)
    if any(w["baseline_wall_s"] is not None for w in document["workloads"]):
        yield "overview", _overview(plt, document)


def _save(figure: Any, path: Path, fmt: str) -> None:
    import io

    buffer = io.BytesIO()
    # Light PNG compression: encoding at the default level costs more than drawing the chart.
    options = {"pil_kwargs": {"compress_level": 3}} if fmt == "png" else {}
    figure.savefig(buffer, format=fmt, **options)
    write_atomic(path, buffer.getvalue())


def draw_charts(document: dict[str, Any], out_dir: Path, fmt: str = "png") -> list[Path]:
    """Draw every chart of a ``bench.json`` document into ``out_dir``; the files written."""
    plt = _pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, figure in _figures(plt, document):
        path = out_dir / f"{name}.{fmt}"
        try:
            _save(figure, path, fmt)
        finally:
            plt.close(figure)
        written.append(path)
    return written
