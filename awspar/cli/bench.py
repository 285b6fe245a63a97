"""``awspar bench``: the seed's comparison of seven ways to run work, and awspar's engines beside
them, offline against awspar's local endpoints (or AWS), as tables, JSON/CSV and charts.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from awspar._errors import ConfigurationError
from awspar.cli._output import EXIT_FAILED, EXIT_INTERRUPTED, fail, plural

__all__ = ["bench_command", "register", "summary_table"]


def register(app: typer.Typer) -> None:
    """Add ``awspar bench`` to the app."""
    app.command("bench")(bench_command)


def _fmt(value: Any, scale: float = 1.0, digits: int = 3) -> str:
    return "–" if value is None else f"{value * scale:.{digits}f}"


def summary_table(workload: dict[str, Any]) -> Any:
    """The rich table of one workload of a ``bench.json`` document."""
    from rich.table import Table
    from rich.text import Text

    from awspar.bench.charts import chart_title

    title = chart_title(workload).replace("\n", ": ", 1)
    table = Table(title=f"{title}  ({workload['description']})", title_justify="left")
    for column, justify in (("mode", "left"), ("family", "left"), ("wall s", "right"), ("× SINGLE", "right"),
                            ("req/s", "right"), ("p50 ms", "right"), ("p99 ms", "right"),
                            ("CPU ms/req", "right"), ("setup s", "right"), ("note", "left")):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for mode in workload["modes"]:
        s = mode["summary"]
        note = mode["note"] or ""
        if mode["status"] != "ok":
            note = f"{mode['status']}: {note}"
        table.add_row(
            Text(mode["mode"]), Text(mode["family"]), _fmt(s.get("wall_s")), _fmt(s.get("relative"), digits=2),
            _fmt(s.get("requests_per_s"), digits=1), _fmt(s.get("p50_s"), 1000, 1), _fmt(s.get("p99_s"), 1000, 1),
            _fmt(s.get("cpu_per_request_s"), 1000, 2), _fmt(s.get("setup_s"), digits=2), Text(note),
        )
    return table


def _machine_line(document: dict[str, Any]) -> str:
    machine = document["machine"]
    load = machine.get("load_average")
    text = f"Python {machine['python']} · {machine['cpus']} CPUs · {machine['platform']}"
    if load:
        text += f" · load average {load[0]:.2f} at the start"
    return text + f" · {document['elapsed_s']:.1f} s in all"


def bench_command(
    workloads: Annotated[
        list[str] | None, typer.Argument(metavar="[WORKLOADS]...", help="Workloads: cpu, sleep, s3, bedrock (default: all four).")
    ] = None,
    modes: Annotated[
        str | None,
        typer.Option("--modes", help="Comma-separated modes, e.g. SINGLE,THREADS,awspar-async (default: each "
                     "workload's own list; with --quick the quick list)."),
    ] = None,
    n: Annotated[int | None, typer.Option("--n", min=1, help="Tasks / requests per workload (default: cpu 10, "
                                          "sleep 10, s3 10, bedrock 3).")] = None,
    size: Annotated[
        str | None, typer.Option("--size", help="s3: bytes per object: 1024, 4KiB, 1MB ... (default 100KiB).")
    ] = None,
    fib: Annotated[int | None, typer.Option("--fib", min=1, max=40, help="cpu: the Fibonacci number each task "
                                            "computes (default 30; --quick 27).")] = None,
    sleep_s: Annotated[float | None, typer.Option("--sleep", min=0.0, help="sleep: seconds per task (default 1; "
                                                  "--quick 0.1).")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", min=1, help="Requests in flight for awspar's "
                                                    "engines (default: --n, as in the seed).")] = None,
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Rounds; modes run interleaved, medians reported.")] = 3,
    latency_ms: Annotated[float | None, typer.Option("--latency-ms", min=0.0, help="Local endpoints: fixed time to "
                                                     "first byte in ms (default s3 50 ms).")] = None,
    latency_dist: Annotated[str | None, typer.Option("--latency-dist", help="Local endpoints: 'lognormal:MEDIAN_MS,"
                                                     "SIGMA' or 'fixed:MS' (default bedrock lognormal:1000,0.5; "
                                                     "--quick lognormal:250,0.5).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory for bench.json, summary.csv, spans.csv and the "
                                      "charts.")] = Path("awspar-bench"),
    image_format: Annotated[str, typer.Option("--format", help="Chart format: png or svg.")] = "png",
    quick: Annotated[bool, typer.Option("--quick", help="The preset that finishes in about a minute on 2 cores "
                                        "(smaller tasks, fewer modes).")] = False,
    bucket: Annotated[str | None, typer.Option("--bucket", help="Run s3 against this real bucket (objects written "
                                               "by infra/seed_bucket.py) instead of the local endpoint.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Run s3/bedrock against real AWS in this region.")] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="With --bucket: the key prefix ({prefix}000000.bin ...).")] = "seed-case/",
    model: Annotated[str | None, typer.Option("--model", help="bedrock: model id or inference profile.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON document instead of the tables.")] = False,
) -> None:
    """Compare the seed's seven ways (SINGLE, ASYNC, SUBPROCESS, THREADS, SUBINTERPRETER,
    SUBINTERPRETER_THREADS, SUBINTERPRETER_SUBPROC) with awspar's engines and the boto3 baselines.

    Runs offline against awspar's local S3 and Bedrock endpoints (started and stopped here, with
    latency injected) unless --bucket/--region point at AWS. Prints a table per workload and writes
    bench.json, CSVs and waterfall/bar charts (matplotlib, the 'plot' extra) to --out.
    """
    from awspar.bench.output import to_json_dict, write_results
    from awspar.bench.runner import run_bench
    from awspar.bench.settings import IMAGE_FORMATS, BenchSettings
    from awspar.cli.local import parse_size
    from awspar.testing.faults import parse_latency

    if image_format not in IMAGE_FORMATS:
        fail(f"--format must be one of {', '.join(IMAGE_FORMATS)}, not {image_format!r}")
    try:
        latency = None if latency_ms is None and latency_dist is None else parse_latency(latency_ms, latency_dist)
        settings = BenchSettings(
            workloads=tuple(workloads) if workloads else BenchSettings.workloads,
            modes=tuple(modes.split(",")) if modes is not None else None,
            n=n, fib=fib, sleep_s=sleep_s, size=None if size is None else parse_size(size), latency=latency,
            concurrency=concurrency, repeat=repeat, quick=quick, bucket=bucket, region=region, prefix=prefix,
            model=model,
        )
        from awspar.bench.runner import resolve_modes

        resolve_modes(settings)
    except (ValueError, ConfigurationError) as exc:
        fail(str(exc))
    if out.exists() and not out.is_dir():
        fail(f"--out {out} exists and is not a directory")

    from rich.console import Console

    progress = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        result = run_bench(settings, progress=lambda message: progress.print(message, style="dim", markup=False))
    except ConfigurationError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        print("awspar: interrupted; no results written", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    document = to_json_dict(result, command=shlex.join(["awspar", "bench", *sys.argv[2:]])
                            if sys.argv[1:2] == ["bench"] else None)
    written = write_results(document, out)
    chart_note = None
    try:
        from awspar.bench.charts import PlotUnavailable, draw_charts

        written += draw_charts(document, out, image_format)
    except PlotUnavailable as exc:
        chart_note = f"charts skipped: {exc}"
    if as_json:
        print(json.dumps(document, indent=1))
    else:
        # Piped into a file or a README, the table keeps its columns instead of folding at 80.
        console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
        console.print(_machine_line(document))
        for workload in document["workloads"]:
            console.print(summary_table(workload))
        for note in document["notes"]:
            console.print(f"note: {note}", markup=False)
    progress.print(f"wrote {plural(len(written), 'file')} to {out}/" + (f"; {chart_note}" if chart_note else ""), markup=False)
    ran = any(m["rounds"] for w in document["workloads"] for m in w["modes"])
    if not ran:
        raise SystemExit(EXIT_FAILED)
