"""``awspar s3-put`` as a user runs it (a subprocess against the project's S3 endpoint), and
put_objects against moto's server, header-signed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("aiohttp")

from awspar.s3 import MiB, put_objects
from awspar.testing import TEST_CREDENTIALS, EndpointBehaviour, Latency, ObjectServer

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def server():
    with ObjectServer({"up": {}}) as srv:
        yield srv
        assert srv.multipart_uploads() == []


def _command(server, *args: str) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": server.url}
    return [sys.executable, "-c", "from awspar.cli import main; main()", "s3-put", *args], env


def _run(server, *args: str) -> subprocess.CompletedProcess:
    command, env = _command(server, *args)
    return subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=60)


def _tree(root) -> dict[str, bytes]:
    files = {"a.txt": b"alpha", "dir/b c.csv": b"beta" * 100, "dir/deeper/c.bin": os.urandom(5000)}
    for key, body in files.items():
        path = root.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return files


def test_a_directory_uploads_with_a_summary_and_exit_0(server, tmp_path) -> None:
    files = _tree(tmp_path / "out")
    done = _run(server, "up", str(tmp_path / "out"), "--prefix", "2026/12/", "--metadata", "team=data")
    assert done.returncode == 0, done.stderr
    assert "3 ok, 0 failed" in done.stdout and done.stderr == ""
    for key, body in files.items():
        stored, headers = server.object("up", f"2026/12/{key}")
        assert stored == body and headers["x-amz-meta-team"] == "data"
    assert server.object("up", "2026/12/dir/b c.csv")[1]["Content-Type"] == "text/csv"


def test_json_report_and_skip_existing_on_a_re_run(server, tmp_path) -> None:
    _tree(tmp_path)
    first = json.loads(_run(server, "up", str(tmp_path), "--json", "--mode", "threads").stdout)
    assert first["ok"] == 3 and first["exit_code"] == 0 and {o["key"] for o in first["objects"]} == {
        "a.txt", "dir/b c.csv", "dir/deeper/c.bin"}
    (tmp_path / "a.txt").write_bytes(b"changed")
    again = json.loads(_run(server, "up", str(tmp_path), "--json", "--skip-existing").stdout)
    assert again["ok"] == 1 and again["skipped"] == 2 and again["exit_code"] == 0
    assert server.object("up", "a.txt")[0] == b"changed"


def test_no_such_bucket_exits_3_with_one_line(server, tmp_path) -> None:
    _tree(tmp_path)
    done = _run(server, "nope", str(tmp_path))
    assert done.returncode == 3
    assert done.stderr.strip() == "awspar: bucket 'nope' does not exist (NoSuchBucket)"


@pytest.mark.parametrize("args, message", [
    (["missing-dir"], "no such file or directory: missing-dir"),
    (["{path}", "--checksum", "md5"], "--checksum 'md5' is not one of"),
    (["{path}", "--metadata", "novalue"], "--metadata 'novalue': expected KEY=VALUE"),
    (["{path}", "--mode", "warp"], "--mode 'warp' is not one of"),
])
def test_bad_input_exits_2_with_one_line_and_uploads_nothing(server, tmp_path, args, message) -> None:
    _tree(tmp_path)
    done = _run(server, "up", *[a.format(path=tmp_path) for a in args])
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert server.stats()["requests"] == 0


@pytest.mark.parametrize(("signum", "code", "said"), [(signal.SIGINT, 130, "interrupted"),
                                                      (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_and_sigterm_abort_the_multipart_uploads_in_flight(tmp_path, signum, code, said) -> None:
    for i in range(3):
        (tmp_path / f"big{i}.bin").write_bytes(os.urandom(17 * MiB))
    with ObjectServer({"up": {}}, behaviour=EndpointBehaviour(latency=Latency(400))) as server:
        command, env = _command(server, "up", str(tmp_path), "--mode", "threads")
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while server.stats()["operations"].get("UploadPart", 0) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == code, err
        assert said in err and "Traceback" not in err
        assert server.multipart_uploads() == []
        assert server.stats()["operations"]["AbortMultipartUpload"] >= 1


def test_moto_takes_header_signed_puts_and_multipart_uploads(moto_server, tmp_path) -> None:
    moto_server.create_bucket("awspar-s3-put", [])
    big = os.urandom(5 * MiB + 321)
    (tmp_path / "big.bin").write_bytes(big)
    (tmp_path / "small.txt").write_bytes(b"small")
    results = {r.key: r for r in put_objects(
        "awspar-s3-put", str(tmp_path), presigned=False, session=moto_server.session(), endpoint_url=moto_server.url,
        part_size=5 * MiB, multipart_threshold=5 * MiB)}
    assert all(r.ok for r in results.values()), results
    s3 = moto_server.session().client("s3", endpoint_url=moto_server.url)
    assert s3.get_object(Bucket="awspar-s3-put", Key="big.bin")["Body"].read() == big
    assert s3.get_object(Bucket="awspar-s3-put", Key="small.txt")["Body"].read() == b"small"
    assert "Uploads" not in s3.list_multipart_uploads(Bucket="awspar-s3-put")
