"""``ObjectResult`` reports the request time and the time including the wait in the client's queue,
each named for what it is (issue 19 item 7)."""

from __future__ import annotations

import threading

import boto3
import pytest

from awspar import EngineConfig
from awspar.engines import get_engine
from awspar.s3 import get_objects
from awspar.signer import Signer
from awspar.testing import TEST_CREDENTIALS, EndpointBehaviour, Latency, ObjectServer

LATENCY_S = 0.4


@pytest.mark.timeout(60)
def test_elapsed_is_request_time_and_wall_since_submit_includes_the_queue() -> None:
    """Two fetches share one engine with one slot: the second waits a whole request for it."""
    with ObjectServer({"b": {"first": b"1", "second": b"2"}}, behaviour=EndpointBehaviour(latency=Latency(LATENCY_S * 1000))) as server:
        session = boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())
        signer = Signer("s3", session=session, endpoint_url=server.url)
        results = {}
        with get_engine("threads", EngineConfig(concurrency=1)) as engine:
            def fetch(key: str) -> None:
                results[key] = next(iter(get_objects("b", [key], engine=engine, signer=signer)))

            threads = [threading.Thread(target=fetch, args=(key,)) for key in ("first", "second")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
    assert all(r.ok for r in results.values()), results
    waited = max(results.values(), key=lambda r: r.wall_since_submit)
    assert waited.wall_since_submit >= 1.8 * LATENCY_S  # its own request and the other's before it
    assert LATENCY_S * 0.9 <= waited.elapsed <= 1.4 * LATENCY_S  # its own request only
    record = waited.to_dict()
    assert record["elapsed"] == round(waited.elapsed, 6)
    assert record["wall_since_submit"] == round(waited.wall_since_submit, 6)
