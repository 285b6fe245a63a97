"""awspar.s3 against the project's S3 endpoint (SigV4 checked, presigned URLs, faults on demand)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys

import boto3
import pytest

from awspar import EngineConfig, RetryPolicy
from awspar.s3 import MiB, aget_objects, get_objects
from awspar.signer import Signer
from awspar.testing import (
    TEST_CREDENTIALS,
    EndpointBehaviour,
    FaultRates,
    GeneratedBucket,
    Latency,
    ObjectServer,
)

ODD_KEYS = {
    "with space.txt": b"space",
    "plus+sign.txt": b"plus",
    "percent%20literal.txt": b"percent",
    "ünï/cødé/ファイル.txt": b"unicode",
    "double//slash.txt": b"double slash",
    "deep/er/and/deeper/x.bin": os.urandom(3000),
    "/".join(["l" * 200] * 5): b"a 1004-byte key",
}
NESTED = {f"2026/{m:02d}/{d:02d}.csv": f"{m},{d}\n".encode() * 50 for m in (10, 11) for d in range(1, 6)}
MODES = ["sequential", "threads", "async", "processes", "boto3",
         pytest.param("subinterpreters", marks=pytest.mark.skipif(sys.version_info < (3, 13), reason="3.13+ only"))]


@pytest.fixture(scope="module")
def server():
    buckets = {
        "odd": ODD_KEYS,
        "nested": {**NESTED, "2026/11/": b"", "../../escape.txt": b"no", "2026/a/../b.txt": b"no"},
        "gen": GeneratedBucket(40, 64 * 1024),
        "big": GeneratedBucket(1, 200 * MiB),
        "sized": {"small.bin": os.urandom(100_000), "mid.bin": os.urandom(3 * MiB + 17), "empty": b""},
    }
    with ObjectServer(buckets) as srv:
        yield srv


@pytest.fixture(scope="module")
def session():
    return boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())


def _no_temp_files(root) -> bool:
    return not [f for _, _, files in os.walk(root) for f in files if f.startswith(".awspar-")]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_fetches_odd_keys_into_memory(server, session, mode) -> None:
    keys = [*ODD_KEYS, "no/such/key"]
    results = {r.key: r for r in get_objects("odd", keys, mode=mode, concurrency=4, session=session,
                                             endpoint_url=server.url)}
    assert set(results) == set(keys)
    for key, body in ODD_KEYS.items():
        assert results[key].ok, results[key]
        assert results[key].data == body
        assert "md5" in results[key].verified and results[key].size == len(body)
    missing = results["no/such/key"]
    assert not missing.ok and missing.error_code == "NoSuchKey" and missing.data is None


def test_prefix_to_directory_maps_keys_refuses_traversal_and_skips_markers(server, session, tmp_path) -> None:
    results = {r.key: r for r in get_objects("nested", prefix="", out_dir=tmp_path, mode="async",
                                             session=session, endpoint_url=server.url)}
    for key, body in NESTED.items():
        assert results[key].ok and (tmp_path / key).read_bytes() == body
        assert results[key].path == str(tmp_path / key)
    assert results["2026/11/"].skipped and results["2026/11/"].ok
    assert results["../../escape.txt"].error_code == "UnsafeKey"
    assert results["2026/a/../b.txt"].error_code == "UnsafeKey"
    assert not (tmp_path.parent / "escape.txt").exists() and not (tmp_path / "2026" / "b.txt").exists()
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted(NESTED)


def test_nested_prefix_lists_only_under_it(server, session) -> None:
    keys = sorted(r.key for r in get_objects("nested", prefix="2026/11/0", session=session, endpoint_url=server.url))
    assert keys == sorted(k for k in NESTED if k.startswith("2026/11/0"))


def test_odd_keys_land_at_their_paths(server, session, tmp_path) -> None:
    results = list(get_objects("odd", list(ODD_KEYS), out_dir=tmp_path, session=session, endpoint_url=server.url))
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert (tmp_path / "double" / "slash.txt").read_bytes() == b"double slash"
    assert (tmp_path / "ünï" / "cødé" / "ファイル.txt").read_bytes() == b"unicode"
    assert (tmp_path / "percent%20literal.txt").read_bytes() == b"percent"
    assert _no_temp_files(tmp_path)


def test_symlink_in_output_dir_cannot_redirect(server, session, tmp_path) -> None:
    outside = tmp_path / "outside"
    out = tmp_path / "out"
    outside.mkdir()
    out.mkdir()
    (out / "deep").symlink_to(outside)
    [result] = get_objects("odd", ["deep/er/and/deeper/x.bin"], out_dir=out, session=session, endpoint_url=server.url)
    assert result.error_code == "UnsafeKey" and not any(outside.iterdir())


def test_existing_files_fail_skip_or_overwrite(server, session, tmp_path) -> None:
    (tmp_path / "with space.txt").write_bytes(b"old")
    kwargs = {"out_dir": tmp_path, "session": session, "endpoint_url": server.url}
    [kept] = get_objects("odd", ["with space.txt"], **kwargs)
    assert kept.error_code == "FileExists" and (tmp_path / "with space.txt").read_bytes() == b"old"
    [refetched] = get_objects("odd", ["with space.txt"], skip_existing=True, **kwargs)  # not the object: fetched
    assert refetched.ok and not refetched.skipped and (tmp_path / "with space.txt").read_bytes() == b"space"
    [skipped] = get_objects("odd", ["with space.txt"], skip_existing=True, **kwargs)
    assert skipped.ok and skipped.skipped and skipped.size == 5 and skipped.requests == 1  # one HeadObject
    [replaced] = get_objects("odd", ["with space.txt"], overwrite=True, **kwargs)
    assert replaced.ok and (tmp_path / "with space.txt").read_bytes() == b"space"
    assert _no_temp_files(tmp_path)


def test_known_sizes_and_empty_objects(server, session, tmp_path) -> None:
    client = boto3.client("s3", endpoint_url=server.url, **TEST_CREDENTIALS.boto3_kwargs())
    bodies = {k: client.get_object(Bucket="sized", Key=k)["Body"].read() for k in ("small.bin", "mid.bin", "empty")}
    results = {r.key: r for r in get_objects("sized", prefix="", out_dir=tmp_path, session=session,
                                             endpoint_url=server.url, multipart_threshold=1 * MiB,
                                             part_size=MiB // 2)}
    for key, body in bodies.items():
        assert results[key].ok, results[key]
        assert (tmp_path / key).read_bytes() == body
    assert results["mid.bin"].requests == 7  # 3 MiB + 17 bytes in 512 KiB parts, size known from the listing
    assert results["empty"].size == 0


@pytest.mark.timeout(120)
def test_200_mib_object_by_ranges_matches_byte_for_byte(server, session, tmp_path) -> None:
    spec = GeneratedBucket(1, 200 * MiB)
    key = spec.key(0)
    [result] = get_objects("big", [key], out_dir=tmp_path, mode="async", session=session, endpoint_url=server.url)
    assert result.ok, result
    assert result.requests == 25  # one 16 MiB first request, then 23 parts of 8 MiB; and one HEAD
    assert "crc32" in result.verified
    want = hashlib.md5()
    for chunk in spec.chunks(key, 0, spec.size):
        want.update(chunk)
    got = hashlib.md5()
    with open(result.path, "rb") as handle:
        while chunk := handle.read(MiB):
            got.update(chunk)
    assert got.hexdigest() == want.hexdigest() and os.path.getsize(result.path) == 200 * MiB
    assert _no_temp_files(tmp_path)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fault", ["truncate", "reset"])
def test_truncated_and_reset_responses_are_retried(server, session, tmp_path, fault) -> None:
    spec = GeneratedBucket(40, 64 * 1024)
    server.configure(EndpointBehaviour(faults=FaultRates(**{fault: 0.3}), seed=7))
    try:
        server.reset_stats()
        config = EngineConfig(concurrency=8, retry=RetryPolicy(max_attempts=8, base_delay=0.001))
        results = list(get_objects("gen", [spec.key(i) for i in range(40)], out_dir=tmp_path, config=config,
                                   mode="threads", session=session, endpoint_url=server.url))
        faults = server.stats()["faults"].get(fault, 0)
    finally:
        server.configure(EndpointBehaviour())
    assert faults > 0
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert sum(r.requests for r in results) >= 40 + faults
    for i in range(40):
        assert (tmp_path / spec.key(i)).read_bytes() == spec.read(spec.key(i))
    assert _no_temp_files(tmp_path)


@pytest.mark.timeout(60)
def test_stopping_early_leaves_no_temporary_files(server, session, tmp_path) -> None:
    server.configure(EndpointBehaviour(latency=Latency(300)))
    try:
        results = get_objects("gen", [GeneratedBucket(40, 1).key(i) for i in range(40)], out_dir=tmp_path,
                              concurrency=8, session=session, endpoint_url=server.url)
        first = next(results)
        assert first.ok
        results.close()
    finally:
        server.configure(EndpointBehaviour())
    assert _no_temp_files(tmp_path)
    assert len([p for p in tmp_path.iterdir()]) < 40


def test_async_twin_and_progress(server, session) -> None:
    landed: list[int] = []

    async def collect() -> dict[str, bytes | None]:
        return {r.key: r.data async for r in aget_objects(
            "odd", ["with space.txt", "plus+sign.txt"], session=session, endpoint_url=server.url,
            on_progress=lambda key, n: landed.append(n))}

    assert asyncio.run(collect()) == {"with space.txt": b"space", "plus+sign.txt": b"plus"}
    assert sorted(landed) == [4, 5]


def test_resign_keeps_range_and_if_match(server, session) -> None:
    signer = Signer("s3", session=session, endpoint_url=server.url)
    request = signer.presign("GetObject", {"Bucket": "odd", "Key": "with space.txt"}, expires_in=60)
    ranged = request.__class__(**{**request.__dict__, "headers": {"Range": "bytes=0-9", "If-Match": '"x"'}})
    fresh = signer.resign(ranged)
    assert fresh.headers["Range"] == "bytes=0-9" and fresh.headers["If-Match"] == '"x"'
    assert "X-Amz-Signature=" in fresh.url


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="not both"):
        list(get_objects("b", ["k"], skip_existing=True, overwrite=True))


@pytest.mark.timeout(30)
def test_a_stuck_clean_up_ends_with_a_clear_error(monkeypatch) -> None:
    """Stopping early waits for the clean-up a bounded time, then says so instead of hanging."""
    import time

    from _stubborn import stubborn

    from awspar import s3

    monkeypatch.setattr(s3, "_CLEANUP_WAIT", 0.5)
    results = s3._on_loop_thread(stubborn, None)
    assert next(results) == "first"
    began = time.monotonic()
    with pytest.raises(RuntimeError, match=r"did not finish cleaning up within 0.5 s"):
        results.close()
    assert time.monotonic() - began < 5


def test_mode_auto_is_chosen_in_the_library(server, session, monkeypatch) -> None:
    """mode="auto" (the CLI's default) works from Python too: threads for one wave of named keys,
    async for more or for keys not counted up front, threads when aiohttp is not installed."""
    from awspar import s3

    assert s3.auto_mode(3, None, 10) == "threads"
    assert s3.auto_mode(None, None, 10) == "async" and s3.auto_mode(3, "p/", 10) == "async"
    keys = ["with space.txt", "plus+sign.txt"]
    named = {r.key: r.data for r in get_objects("odd", keys, mode="auto", session=session, endpoint_url=server.url)}
    streamed = {r.key: r.data for r in get_objects("odd", iter(keys), mode="auto", session=session,
                                                   endpoint_url=server.url)}
    assert named == streamed == {"with space.txt": b"space", "plus+sign.txt": b"plus"}
    monkeypatch.setattr(s3, "_installed", lambda module: False)
    assert s3.auto_mode(None, None, 10) == "threads"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("concurrency", [8, "auto"])
def test_the_sequential_engine_is_sequential_whatever_its_config_says(server, session, concurrency) -> None:
    """``s3-get --mode sequential`` hands get_objects an engine made with the CLI's config
    (``--concurrency auto`` by default): one request at a time still, answers in input order."""
    from awspar.engines import get_engine

    keys = [f"obj-{i:06d}" for i in range(1, 13)]
    server.configure(EndpointBehaviour(latency=Latency(median_ms=20)))
    server.reset_stats()
    try:
        with get_engine("sequential", EngineConfig(concurrency=concurrency)) as engine:
            assert engine.config.max_in_flight == 1
            signer = Signer("s3", session=session, endpoint_url=server.url)
            results = list(get_objects("gen", keys, engine=engine, signer=signer))
        assert [r.key for r in results] == keys and all(r.ok for r in results), [r.error for r in results][:2]
        assert server.stats()["peak_in_flight"] == 1
    finally:
        server.configure(EndpointBehaviour())
