"""``awspar local`` as a user runs it: a real subprocess, driven by boto3, stopped by a signal."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import IO

import boto3
import pytest
from botocore.config import Config

pytest.importorskip("aiohttp")
pytest.importorskip("typer")

pytestmark = pytest.mark.timeout(60)

START = "from awspar.cli import main; main()"


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", START, "local", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _reap(process: subprocess.Popen[str]) -> None:
    """Kill the server if a failed test left it running; close its pipes."""
    if process.poll() is None:
        process.kill()
        process.wait()
    process.stdout.close()  # type: ignore[union-attr]
    process.stderr.close()  # type: ignore[union-attr]


def _read_env(stdout: IO[str], lines: int = 7) -> dict[str, str]:
    env = {}
    for _ in range(lines):
        line = stdout.readline()
        assert line.startswith("export "), line
        name, _, value = line[len("export "):].strip().partition("=")
        env[name] = value
    return env


def _port_closed(url: str) -> bool:
    host, port = url.rsplit("/", 1)[1].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_local_serves_both_endpoints_and_stops_on_a_signal(sig: signal.Signals, monkeypatch: pytest.MonkeyPatch) -> None:
    process = _start("--objects", "5", "--size", "2KiB", "--bucket", "demo", "--seed", "3")
    try:
        env = _read_env(process.stdout)  # type: ignore[arg-type]
        assert set(env) == {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL_DYNAMODB",
                            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        s3 = boto3.client("s3", config=Config(signature_version="s3v4"))
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="demo")["Contents"]]
        assert keys == [f"obj-{i:06d}" for i in range(1, 6)]
        assert len(s3.get_object(Bucket="demo", Key="obj-000005")["Body"].read()) == 2048
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "demo", "Key": "obj-000001"})
        assert urllib.request.urlopen(url, timeout=10).status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=10)
        assert refused.value.code == 403
        refused.value.close()
        rt = boto3.client("bedrock-runtime")
        reply = rt.converse(modelId="amazon.nova-micro-v1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}])
        assert reply["output"]["message"]["content"][0]["text"] == "hi"
        ddb = boto3.client("dynamodb")
        assert ddb.get_item(TableName="demo", Key={"pk": {"S": "item-000002"}})["Item"]["n"] == {"N": "2"}
        ddb.put_item(TableName="demo", Item={"pk": {"S": "mine"}, "v": {"B": b"\x00\xff"}})
        assert ddb.get_item(TableName="demo", Key={"pk": {"S": "mine"}})["Item"]["v"] == {"B": b"\x00\xff"}
        process.send_signal(sig)
        assert process.wait(timeout=15) == 0
        stderr = process.stderr.read()  # type: ignore[union-attr]
        assert "stopped" in stderr and "Traceback" not in stderr
        assert _port_closed(env["AWS_ENDPOINT_URL_S3"]) and _port_closed(env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"])
        assert _port_closed(env["AWS_ENDPOINT_URL_DYNAMODB"])
    finally:
        _reap(process)


def test_local_json_output_faults_and_fixed_ports() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = _start("--json", "--objects", "3", "--no-verify", "--port-s3", str(port),
                     "--faults", "slowdown=1.0", "--latency-ms", "5")
    try:
        env = json.loads(process.stdout.readline())  # type: ignore[union-attr]
        assert env["AWS_ENDPOINT_URL_S3"] == f"http://127.0.0.1:{port}"
        with pytest.raises(urllib.error.HTTPError) as slowed:
            urllib.request.urlopen(f"{env['AWS_ENDPOINT_URL_S3']}/demo/obj-000001", timeout=10)
        with slowed.value:
            assert slowed.value.code == 503 and b"<Code>SlowDown</Code>" in slowed.value.read()
        stats = json.loads(urllib.request.urlopen(f"{env['AWS_ENDPOINT_URL_S3']}/_awspar/stats", timeout=10).read())
        assert stats["faults"] == {"slowdown": 1}
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        _reap(process)


@pytest.mark.parametrize(("args", "message"), [
    (["--faults", "slowdown=2"], "fault rate slowdown=2.0 is not between 0 and 1"),
    (["--faults", "bogus=0.1"], "unknown fault 'bogus'"),
    (["--size", "12Q"], "size '12Q' is not a number of bytes"),
    (["--latency-dist", "pareto:1"], "latency distribution 'pareto:1'"),
    (["--latency-ms", "5", "--latency-dist", "fixed:5"], "not both"),
    (["--quota", "concurrent=0"], "quota max_concurrent must be >= 1"),
    (["--answer", "poetry"], "--answer must be one of"),
    (["--capacity", "rate=fast"], "capacity rate='fast' is not a number"),
    (["--bedrock-capacity", "tokens=3"], "is not rate=N, burst=N or concurrent=N"),
])
def test_local_refuses_bad_options_in_one_line(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from awspar.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["local", *args])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("awspar: ") and message in err


def test_local_reports_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-c", START, "local", "--port-s3", str(port)],
                              capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 3 and "could not bind" in done.stderr and done.stderr.count("\n") == 1
    assert time.monotonic() - start < 30


@pytest.mark.timeout(60)
def test_the_form_local_help_gives_works_in_one_shell(tmp_path) -> None:
    """The old help recommended eval "$(awspar local &)", which never returns."""
    from typer.testing import CliRunner

    from awspar.cli.app import build_app

    help_text = CliRunner().invoke(build_app("local"), ["local", "--help"], env={"COLUMNS": "200"}).stdout
    assert "awspar local > local.env &" in help_text and "until [ -s local.env ]" in help_text
    awspar = f"{sys.executable} -c 'from awspar.cli import main; main()'"
    script = (f"{awspar} local --objects 1 > local.env & server=$!\n"
              "until [ -s local.env ]; do sleep 0.1; done; . ./local.env\n"
              'echo "s3=$AWS_ENDPOINT_URL_S3"\n'
              "kill -INT $server; wait $server")
    done = subprocess.run(["sh", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=50, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("s3=http://127.0.0.1:"), done.stdout
