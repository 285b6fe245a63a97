"""The local S3-compatible endpoint, driven by boto3 and plain HTTP clients."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request
import zlib

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

pytest.importorskip("aiohttp")  # the local endpoints need the "local" extra

from awspar.testing import TEST_CREDENTIALS, TEST_SESSION_CREDENTIALS, GeneratedBucket, ObjectServer
from awspar.testing.credentials import TestCredentials
from awspar.testing.faults import EndpointBehaviour, FaultPlanner, FaultRates, Latency

pytestmark = pytest.mark.timeout(60)

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"}, signature_version="s3v4")


def _s3(server: ObjectServer, creds: TestCredentials = TEST_CREDENTIALS, **config: object):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=server.url, config=NO_RETRY.merge(Config(**config)),
                        **creds.boto3_kwargs())


def _error_code(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        call()
    return str(info.value.response["Error"]["Code"])


def _http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def test_crud_through_the_standard_endpoint_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with ObjectServer({"demo": {}}) as server:
        for name, value in {"AWS_ENDPOINT_URL_S3": server.url, **TEST_CREDENTIALS.env()}.items():
            monkeypatch.setenv(name, value)
        s3 = boto3.client("s3")
        body = b"hello object server"
        put = s3.put_object(Bucket="demo", Key="dir/a b+c.txt", Body=body, Metadata={"owner": "me"})
        assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        head = s3.head_object(Bucket="demo", Key="dir/a b+c.txt")
        assert head["ContentLength"] == len(body) and head["Metadata"] == {"owner": "me"}
        got = s3.get_object(Bucket="demo", Key="dir/a b+c.txt", ChecksumMode="ENABLED")
        assert got["Body"].read() == body
        assert got["ChecksumCRC32"] == base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
        part = s3.get_object(Bucket="demo", Key="dir/a b+c.txt", Range="bytes=6-11")
        assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert part["ContentRange"] == f"bytes 6-11/{len(body)}" and part["Body"].read() == b"object"
        assert s3.get_object(Bucket="demo", Key="dir/a b+c.txt", Range="bytes=-6")["Body"].read() == b"server"
        assert _error_code(lambda: s3.get_object(Bucket="demo", Key="dir/a b+c.txt", Range="bytes=100-")) == "InvalidRange"
        s3.delete_object(Bucket="demo", Key="dir/a b+c.txt")
        assert _error_code(lambda: s3.get_object(Bucket="demo", Key="dir/a b+c.txt")) == "NoSuchKey"
        assert _error_code(lambda: s3.head_object(Bucket="demo", Key="dir/a b+c.txt")) == "404"
        assert _error_code(lambda: s3.get_object(Bucket="nope", Key="k")) == "NoSuchBucket"
        s3.create_bucket(Bucket="second")
        assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {"demo", "second"}
        s3.delete_bucket(Bucket="second")
        assert server.stats()["operations"]["PutObject"] == 1


def test_put_with_a_wrong_checksum_is_refused() -> None:
    with ObjectServer({"demo": {}}) as server:
        s3 = _s3(server)
        code = _error_code(lambda: s3.put_object(Bucket="demo", Key="k", Body=b"abc", ChecksumCRC32="AAAAAA=="))
        assert code == "BadDigest"
        assert _error_code(lambda: s3.head_object(Bucket="demo", Key="k")) == "404"


def test_list_objects_v2_paginates_generated_and_stored_keys() -> None:
    generated = GeneratedBucket(2345, 100)
    with ObjectServer({"big": generated}) as server:
        server.put("big", "obj-0001500x", b"stored between generated keys")
        server.put("big", "zz/one", b"1")
        server.put("big", "zz/two", b"2")
        s3 = _s3(server)
        pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket="big", PaginationConfig={"PageSize": 400}))
        keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
        assert len(pages) == 6 and keys == sorted(keys) and len(keys) == 2345 + 3
        assert keys[:2] == ["obj-000001", "obj-000002"]
        sizes = {o["Key"]: o["Size"] for p in pages for o in p["Contents"]}
        assert sizes["obj-000007"] == 100 and sizes["zz/one"] == 1
        top = s3.list_objects_v2(Bucket="big", Delimiter="/", Prefix="zz")
        assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["zz/"] and "Contents" not in top
        under = s3.list_objects_v2(Bucket="big", Prefix="zz/", StartAfter="zz/one")
        assert [o["Key"] for o in under["Contents"]] == ["zz/two"]
        s3.delete_object(Bucket="big", Key="obj-000002")
        first = s3.list_objects_v2(Bucket="big", MaxKeys=2)
        assert [o["Key"] for o in first["Contents"]] == ["obj-000001", "obj-000003"] and first["IsTruncated"]


def test_generated_objects_are_consistent_and_cost_no_memory() -> None:
    one_gib = GeneratedBucket(3, 1 << 30, seed=7)
    with ObjectServer({"huge": one_gib, "small": GeneratedBucket(100_000, 1024)}) as server:
        s3 = _s3(server)
        head = s3.head_object(Bucket="huge", Key="obj-000002")
        assert head["ContentLength"] == 1 << 30 and head["ETag"].endswith('-128"')  # 8 MiB parts
        tail = s3.get_object(Bucket="huge", Key="obj-000002", Range=f"bytes={(1 << 30) - 5000}-")["Body"].read()
        assert tail == one_gib.read("obj-000002", (1 << 30) - 5000, 1 << 30)
        assert one_gib.read("obj-000002", 0, 4096) != one_gib.read("obj-000003", 0, 4096)
        small = s3.get_object(Bucket="small", Key="obj-100000")
        body = small["Body"].read()
        assert len(body) == 1024 and small["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        assert _error_code(lambda: s3.get_object(Bucket="small", Key="obj-100001")) == "NoSuchKey"


def test_stream_of_a_large_generated_object_matches_its_etag() -> None:
    spec = GeneratedBucket(1, 20 * 1024 * 1024 + 123)
    with ObjectServer({"b": spec}) as server:
        got = _s3(server).get_object(Bucket="b", Key="obj-000001")
        md5 = hashlib.md5()
        parts = []
        for chunk in got["Body"].iter_chunks(1 << 20):
            md5.update(chunk)
        size = got["ContentLength"]
        for start in range(0, size, 8 * 1024 * 1024):
            parts.append(hashlib.md5(spec.read("obj-000001", start, min(start + 8 * 1024 * 1024, size))).digest())
        assert got["ETag"] == f'"{hashlib.md5(b"".join(parts)).hexdigest()}-3"'
        assert md5.hexdigest() == hashlib.md5(spec.read("obj-000001")).hexdigest()


def test_virtual_host_style_addressing() -> None:
    with ObjectServer({"demo": {"k.txt": b"virtual"}}) as server:
        port = server.port
        s3 = boto3.client("s3", endpoint_url=f"http://localhost:{port}", **TEST_CREDENTIALS.boto3_kwargs(),
                          config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "demo", "Key": "k.txt"})
        assert url.startswith(f"http://demo.localhost:{port}/k.txt?")
        for host in (f"demo.localhost:{port}", f"demo.127.0.0.1:{port}"):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            path = url.split(str(port), 1)[1]
            conn.request("GET", path if host.startswith("demo.localhost") else "/k.txt", headers={"Host": host})
            response = conn.getresponse()
            body = response.read()
            conn.close()
            if host.startswith("demo.localhost"):
                assert (response.status, body) == (200, b"virtual")
            else:  # the URL was signed for another host
                assert response.status == 403
    with ObjectServer({"demo": {"k.txt": b"virtual"}}, verify=False) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/k.txt", headers={"Host": f"demo.127.0.0.1:{server.port}"})
        assert conn.getresponse().read() == b"virtual"
        conn.close()


def test_presigned_urls_are_checked() -> None:
    with ObjectServer({"demo": {"k": b"presigned body"}}) as server:
        s3 = _s3(server)
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "demo", "Key": "k"}, ExpiresIn=1)
        assert _http_get(url) == (200, b"presigned body")
        tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
        status, body = _http_get(tampered)
        assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
        assert b"X-Amz-Signature" not in body and TEST_CREDENTIALS.secret_key.encode() not in body
        status, body = _http_get(f"{server.url}/demo/k")
        assert status == 403 and b"<Code>AccessDenied</Code>" in body
        time.sleep(2.1)
        status, body = _http_get(url)
        assert status == 403 and b"<Code>AccessDenied</Code>" in body and b"Request has expired" in body
        assert server.stats()["operations"]["Unauthorized"] == 3


def test_wrong_secret_unknown_key_and_session_token() -> None:
    with ObjectServer({"demo": {"k": b"v"}}) as server:
        wrong = TestCredentials(TEST_CREDENTIALS.access_key, "wrong-secret")
        assert _error_code(lambda: _s3(server, wrong).get_object(Bucket="demo", Key="k")) == "SignatureDoesNotMatch"
        unknown = TestCredentials("AKIAUNKNOWNKEY000000", "x")
        assert _error_code(lambda: _s3(server, unknown).get_object(Bucket="demo", Key="k")) == "InvalidAccessKeyId"
        assert _s3(server, TEST_SESSION_CREDENTIALS).get_object(Bucket="demo", Key="k")["Body"].read() == b"v"
        no_token = TestCredentials(TEST_SESSION_CREDENTIALS.access_key, TEST_SESSION_CREDENTIALS.secret_key)
        assert _error_code(lambda: _s3(server, no_token).get_object(Bucket="demo", Key="k")) == "InvalidToken"
    with ObjectServer({"demo": {"k": b"v"}}, verify=False) as server:
        assert _http_get(f"{server.url}/demo/k") == (200, b"v")


def _failing_keys(seed: int) -> set[str]:
    behaviour = EndpointBehaviour(faults=FaultRates(slowdown=0.2, internal=0.1), seed=seed)
    failed = set()
    with ObjectServer({"g": GeneratedBucket(60, 10)}, behaviour=behaviour, verify=False) as server:
        for i in range(60):
            key = f"obj-{i + 1:06d}"
            status, body = _http_get(f"{server.url}/g/{key}")
            if status != 200:
                assert (status, b"<Code>SlowDown</Code>" in body) in ((503, True), (500, False))
                failed.add(key)
        stats = server.stats()
    assert stats["faults"].get("slowdown", 0) + stats["faults"].get("internal", 0) == len(failed)
    assert stats["statuses"].get("503", 0) == stats["faults"].get("slowdown", 0)
    return failed


def test_faults_are_reproducible_from_the_seed() -> None:
    first, again, other = _failing_keys(1), _failing_keys(1), _failing_keys(2)
    assert first == again
    assert 5 <= len(first) <= 35 and first != other


def test_boto3_retries_slowdown_until_it_succeeds() -> None:
    behaviour = EndpointBehaviour(faults=FaultRates(slowdown=0.3), seed=3)
    with ObjectServer({"g": GeneratedBucket(6, 10)}, behaviour=behaviour) as server:
        s3 = _s3(server, retries={"max_attempts": 10, "mode": "standard"})
        for i in range(6):
            assert len(s3.get_object(Bucket="g", Key=f"obj-{i + 1:06d}")["Body"].read()) == 10
        stats = server.stats()
        assert stats["faults"]["slowdown"] > 0
        assert stats["requests"] == 6 + stats["faults"]["slowdown"]


def test_latency_and_body_rate_are_observable() -> None:
    behaviour = EndpointBehaviour(latency=Latency(150), body_rate=200_000)
    with ObjectServer({"g": GeneratedBucket(1, 100_000)}, behaviour=behaviour, verify=False) as server:
        start = time.perf_counter()
        status, body = _http_get(f"{server.url}/g/obj-000001")
        elapsed = time.perf_counter() - start
        assert status == 200 and len(body) == 100_000
        assert elapsed >= 0.15 + 0.4  # first byte after 150 ms, then 100 kB at 200 kB/s


def test_lognormal_latency_is_reproducible() -> None:
    behaviour = EndpointBehaviour(latency=Latency(20, 0.8), seed=5)
    paths = [f"/g/obj-{i + 1:06d}" for i in range(10)]
    draws = [FaultPlanner(behaviour).decide(f"GET {p}").delay_s for p in paths]
    assert draws == [FaultPlanner(behaviour).decide(f"GET {p}").delay_s for p in paths]
    assert len(set(draws)) == 10 and 0.005 < sorted(draws)[5] < 0.08  # median near 20 ms
    with ObjectServer({"g": GeneratedBucket(10, 1)}, behaviour=behaviour, verify=False) as server:
        for path, draw in zip(paths, draws):
            start = time.perf_counter()
            _http_get(server.url + path)
            assert time.perf_counter() - start >= draw


def test_reset_truncate_and_stall() -> None:
    with ObjectServer({"g": GeneratedBucket(1, 50_000)}, verify=False) as server:
        url = f"{server.url}/g/obj-000001"
        server.configure(EndpointBehaviour(faults=FaultRates(reset=1.0)))
        with pytest.raises((ConnectionError, urllib.error.URLError, http.client.HTTPException)):
            _http_get(url)
        server.configure(EndpointBehaviour(faults=FaultRates(truncate=1.0)))
        with pytest.raises(http.client.IncompleteRead) as info:
            _http_get(url)
        assert len(info.value.partial) == 25_000
        server.configure(EndpointBehaviour(faults=FaultRates(stall=1.0, stall_s=0.4)))
        start = time.perf_counter()
        assert _http_get(url)[0] == 200
        assert time.perf_counter() - start >= 0.4
        stats = server.stats()
        assert stats["faults"] == {"reset": 1, "truncate": 1, "stall": 1}
        assert stats["cancellations"] == 0


def test_client_disconnects_are_counted_as_cancellations() -> None:
    behaviour = EndpointBehaviour(latency=Latency(1500))
    with ObjectServer({"g": GeneratedBucket(1, 10)}, behaviour=behaviour, verify=False) as server:
        with pytest.raises((TimeoutError, urllib.error.URLError, socket.timeout)):
            _http_get(f"{server.url}/g/obj-000001", timeout=0.3)
        deadline = time.monotonic() + 5
        while server.stats()["cancellations"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        stats = server.stats()
        assert stats["cancellations"] == 1 and stats["in_flight"] == 0 and stats["completed"] == 0


def test_peak_in_flight_and_stats_over_http() -> None:
    behaviour = EndpointBehaviour(latency=Latency(300))
    with ObjectServer({"g": GeneratedBucket(5, 10)}, behaviour=behaviour, verify=False) as server:
        threads = [threading.Thread(target=_http_get, args=(f"{server.url}/g/obj-{i + 1:06d}",)) for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        over_http = json.loads(_http_get(f"{server.url}/_awspar/stats")[1])
        assert over_http == server.stats()
        assert over_http["peak_in_flight"] == 5 and over_http["requests"] == 5
        urllib.request.urlopen(urllib.request.Request(f"{server.url}/_awspar/stats/reset", method="POST")).close()
        assert server.stats()["requests"] == 0 and server.stats()["peak_in_flight"] == 0


def test_reset_makes_the_server_well_behaved_again_with_zeroed_counters() -> None:
    always_slow_down = EndpointBehaviour(faults=FaultRates(slowdown=1.0), seed=1)
    with ObjectServer({"g": GeneratedBucket(2, 10)}, behaviour=always_slow_down, verify=False) as server:
        url = f"{server.url}/g/obj-000001"
        assert _http_get(url)[0] == 503 and server.stats()["requests"] == 1
        server.reset()
        assert server.stats()["requests"] == 0 and server.behaviour == EndpointBehaviour()
        assert _http_get(url)[0] == 200


def test_server_in_a_child_process_stops_and_frees_its_port() -> None:
    with ObjectServer({"g": GeneratedBucket(3, 10)}, process=True) as server:
        port = server.port
        child = server._child
        s3 = _s3(server)
        assert len(s3.get_object(Bucket="g", Key="obj-000003")["Body"].read()) == 10
        assert server.stats()["operations"] == {"GetObject": 1}
        with pytest.raises(RuntimeError):
            server.put("g", "k", b"v")
    assert not child.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_stopped_thread_server_frees_its_port() -> None:
    server = ObjectServer().start()
    port = server.port
    server.stop()
    server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(RuntimeError):
        _ = server.url


@pytest.mark.parametrize("process", [False, True])
def test_capacity_answers_slowdown_per_prefix_and_steps_at_run_time(process: bool) -> None:
    """Above the capacity of a prefix the endpoint answers S3's own 503 SlowDown; another prefix
    has its own; ``set_capacity`` changes it mid-run, in a child process too."""
    from awspar.testing.capacity import Capacity

    behaviour = EndpointBehaviour(capacity=Capacity(rate=0.001, burst=2))  # two at once, then no refill
    bodies = {"a/1": b"x", "a/2": b"y", "b/1": b"z"}
    with ObjectServer({"bk": bodies}, behaviour=behaviour, verify=False, process=process) as server:
        def status(key: str) -> tuple[int, bytes]:
            try:
                with urllib.request.urlopen(f"{server.url}/bk/{key}", timeout=10) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read()

        assert [status("a/1")[0], status("a/2")[0]] == [200, 200]
        code, body = status("a/1")
        assert code == 503 and b"<Code>SlowDown</Code>" in body
        assert status("b/1") == (200, b"z")  # prefix b/ has its own bucket of tokens
        server.set_capacity(Capacity(rate=1000))
        assert status("a/1") == (200, b"x")
        server.set_capacity(None)
        assert all(status("a/2")[0] == 200 for _ in range(20))
        assert server.stats()["faults"] == {"capacity": 1}
