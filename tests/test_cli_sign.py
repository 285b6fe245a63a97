"""``awspar sign``: its JSON, curl and presign output really work against moto; bad input is one line."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
import urllib3
from typer.testing import CliRunner

from awspar import SignedRequest
from awspar.cli.app import build_app
from awspar.cli.sign import curl_command

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def run(moto_server, monkeypatch):
    """Run ``awspar ARGS`` in-process with the moto server's settings in the environment."""
    for name, value in moto_server.env().items():
        monkeypatch.setenv(name, value)
    app = build_app()

    def invoke(*args: str):
        return CliRunner().invoke(app, list(args))

    return invoke


@pytest.fixture(scope="module")
def bucket(moto_server) -> str:
    moto_server.create_bucket("cli-tests", [("hello.txt", b"hello from moto")])
    return "cli-tests"


@pytest.mark.timeout(60)
def test_json_output_is_a_signed_request_moto_accepts(run, bucket) -> None:
    result = run("sign", "s3", "GetObject", "--param", f"Bucket={bucket}", "--param", "Key=hello.txt")
    assert result.exit_code == 0, result.output
    request = SignedRequest.from_dict(json.loads(result.stdout))
    assert request.operation == "s3.GetObject" and request.params == {"Bucket": bucket, "Key": "hello.txt"}
    got = urllib3.request(request.method, request.url, headers=dict(request.headers), timeout=10)
    assert (got.status, got.data) == (200, b"hello from moto")


@pytest.mark.timeout(60)
def test_json_values_and_file_bodies(run, moto_server, bucket, tmp_path) -> None:
    body = tmp_path / "upload.bin"
    body.write_bytes(bytes(range(256)))
    result = run("sign", "s3", "put_object", "-p", f"Bucket={bucket}", "-p", "Key=from-file.bin",
                 "-p", f"Body=@{body}", "-p", 'Metadata={"origin": "cli"}', "--json")
    assert result.exit_code == 0, result.output
    request = SignedRequest.from_dict(json.loads(result.stdout))
    got = urllib3.request(request.method, request.url, headers=dict(request.headers), body=request.body, timeout=10)
    assert got.status == 200, got.data
    stored = moto_server.client("s3").get_object(Bucket=bucket, Key="from-file.bin")
    assert stored["Body"].read() == bytes(range(256)) and stored["Metadata"] == {"origin": "cli"}

    listing = run("sign", "s3", "list_objects_v2", "-p", f"Bucket={bucket}", "-p", "MaxKeys=1", "-p", "Prefix=123")
    assert listing.exit_code == 0, listing.output
    url = json.loads(listing.stdout)["url"]
    assert "max-keys=1" in url and "prefix=123" in url  # a number for an integer, text for a string


@pytest.mark.timeout(60)
def test_curl_output_runs(run, moto_server, bucket, tmp_path) -> None:
    result = run("sign", "s3", "GetObject", "--param", f"Bucket={bucket}", "--param", "Key=hello.txt", "--curl")
    assert result.exit_code == 0, result.output
    fetched = subprocess.run(["bash", "-c", result.stdout.strip() + " --silent --fail"], capture_output=True, timeout=30, check=False)
    assert fetched.returncode == 0 and fetched.stdout == b"hello from moto"

    binary = tmp_path / "binary.bin"
    binary.write_bytes(b"\x00\x01'\"\\$`@\xff" * 50)
    result = run("sign", "s3", "put_object", "-p", f"Bucket={bucket}", "-p", "Key=curl.bin", "-p", f"Body=@{binary}", "--curl")
    assert result.exit_code == 0, result.output
    sent = subprocess.run(["bash", "-c", result.stdout.strip() + " --silent --fail"], capture_output=True, timeout=30, check=False)
    assert sent.returncode == 0, sent.stderr
    assert moto_server.client("s3").get_object(Bucket=bucket, Key="curl.bin")["Body"].read() == binary.read_bytes()


def test_curl_command_keeps_every_byte_and_header() -> None:
    line = curl_command("PUT", "https://h/a%20b//c?x=1&y=[2]", {"A": "1", "Empty": ""}, b"it's $HOME")
    words = shlex.split(line)
    assert words[:3] == ["curl", "--globoff", "--path-as-is"] and "https://h/a%20b//c?x=1&y=[2]" in words
    assert "A: 1" in words and "Empty;" in words and "Content-Type:" in words
    assert words[words.index("--data-binary") + 1] == "it's $HOME"
    assert shlex.split(curl_command("HEAD", "https://h/k", {}, b""))[3] == "--head"
    assert curl_command("PUT", "https://h/k", {}, b"@not-a-file").startswith("printf '%b' ")


def test_presign_prints_a_url(run) -> None:
    result = run("sign", "s3", "get_object", "-p", "Bucket=demo", "-p", "Key=a b.txt", "--presign", "--expires", "120")
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert "\n" not in url and "/demo/a%20b.txt?" in url and "X-Amz-Expires=120" in url
    as_json = run("sign", "s3", "get_object", "-p", "Bucket=demo", "-p", "Key=k", "--presign", "--json")
    assert json.loads(as_json.stdout)["url"].startswith(os.environ["AWS_ENDPOINT_URL"] + "/demo/k?")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sign", "s3", "GetObjct", "-p", "Bucket=b"], "did you mean: GetObject"),
        (["sign", "s4x", "GetObject"], "unknown service 's4x'"),
        (["sign", "s3", "GetObject", "-p", "Bucket=b"], 'Missing required parameter in input: "Key"'),
        (["sign", "s3", "ListObjectsV2", "-p", "Bucket=b", "-p", "MaxKeys=ten"], "needs a JSON integer value"),
        (["sign", "s3", "PutObject", "-p", "Bucket=b", "-p", "Key=k", "-p", "Body=@/no/such/file"], "cannot read"),
        (["sign", "s3", "GetObject", "-p", "Bucket"], "expected Key=Value"),
        (["sign", "s3", "GetObject", "-p", "Bucket=b", "-p", "Key=k", "--json", "--curl"], "one of --json and --curl"),
        (["sign", "s3", "GetObject", "-p", "Bucket=b", "-p", "Key=k", "--expires", "5"], "--presign only"),
        (["sign", "s3", "GetObject", "-p", "Bucket=b", "-p", "Key=k", "--presign", "--expires", "0"], "expires_in"),
        (["sign", "sqs", "ListQueues", "--region", "bad region!"], "region"),
        (["sign", "s3", "GetObject", "-p", "Bucket=b", "-p", "Key=k", "-p", "Key=j"], "--param Key is given twice"),
        (["sign", "bedrock-runtime", "Converse", "-p", "modelId=m", "-p", 'messages=[{"role": "user", "content": '
          '[{"text": "hi"}]}]', "--presign"], "--presign: Converse sends a POST with a body"),
        (["sign", "s3", "PutObject", "-p", "Bucket=b", "-p", "Key=k", "-p", "Body=data", "--presign"],
         "--presign: PutObject sends a PUT with a body"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(run, moto_server, args, message) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("awspar: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert moto_server.credentials.secret_key not in result.stderr


def test_no_credentials_is_one_line(monkeypatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    result = CliRunner().invoke(build_app(), ["sign", "sqs", "ListQueues"])
    assert result.exit_code == 2 and "no AWS credentials" in result.stderr and result.stderr.count("\n") == 1
