"""Ctrl-C in ``awspar s3-get --mode processes`` (issue 19 item 8): the terminal sends SIGINT to the
whole process group, workers included; they ignore it, the parent stops them, and the user sees the
one-line message, no KeyboardInterrupt traceback from each worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from awspar.testing import TEST_CREDENTIALS, EndpointBehaviour, GeneratedBucket, Latency, ObjectServer

SPEC = GeneratedBucket(200, 1024)


@pytest.mark.timeout(90)
def test_ctrl_c_to_the_process_group_prints_no_worker_traceback(tmp_path) -> None:
    with ObjectServer({"gen": SPEC}, behaviour=EndpointBehaviour(latency=Latency(300))) as server:
        env = {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": server.url}
        proc = subprocess.Popen(
            [sys.executable, "-c", "from awspar.cli import main; main()", "s3-get", "gen", "--prefix", "",
             "--out", str(tmp_path), "--mode", "processes", "--concurrency", "8"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not any(tmp_path.iterdir()) and time.monotonic() < deadline:  # objects arriving: workers up
            time.sleep(0.05)
        assert any(tmp_path.iterdir()), "the fetch never started"
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C does
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
