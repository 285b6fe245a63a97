"""``awspar s3-get --hedge-after``: a stalled GET gets a second copy, and the first answer wins."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from awspar.cli._options import parse_hedge_after
from awspar.cli.app import build_app
from awspar.testing import TEST_CREDENTIALS, EndpointBehaviour, FaultRates, ObjectServer
from awspar.testing.faults import FaultPlanner

BODIES = {f"k{i:03d}": f"body {i}".encode() for i in range(60)}
STALLS = EndpointBehaviour(faults=FaultRates(stall=0.5, stall_s=3.0), seed=11)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["threads", "async"])
@pytest.mark.parametrize("hedge", ["200ms", "0.2s"])
def test_a_stalled_get_is_hedged_and_the_hedge_answers(tmp_path, mode, hedge) -> None:
    planner = FaultPlanner(STALLS)
    # keys whose first GET stalls 3 s and whose second (the hedge) does not
    stalled = [k for k in BODIES if [planner.decide(f"GET /demo/{k}").fault for _ in range(2)] == ["stall", None]][:2]
    assert len(stalled) == 2, "pick another seed"
    with ObjectServer({"demo": BODIES}, behaviour=STALLS) as server:
        env = {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": server.url}
        done = subprocess.run([sys.executable, "-c", "from awspar.cli import main; main()", "s3-get", "demo", *stalled,
                               "--hedge-after", hedge, "--mode", mode, "--json", "--out", str(tmp_path)],
                              env=env, capture_output=True, text=True, timeout=60, check=False)
        seen = server.stats()["requests"]
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] == 2 and [o["requests"] for o in report["objects"]] == [2, 2]  # primary + hedge each
    assert seen >= 4, seen  # the server saw both copies of each
    for key in stalled:
        assert (tmp_path / key).read_bytes() == BODIES[key]


@pytest.mark.parametrize(("text", "value"), [("100ms", 0.1), ("0.5s", 0.5), ("2", 2.0), ("p95", "p95"), ("P99.9", "p99.9")])
def test_hedge_after_takes_a_delay_or_a_percentile(text, value) -> None:
    assert parse_hedge_after(text) == value


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--hedge-after", "soon"], "--hedge-after 'soon' is not a delay"),
        (["--hedge-after", "0ms"], "is not a delay"),
        (["--hedge-after", "p100"], "is not a delay"),
        (["--hedge-after", "100ms", "--mode", "sequential"], "cannot hedge"),
    ],
)
def test_a_bad_hedge_after_is_one_line_and_exit_2(tmp_path, args, says) -> None:
    result = CliRunner().invoke(build_app("s3-get"), ["s3-get", "demo", "a.txt", "--out", str(tmp_path), *args],
                                env={**TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("awspar: ") and result.stderr.count("\n") == 1 and says in result.stderr
    assert not list(tmp_path.iterdir())
