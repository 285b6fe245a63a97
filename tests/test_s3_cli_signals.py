"""``awspar s3-get`` stopped by a signal leaves no temporary file, and a new run removes the ones
a killed run left: real subprocesses, real signals, the project's object endpoint with a slow body."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from awspar.testing import TEST_CREDENTIALS, EndpointBehaviour, GeneratedBucket, ObjectServer

BIG = GeneratedBucket(8, 3 * 1024 * 1024)  # streamed into temporary files (small ones stay in memory)


@pytest.fixture(scope="module")
def slow_server():
    with ObjectServer({"big": BIG, "small": {"a.txt": b"alpha", "dir/b.txt": b"beta"}},
                      behaviour=EndpointBehaviour(body_rate=1_000_000)) as srv:  # each body takes ~3 s
        yield srv


def _tmp_files(root) -> list[str]:
    return sorted(f for _, _, files in os.walk(root) for f in files if f.startswith(".awspar-"))


def _start(server, out, *args: str) -> subprocess.Popen:
    env = {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": server.url}
    return subprocess.Popen([sys.executable, "-c", "from awspar.cli import main; main()", "s3-get", "big",
                             *[BIG.key(i) for i in range(BIG.count)], "--out", str(out), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group, as a terminal's job is


def _when_downloading(proc: subprocess.Popen, out) -> None:
    deadline = time.monotonic() + 60
    while not _tmp_files(out) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert _tmp_files(out), "the fetch never started"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["threads", "async"])
def test_sigterm_cleans_up_as_ctrl_c_does(slow_server, tmp_path, mode) -> None:
    """``timeout 4 awspar s3-get ...``: the old code died at once, its temporary files left."""
    proc = _start(slow_server, tmp_path, "--mode", mode)
    _when_downloading(proc, tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert stderr.startswith("awspar: terminated (SIGTERM): 0 ok") and stderr.count("\n") == 1, stderr
    assert _tmp_files(tmp_path) == []
    assert not any(files for _, _, files in os.walk(tmp_path))


@pytest.mark.timeout(240)
def test_ctrl_c_at_a_terminal_in_dask_mode_is_one_true_line(slow_server, tmp_path) -> None:
    """Ctrl-C signals the whole foreground process group: the old local cluster, in that group,
    printed a KeyboardInterrupt traceback from its scheduler and every worker."""
    proc = _start(slow_server, tmp_path, "--mode", "dask")
    _when_downloading(proc, tmp_path)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert stderr.startswith("awspar: interrupted: ") and stderr.count("\n") == 1, stderr
    time.sleep(1)  # nothing written after the exit either
    assert _tmp_files(tmp_path) == []


@pytest.mark.timeout(60)
def test_a_new_run_removes_the_temporary_files_of_a_dead_process_and_only_those(slow_server, tmp_path) -> None:
    from awspar.s3.tempfiles import HOST_TAG

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead, live = gone.pid, os.getpid()
    (tmp_path / "dir").mkdir()
    stale = [tmp_path / f".awspar-{dead}-{HOST_TAG}-0123456789ab.tmp", tmp_path / "dir" / f".awspar-{dead}-ba9876543210.tmp"]
    kept = [tmp_path / f".awspar-{live}-{HOST_TAG}-0123456789ab.tmp",  # a run still going
            tmp_path / f".awspar-{dead}-0badc0de-0123456789ab.tmp",  # named on another machine
            tmp_path / "dir" / ".awspar-notes.txt"]  # not ours at all
    for path in stale + kept:
        path.write_bytes(b"partial")
    env = {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": slow_server.url}
    done = subprocess.run([sys.executable, "-c", "from awspar.cli import main; main()", "s3-get", "small", "a.txt",
                           "dir/b.txt", "--out", str(tmp_path)], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert [p.exists() for p in stale] == [False, False]
    assert [p.exists() for p in kept] == [True, True, True]
    assert (tmp_path / "dir" / "b.txt").read_bytes() == b"beta"
