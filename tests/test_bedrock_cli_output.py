"""``awspar bedrock``'s stderr when it is a file or a pipe (issue 19 item 8): the timing table is not
cut to 80 columns, and a call that failed after retries says "after N attempts" once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from awspar.testing import TEST_CREDENTIALS, EndpointBehaviour, FaultRates
from awspar.testing.bedrock_server import BedrockServer


@pytest.mark.timeout(60)
def test_a_failed_call_is_reported_once_and_the_table_is_whole() -> None:
    with BedrockServer(behaviour=EndpointBehaviour(faults=FaultRates(reset=1.0))) as server:
        env = {name: value for name, value in os.environ.items() if name != "COLUMNS"}
        env.update(TEST_CREDENTIALS.env(), AWS_ENDPOINT_URL=server.url)
        done = subprocess.run(
            [sys.executable, "-c", "from awspar.cli import main; main()", "bedrock", "--n", "1", "--retries", "1",
             "--mode", "threads", "hi"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )
    assert done.returncode == 3, done.stderr
    lines = done.stderr.splitlines()
    failure = lines[-1]
    assert failure.startswith("awspar: every call failed") and failure.count("after 2 attempts") == 1, failure
    header = next(line for line in lines if "call" in line and "outcome" in line)
    assert "first token s" in header and "tokens in/out" in header  # one line each, not folded
    assert max(len(line) for line in lines[:-1]) > 80
