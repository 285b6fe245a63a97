"""The pytest fixtures that ship with awspar for offline tests of users' own code."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

pytest.importorskip("aiohttp")

from awspar.testing import TEST_CREDENTIALS, GeneratedBucket
from awspar.testing.faults import EndpointBehaviour, parse_faults

pytestmark = pytest.mark.timeout(60)


def test_local_aws_env_points_plain_boto3_at_both_servers(local_aws_env: dict[str, str], object_server, bedrock_server) -> None:  # type: ignore[no-untyped-def]
    object_server.put("test", "hello.txt", b"hi from the fixture")
    s3 = boto3.client("s3")
    assert s3.get_object(Bucket="test", Key="hello.txt")["Body"].read() == b"hi from the fixture"
    rt = boto3.client("bedrock-runtime")
    reply = rt.converse(modelId="anthropic.claude-3-haiku-20240307-v1:0",
                        messages=[{"role": "user", "content": [{"text": "ping"}]}])
    assert reply["output"]["message"]["content"][0]["text"] == "ping"
    assert local_aws_env["AWS_ACCESS_KEY_ID"] == TEST_CREDENTIALS.access_key
    assert object_server.stats()["operations"] == {"GetObject": 1}
    assert bedrock_server.stats()["operations"] == {"Converse": 1}


def test_make_object_server_configures_faults_per_test(make_object_server: Callable[..., object]) -> None:
    flaky = make_object_server({"g": GeneratedBucket(4, 8)},
                               behaviour=EndpointBehaviour(faults=parse_faults("slowdown=1.0")))
    healthy = make_object_server({"g": GeneratedBucket(4, 8)})
    for server, ok in ((flaky, False), (healthy, True)):
        s3 = boto3.client("s3", endpoint_url=server.url, config=Config(retries={"total_max_attempts": 1}),  # type: ignore[attr-defined]
                          **TEST_CREDENTIALS.boto3_kwargs())
        if ok:
            assert s3.get_object(Bucket="g", Key="obj-000004")["Body"].read() == GeneratedBucket(4, 8).read("obj-000004")
        else:
            with pytest.raises(ClientError, match="SlowDown"):
                s3.get_object(Bucket="g", Key="obj-000004")
    assert flaky.stats()["faults"] == {"slowdown": 1}  # type: ignore[attr-defined]


INNER_TEST = """
import socket

import pytest

PORTS = []


def test_uses_the_servers(object_server, bedrock_server, local_aws_env):
    PORTS.extend([object_server.port, bedrock_server.port])
    socket.create_connection(("127.0.0.1", object_server.port), timeout=1).close()


def test_they_are_gone_after_it():
    assert len(PORTS) == 2
    for port in PORTS:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
"""


def test_fixture_servers_do_not_outlive_their_test(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Run in a pytest of its own, where the order of the two tests is the file's."""
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "test_inner.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout + done.stderr
