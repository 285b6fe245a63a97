"""``awspar.bench`` through the library: a tiny benchmark against the real local endpoints, its
JSON layout, CSV columns and charts. Timings are never asserted, only the shape of the outputs."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from awspar._errors import ConfigurationError
from awspar.bench.output import SCHEMA, SPANS_COLUMNS, SUMMARY_COLUMNS, to_json_dict, write_results
from awspar.bench.runner import resolve_modes, run_bench
from awspar.bench.settings import BenchSettings
from awspar.testing.faults import Latency

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SUMMARY_KEYS = {"wall_s", "relative", "requests_per_s", "p50_s", "p99_s", "cpu_per_request_s", "setup_s",
                "rounds", "errors"}
TINY_MODES = {
    "cpu": ["SINGLE", "THREADS", "SUBPROCESS", "SUBINTERPRETER_THREADS", "awspar-subinterpreters"],
    "s3": ["SINGLE", "THREADS", "boto3-threads", "awspar-threads", "awspar-async", "aiobotocore", "obstore"],
    "bedrock": ["SINGLE", "awspar-threads", "awspar-async-race"],
}


def check_layout(document: dict[str, Any], requested: dict[str, list[str]], repeat: int) -> None:
    """The ``bench.json`` layout documented in :mod:`awspar.bench.output`, checked field by field."""
    assert document["schema"] == SCHEMA
    assert isinstance(document["created"], str) and document["created"].endswith("Z")
    machine = document["machine"]
    assert machine["cpus"] >= 1 and machine["python"] == ".".join(map(str, sys.version_info[:3]))
    assert isinstance(machine["platform"], str) and machine["platform"]
    assert isinstance(document["settings"], dict) and isinstance(document["notes"], list)
    assert [w["name"] for w in document["workloads"]] == list(requested)
    for workload in document["workloads"]:
        assert workload["requests"] == workload["params"]["n"]
        assert [m["mode"] for m in workload["modes"]] == requested[workload["name"]]  # every mode present
        for mode in workload["modes"]:
            assert mode["family"] in ("seed", "awspar", "boto3", "peer") and mode["description"]
            assert mode["status"] in ("ok", "skipped", "failed")
            if mode["status"] != "ok":  # skipped or failed: said why, nothing measured
                assert mode["note"] and mode["rounds"] == [] and mode["summary"] == {}
                continue
            assert set(mode["summary"]) == SUMMARY_KEYS and mode["summary"]["rounds"] == repeat
            assert [r["round"] for r in mode["rounds"]] == list(range(1, repeat + 1))
            assert mode["median_round"] in range(1, repeat + 1)
            for round_ in mode["rounds"]:
                assert round_["wall_s"] > 0 and round_["cpu_s"] >= 0 and round_["setup_s"] >= 0
                assert [t["index"] for t in round_["tasks"]] == list(range(workload["requests"]))
                for task in round_["tasks"]:
                    assert task["segments"], task
                    assert task["start_s"] <= task["end_s"]
                    for segment in task["segments"]:
                        assert segment["start_s"] <= segment["end_s"] and isinstance(segment["kind"], str)
        single = next((m for m in workload["modes"] if m["mode"] == "SINGLE" and m["rounds"]), None)
        if single is not None:
            assert single["summary"]["relative"] == pytest.approx(1.0)
            assert workload["baseline_wall_s"] == pytest.approx(single["summary"]["wall_s"])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    documents = [
        to_json_dict(run_bench(BenchSettings(workloads=(name,), modes=tuple(modes), n=2, fib=12, size=2048,
                                             latency=Latency(5.0), repeat=2)), command="test")
        for name, modes in TINY_MODES.items()
    ]
    document = {**documents[0], "workloads": [w for d in documents for w in d["workloads"]]}
    out = tmp_path_factory.mktemp("bench")
    write_results(document, out)
    return document, out


@pytest.mark.timeout(90)
def test_tiny_bench_json_layout(tiny: tuple[dict[str, Any], Path]) -> None:
    document, out = tiny
    check_layout(document, TINY_MODES, repeat=2)
    assert json.loads((out / "bench.json").read_text()) == document
    by_mode = {(w["name"], m["mode"]): m for w in document["workloads"] for m in w["modes"]}
    for key in [("cpu", "SINGLE"), ("cpu", "THREADS"), ("cpu", "SUBPROCESS"), ("s3", "SINGLE"),
                ("s3", "awspar-async"), ("s3", "boto3-threads"), ("bedrock", "awspar-threads")]:
        assert by_mode[key]["status"] == "ok", by_mode[key]
    # a spawned process shows its start-up; a boto3 thread its own client set-up; a race its losers
    cpu_task = by_mode[("cpu", "SUBPROCESS")]["rounds"][0]["tasks"][0]
    assert [s["kind"] for s in cpu_task["segments"]] == ["startup", "work", "exit"]
    s3_task = by_mode[("s3", "THREADS")]["rounds"][0]["tasks"][0]
    assert [s["kind"] for s in s3_task["segments"]] == ["setup", "request"]
    race = by_mode[("bedrock", "awspar-async-race")]["rounds"][0]["tasks"]
    assert sum(t["ok"] for t in race) >= 1
    assert all(t["ok"] or t["cancelled"] for t in race)
    for peer in ("aiobotocore", "obstore"):  # a peer runs when installed, else is skipped with a note
        row = by_mode[("s3", peer)]
        if importlib.util.find_spec(peer) is None:
            assert row["status"] == "skipped" and f"pip install 'awspar[peer-{peer}]'" in row["note"]
        else:
            assert row["status"] == "ok", row
            assert all([s["kind"] for s in t["segments"]] == ["request"] for r in row["rounds"] for t in r["tasks"])
    for name in ("SUBINTERPRETER_THREADS", "awspar-subinterpreters"):
        assert by_mode[("cpu", name)]["status"] == ("ok" if sys.version_info >= (3, 13) else "skipped")


def test_tiny_bench_csv(tiny: tuple[dict[str, Any], Path]) -> None:
    document, out = tiny
    with open(out / "summary.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert tuple(rows[0]) == SUMMARY_COLUMNS
    assert [(r["workload"], r["mode"]) for r in rows] == [
        (w["name"], m["mode"]) for w in document["workloads"] for m in w["modes"]]
    for row in rows:
        if row["status"] == "ok":
            assert float(row["wall_s"]) > 0 and int(row["rounds"]) == 2
        else:
            assert row["wall_s"] == "" and row["note"]
    with open(out / "spans.csv", newline="") as file:
        spans = list(csv.DictReader(file))
    assert tuple(spans[0]) == SPANS_COLUMNS
    segments = sum(len(t["segments"]) for w in document["workloads"] for m in w["modes"]
                   for r in m["rounds"] for t in r["tasks"])
    assert len(spans) == segments
    assert all(float(s["start_s"]) <= float(s["end_s"]) for s in spans)


def test_tiny_bench_charts(tiny: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")  # the plot extra: charts are optional by design
    import matplotlib.image

    from awspar.bench.charts import draw_charts

    document, _ = tiny
    files = draw_charts(document, tmp_path, "png")
    ran = [(w["name"], m["mode"]) for w in document["workloads"] for m in w["modes"] if m["rounds"]]
    names = {f.name for f in files}
    assert len([n for n in names if n.startswith("waterfall-")]) == len(ran)
    assert {"relative-cpu.png", "relative-s3.png", "relative-bedrock.png", "overview.png"} <= names
    assert "waterfall-s3-awspar-async.png" in names and "waterfall-cpu-single.png" in names
    for path in files:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        height, width = matplotlib.image.imread(path).shape[:2]
        assert width >= 600 and height >= 200
    svg = draw_charts(document, tmp_path / "svg", "svg")
    assert svg and all(p.suffix == ".svg" and b"<svg" in p.read_bytes()[:2000] for p in svg)


@pytest.mark.timeout(60)
def test_a_mode_whose_every_call_fails_is_recorded_not_raised() -> None:
    from awspar.testing.bedrock_server import NOT_ENABLED_MODEL_ID

    settings = BenchSettings(workloads=("bedrock",), modes=("SINGLE", "awspar-threads"), n=2,
                             latency=Latency(1.0), repeat=2, model=NOT_ENABLED_MODEL_ID)
    document = to_json_dict(run_bench(settings))
    modes = {m["mode"]: m for m in document["workloads"][0]["modes"]}
    for mode in modes.values():
        assert mode["status"] == "failed" and mode["rounds"] == []
    assert "AccessDenied" in modes["SINGLE"]["note"]
    assert "403" in modes["awspar-threads"]["note"]
    assert document["workloads"][0]["baseline_wall_s"] is None


def test_modes_resolve_per_workload_and_unknown_ones_are_refused() -> None:
    plan = resolve_modes(BenchSettings(workloads=("cpu", "s3"), modes=("single", "awspar-async")))
    assert plan == {"cpu": ["SINGLE"], "s3": ["SINGLE", "awspar-async"]}
    quick = resolve_modes(BenchSettings(quick=True))
    assert quick["cpu"][0] == "SINGLE" and "awspar-async-race" in quick["bedrock"]
    with pytest.raises(ConfigurationError, match="unknown mode nope"):
        resolve_modes(BenchSettings(workloads=("cpu",), modes=("SINGLE", "nope")))
    with pytest.raises(ConfigurationError, match="unknown workload gpu"):
        BenchSettings(workloads=("gpu",))
    with pytest.raises(ConfigurationError, match="--repeat must be at least 1"):
        BenchSettings(repeat=0)
    with pytest.raises(ConfigurationError, match="needs --bucket"):
        run_bench(BenchSettings(workloads=("s3",), modes=("SINGLE",), region="eu-west-1", repeat=1))


def test_quick_preset_keeps_what_is_given() -> None:
    settings = BenchSettings(quick=True, n=4, latency=Latency(20.0))
    assert settings.params("cpu").n == 4 and settings.params("cpu").fib == 27
    assert settings.params("s3").latency == Latency(20.0) and settings.params("s3").size == 100 * 1024
    assert BenchSettings().params("bedrock").latency == Latency(1000.0, 0.5)
    assert settings.concurrency_for("s3") == 4


def _one_row_document() -> dict[str, Any]:
    summary = {"wall_s": 0.5, "relative": 1.0, "requests_per_s": 20.0, "p50_s": 0.054516, "p99_s": 0.000339,
               "cpu_per_request_s": 0.000123, "setup_s": 0.01, "rounds": 1, "errors": 0}
    mode = {"mode": "awspar-async", "family": "awspar", "status": "ok", "note": None, "summary": summary, "rounds": []}
    return {"schema": SCHEMA, "workloads": [{"name": "s3", "modes": [mode]}]}


def test_summary_csv_milliseconds_carry_no_float_noise(tmp_path: Path) -> None:
    write_results(_one_row_document(), tmp_path)
    with open(tmp_path / "summary.csv", newline="") as file:
        [row] = list(csv.DictReader(file))
    assert (row["p50_ms"], row["p99_ms"], row["cpu_ms_per_request"]) == ("54.516", "0.339", "0.123")


def test_bench_files_get_the_mode_the_umask_gives_new_files(tmp_path: Path) -> None:
    import os
    import stat

    previous = os.umask(0o022)
    try:
        written = write_results(_one_row_document(), tmp_path)
    finally:
        os.umask(previous)
    assert {stat.S_IMODE(path.stat().st_mode) for path in written} == {0o644}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json", "spans.csv", "summary.csv"]  # no temp left


def _chart_document() -> dict[str, Any]:
    """A bench.json as `awspar bench --quick` writes it, reduced to what the charts read: an s3
    workload whose modes span 0.08x to 5.8x SINGLE (a log axis) and a Bedrock one whose model id
    makes a long title."""
    def mode(name: str, relative: float, family: str = "awspar") -> dict[str, Any]:
        task = {"index": 0, "ok": True, "cancelled": False, "error": None, "start_s": 0.0, "end_s": 0.5,
                "segments": [{"kind": "request", "start_s": 0.0, "end_s": 0.5}]}
        return {"mode": name, "family": family, "summary": {"relative": relative, "rounds": 1},
                "median_round": 0, "rounds": [{"round": 0, "wall_s": 0.5, "tasks": [task]}]}

    s3 = [mode("SINGLE", 1.0, "seed"), mode("THREADS", 5.79, "seed"), mode("boto3-threads", 0.67, "boto3"),
          mode("awspar-async", 0.15), mode("awspar-subinterpreters", 0.11), mode("obstore", 0.08, "peer")]
    bedrock = [mode("SINGLE", 1.0, "seed"), mode("THREADS", 2.31, "seed"), mode("awspar-threads-race", 0.19)]
    return {"machine": {"python": "3.13.0", "cpus": 2}, "workloads": [
        {"name": "s3", "baseline_wall_s": 0.87, "modes": s3,
         "params": {"n": 10, "concurrency": 10, "latency_ms": 50.0, "size": 102400}},
        {"name": "bedrock", "baseline_wall_s": 0.84, "modes": bedrock,
         "params": {"n": 3, "concurrency": 3, "latency_ms": 250.0, "latency_sigma": 0.5,
                    "model": "anthropic.claude-3-haiku-20240307-v1:0"}},
    ]}


def test_every_chart_keeps_its_text_inside_the_figure_and_tick_labels_apart() -> None:
    pytest.importorskip("matplotlib")
    from awspar.bench.charts import _figures, _pyplot

    plt = _pyplot()
    checked = 0
    for name, figure in _figures(plt, _chart_document()):
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        bounds = figure.bbox
        texts = [figure._suptitle] if figure._suptitle is not None else []
        for axes in figure.axes:
            low, high = sorted(axes.get_xlim())
            shown = [t for t in axes.get_xticklabels()  # the ticks drawn: those inside the axis' range
                     if t.get_visible() and t.get_text() and low <= t.get_position()[0] <= high]
            texts += [axes.title, *axes.texts, *shown, *axes.get_yticklabels()]
            assert len(shown) >= 2, f"{name}: x axis labels {[t.get_text() for t in shown]}"
            boxes = sorted((t.get_window_extent(renderer) for t in shown), key=lambda b: b.x0)
            for left, right in zip(boxes, boxes[1:]):
                assert left.x1 <= right.x0 + 0.5, f"{name}: x tick labels overlap"
            if axes.get_xscale() == "log":
                assert all(t.get_text().endswith("×") for t in shown), [t.get_text() for t in shown]
        for text in texts:
            if not text.get_visible() or not text.get_text():
                continue
            box = text.get_window_extent(renderer)
            assert box.x0 >= bounds.x0 - 1 and box.x1 <= bounds.x1 + 1, f"{name}: {text.get_text()!r} runs off"
            checked += 1
        plt.close(figure)
    assert checked > 20
