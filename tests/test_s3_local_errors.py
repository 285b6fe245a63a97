"""Local file errors are not transport errors (issue 18 item 3, issue 19 item 8): a full disk, too
many open files or an ``--out`` that cannot be written fail with a clear error naming the path, are
never retried, and a full disk stops the run.

The full disk is the kernel's own ENOSPC: the fetch's temporary file is opened on ``/dev/full``
(``os.open`` redirected for the temporary files only: the sink, not the HTTP layer). The directory
that cannot be written is made immutable (``chattr +i``: read-only even for root).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import boto3
import pytest

from awspar import DiskFull, EngineConfig, LocalFileError
from awspar.s3 import get_objects
from awspar.s3.tempfiles import TEMP_PREFIX
from awspar.testing import TEST_CREDENTIALS, GeneratedBucket, ObjectServer

SPEC = GeneratedBucket(20, 4096)
KEYS = list(SPEC.keys())


@pytest.fixture(scope="module")
def server() -> Iterator[ObjectServer]:
    with ObjectServer({"gen": SPEC}) as srv:
        yield srv


@pytest.fixture(scope="module")
def session():  # type: ignore[no-untyped-def]
    return boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())


def _temp_files_fail(monkeypatch: pytest.MonkeyPatch, root, from_number: int,  # type: ignore[no-untyped-def]
                     fail: Callable[[], int] | None = None) -> None:
    """From the ``from_number``-th temporary file opened under ``root`` on: open ``/dev/full``
    instead (or call ``fail`` for an OSError of another kind)."""
    real_open = os.open
    opened = [0]

    def redirected(path, flags, mode=0o777, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = os.fspath(path)
        if name.startswith(str(root)) and os.path.basename(name).startswith(TEMP_PREFIX):
            opened[0] += 1
            if opened[0] >= from_number:
                if fail is not None:
                    raise OSError(fail(), os.strerror(fail()), os.fspath(path))
                return real_open("/dev/full", flags & ~(os.O_CREAT | os.O_EXCL), mode)
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", redirected)


def _temp_files(root) -> list[str]:  # type: ignore[no-untyped-def]
    return [name for _, _, names in os.walk(root) for name in names if name.startswith(TEMP_PREFIX)]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["sequential", "threads", "async"])
def test_a_full_disk_stops_the_run(server, session, tmp_path, monkeypatch, mode) -> None:
    server.reset_stats()
    _temp_files_fail(monkeypatch, tmp_path, from_number=3)
    seen = []
    with pytest.raises(DiskFull) as stopped:
        for result in get_objects("gen", KEYS, out_dir=tmp_path, mode=mode, config=EngineConfig(concurrency=2),
                                  session=session, endpoint_url=server.url):
            seen.append(result)
    full = [r for r in seen if r.error_code == "DiskFull"]
    assert len(full) == 1 and full[0].requests == 1  # not retried
    assert "no space left on the device [ENOSPC]" in full[0].error and TEMP_PREFIX in full[0].error
    assert "the keys after it were not fetched" in str(stopped.value)
    # two keys are taken up at a time (even sequential sends one at a time, not one plan at a time):
    # one or two may land before the third temporary file hits the full disk
    assert 1 <= sum(r.ok for r in seen) <= 3 and len(seen) <= 4
    assert server.stats()["operations"]["GetObject"] <= 5  # the other 15 keys were never asked for
    assert not _temp_files(tmp_path)


@pytest.mark.timeout(60)
def test_too_many_open_files_says_to_lower_the_concurrency_and_is_not_retried(server, session, tmp_path, monkeypatch) -> None:
    _temp_files_fail(monkeypatch, tmp_path, from_number=1, fail=lambda: errno.EMFILE)
    results = list(get_objects("gen", KEYS[:3], out_dir=tmp_path, mode="threads", session=session,
                               endpoint_url=server.url))
    assert [r.error_code for r in results] == ["LocalFileError"] * 3  # the run goes on: only the disk filling up stops it
    assert all(r.requests == 1 for r in results)
    assert "too many open files: lower the concurrency (--concurrency)" in results[0].error
    assert str(tmp_path) in results[0].error


@pytest.fixture
def immutable_dir(tmp_path):  # type: ignore[no-untyped-def]
    """A directory nothing can be written into, not even by root."""
    target = tmp_path / "out"
    target.mkdir()
    subprocess.run(["chattr", "+i", str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True)


@pytest.mark.timeout(60)
def test_an_out_dir_that_cannot_be_written_fails_before_anything_is_sent(server, session, immutable_dir) -> None:
    server.reset_stats()
    with pytest.raises(LocalFileError) as refused:
        get_objects("gen", KEYS, out_dir=immutable_dir, session=session, endpoint_url=server.url)
    assert str(refused.value).startswith(f"{immutable_dir}: cannot write into this directory")
    assert server.stats()["requests"] == 0


def _s3_get(server: ObjectServer, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": server.url}
    return subprocess.run([sys.executable, "-c", "from awspar.cli import main; main()", "s3-get", "gen", *args],
                          check=False, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.timeout(60)
def test_cli_out_that_cannot_be_written_exits_2_naming_it_once(server, immutable_dir) -> None:
    done = _s3_get(server, *KEYS, "--out", str(immutable_dir))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(immutable_dir) in lines[0] and "cannot write" in lines[0]


@pytest.mark.timeout(60)
def test_cli_full_disk_stops_with_the_report_saying_why(server, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from awspar.cli.app import build_app

    for name, value in {**TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": server.url}.items():
        monkeypatch.setenv(name, value)
    _temp_files_fail(monkeypatch, tmp_path, from_number=3)
    result = CliRunner().invoke(build_app("s3-get"), ["s3-get", "gen", *KEYS, "--out", str(tmp_path), "--json",
                                                      "--mode", "sequential"])
    assert result.exit_code == 2, result.output
    report = json.loads(result.stdout)
    assert report["error_codes"] == {"DiskFull": 1} and 1 <= report["ok"] <= 3, report
    assert len(report["objects"]) == report["ok"] + 1 <= 4, report  # the keys after it were not fetched
    assert report["stopped"]["error_code"] == "DiskFull"
    assert "no space left on the device" in report["stopped"]["error"] and "not fetched" in report["stopped"]["error"]
    assert not _temp_files(tmp_path)
