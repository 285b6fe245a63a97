"""An empty object through a server that answers its ranged GET with 206 ``bytes */0`` and a
Content-Length the body never fills (issue 18 item 6): Content-Range's total is trusted, the
object is empty, nothing waits for a read timeout."""

from __future__ import annotations

import sys
import time

import boto3
import pytest

from awspar import EngineConfig, RetryPolicy
from awspar.s3 import get_objects
from awspar.testing import TEST_CREDENTIALS, ObjectServer

MODES = ["sequential", "threads", "async", "processes",
         pytest.param("subinterpreters", marks=pytest.mark.skipif(sys.version_info < (3, 13), reason="3.13+ only"))]
#: Long enough that waiting for it would show; the old code waited for it on every attempt.
READ_TIMEOUT = 3.0


@pytest.fixture(scope="module")
def server():
    with ObjectServer({"b": {"empty": b"", "dir/empty too": b"", "small": b"abc"}}, empty_range="206") as srv:
        yield srv


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", MODES)
def test_an_empty_object_by_content_range_is_an_empty_file_at_once(server, tmp_path, mode) -> None:
    session = boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())
    config = EngineConfig(concurrency=4, workers=2, read_timeout=READ_TIMEOUT,
                          retry=RetryPolicy(max_attempts=2, base_delay=0.001))
    keys = ["empty", "dir/empty too", "small"]
    list(get_objects("b", ["small"], mode=mode, config=config, session=session, endpoint_url=server.url))  # warm
    began = time.perf_counter()
    results = {r.key: r for r in get_objects("b", keys, out_dir=tmp_path, mode=mode, config=config,
                                             session=session, endpoint_url=server.url)}
    took = time.perf_counter() - began
    assert all(r.ok for r in results.values()), results
    assert took < READ_TIMEOUT / 2
    assert (tmp_path / "empty").read_bytes() == b"" and (tmp_path / "dir" / "empty too").read_bytes() == b""
    assert results["empty"].size == 0 and results["empty"].requests == 1
    assert (tmp_path / "small").read_bytes() == b"abc"


@pytest.mark.timeout(60)
def test_into_memory_too(server) -> None:
    session = boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())
    config = EngineConfig(read_timeout=READ_TIMEOUT, retry=RetryPolicy(max_attempts=1))
    [result] = get_objects("b", ["empty"], mode="async", config=config, session=session, endpoint_url=server.url)
    assert result.ok and result.data == b"" and result.size == 0


def test_the_server_option_is_checked() -> None:
    with pytest.raises(ValueError, match="empty_range"):
        ObjectServer({}, empty_range="200")
