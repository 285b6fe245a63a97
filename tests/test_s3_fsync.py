"""Durability (issue 19 item 9): a file is flushed to the disk before it is linked into place (and
its directory after), for objects of 1 MiB or more by default; ``fsync="always"`` / ``"never"``."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import boto3
import pytest

from awspar.s3 import FSYNC_THRESHOLD, MiB, get_objects
from awspar.testing import TEST_CREDENTIALS, ObjectServer

BODIES = {"small.bin": os.urandom(4096), "large.bin": os.urandom(2 * MiB)}


@pytest.fixture(scope="module")
def server():
    with ObjectServer({"b": BODIES}) as srv:
        yield srv


def _flushed(server, tmp_path, monkeypatch, mode: str, **options):  # type: ignore[no-untyped-def]
    """What was fsynced during a fetch: ``(path, is a file, whether large.bin had its name yet)``."""
    real_fsync = os.fsync
    flushed: list[tuple[str, bool, bool]] = []

    def recording(fd: int) -> None:
        is_file = stat.S_ISREG(os.fstat(fd).st_mode)
        flushed.append((os.readlink(f"/proc/self/fd/{fd}"), is_file, (tmp_path / "large.bin").exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    session = boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())
    results = list(get_objects("b", list(BODIES), out_dir=tmp_path, mode=mode, session=session,
                               endpoint_url=server.url, **options))
    assert all(r.ok for r in results)
    for key, body in BODIES.items():
        assert (tmp_path / key).read_bytes() == body
    return flushed


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["threads", "async"])
def test_large_files_are_flushed_before_they_get_their_name(server, tmp_path, monkeypatch, mode) -> None:
    assert 4096 < FSYNC_THRESHOLD <= 2 * MiB
    flushed = _flushed(server, tmp_path, monkeypatch, mode)
    files = [(path, named) for path, is_file, named in flushed if is_file]
    assert len(files) == 1 and os.path.basename(files[0][0]).startswith(".awspar-")  # the large one's temporary file
    assert files[0][1] is False  # flushed before the link: no name pointed at it yet
    assert [path for path, is_file, _ in flushed if not is_file] == [str(tmp_path)]  # then the directory entry


@pytest.mark.timeout(60)
def test_always_and_never(server, tmp_path, monkeypatch) -> None:
    always = _flushed(server, tmp_path / "a", monkeypatch, "threads", fsync="always")
    assert len([path for path, is_file, _ in always if is_file]) == 2
    never = _flushed(server, tmp_path / "n", monkeypatch, "threads", fsync="never")
    assert never == []
    with pytest.raises(ValueError, match="fsync"):
        get_objects("b", ["small.bin"], out_dir=tmp_path / "x", fsync="sometimes")


def test_cli_refuses_a_bad_fsync(server, tmp_path) -> None:
    env = {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": server.url}
    done = subprocess.run([sys.executable, "-c", "from awspar.cli import main; main()", "s3-get", "b", "small.bin",
                           "--out", str(tmp_path), "--fsync", "sometimes"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "--fsync" in done.stderr and not any(tmp_path.iterdir())
