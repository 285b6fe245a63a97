"""``awspar bench`` through the command line: files, tables, JSON, one-line errors, no matplotlib."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from awspar.bench.output import SCHEMA
from awspar.cli.app import build_app

SLEEP = ["bench", "sleep", "--modes", "SINGLE,ASYNC,THREADS", "--n", "3", "--sleep", "0.01", "--repeat", "2"]


def run(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(), args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.timeout(60)
def test_bench_writes_tables_json_csv_and_charts(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    code, out, err = run([*SLEEP, "--out", str(tmp_path), "--format", "svg"])
    assert code == 0, err
    for mode in ("SINGLE", "ASYNC", "THREADS"):
        assert mode in out
    assert "× SINGLE" in out and "CPU ms/req" in out and "Python 3." in out
    names = {p.name for p in tmp_path.iterdir()}
    assert {"bench.json", "summary.csv", "spans.csv", "overview.svg", "relative-sleep.svg",
            "waterfall-sleep-single.svg", "waterfall-sleep-async.svg", "waterfall-sleep-threads.svg"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    document = json.loads((tmp_path / "bench.json").read_text())
    assert document["schema"] == SCHEMA
    modes = document["workloads"][0]["modes"]
    assert [m["mode"] for m in modes] == ["SINGLE", "ASYNC", "THREADS"]
    assert all(m["status"] == "ok" and len(m["rounds"]) == 2 for m in modes)
    assert f"wrote {len(names)} files" in err


@pytest.mark.timeout(60)
def test_bench_json_output_and_missing_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the plot extra were not installed
    code, out, err = run([*SLEEP, "--modes", "SINGLE,ASYNC", "--repeat", "1", "--out", str(tmp_path), "--json"])
    assert code == 0, err
    document = json.loads(out)
    assert [m["mode"] for m in document["workloads"][0]["modes"]] == ["SINGLE", "ASYNC"]
    assert "charts skipped" in err and "awspar[plot]" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json", "spans.csv", "summary.csv"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench", "gpu"], "unknown workload gpu"),
        (["bench", "cpu", "--modes", "SINGLE,FASTEST"], "unknown mode FASTEST"),
        (["bench", "s3", "--n", "0"], "Invalid value for '--n'"),
        (["bench", "s3", "--latency-dist", "uniform:5"], "is not 'fixed:MS' or 'lognormal:MEDIAN_MS,SIGMA'"),
        (["bench", "sleep", "--format", "gif"], "--format must be one of png, svg"),
        (["bench", "s3", "--modes", "SINGLE", "--region", "eu-west-1", "--repeat", "1"], "needs --bucket"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    code, _, err = run([*args, "--out", str(tmp_path / "out")])
    assert code == 2
    assert message in err
    if "Invalid value" not in message:  # typer's own range check prints its usage box
        assert len(err.strip().splitlines()) == 1 and err.startswith("awspar: ")
    assert not (tmp_path / "out").exists()


def test_out_must_be_a_directory(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("keep me")
    code, _, err = run([*SLEEP, "--out", str(target)])
    assert code == 2 and "is not a directory" in err
    assert target.read_text() == "keep me"


@pytest.mark.timeout(120)
def test_bench_size_takes_units_as_local_size_does(tmp_path: Path) -> None:
    """The old --size was an integer only ('4KiB' was a usage error) while `awspar local --size` took units."""
    code, out, err = run(["bench", "s3", "--modes", "SINGLE", "--n", "2", "--repeat", "1", "--size", "4KiB",
                          "--latency-ms", "1", "--out", str(tmp_path), "--json"])
    assert code == 0, err
    assert json.loads(out)["workloads"][0]["params"]["size"] == 4096
    code, _, err = run(["bench", "s3", "--size", "4XB", "--out", str(tmp_path / "bad")])
    assert code == 2 and err.startswith("awspar: size '4XB' is not a number of bytes") and err.count("\n") == 1
