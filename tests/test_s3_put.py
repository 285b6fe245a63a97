"""awspar.s3.put_objects against the project's S3 endpoint: every engine, multipart, faults,
re-signing, stopping early, skip-existing. Every uploaded object is read back and compared, and
no test leaves a multipart upload open on the server."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

pytest.importorskip("aiohttp")  # the local endpoint needs the "local" extra

from awspar import ConfigurationError, EngineConfig, RetryPolicy
from awspar.s3 import MiB, aput_objects, get_objects, put_objects
from awspar.signer import Signer
from awspar.testing import TEST_CREDENTIALS, EndpointBehaviour, FaultRates, Latency, ObjectServer

pytestmark = pytest.mark.timeout(120)

MODES = ["sequential", "threads", "async", "processes", "boto3",
         pytest.param("subinterpreters", marks=pytest.mark.skipif(sys.version_info < (3, 13), reason="3.13+ only"))]
PART = 5 * MiB  # S3's smallest part
FAST_RETRY = RetryPolicy(max_attempts=6, base_delay=0.001, max_delay=0.01)


@pytest.fixture(scope="module")
def session() -> Any:
    return boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())


@pytest.fixture
def server() -> Iterator[ObjectServer]:
    with ObjectServer({"up": {}}) as endpoint:
        yield endpoint
        assert endpoint.multipart_uploads() == [], "a multipart upload was left open"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A directory of small files in nested folders, with odd names; {relative key: bytes}."""
    root = tmp_path_factory.mktemp("tree")
    files = {f"d{i % 3}/sub {i % 2}/f-{i:02d}.txt": os.urandom(100 + 997 * i) for i in range(12)}
    files["ünï/ファイル.json"] = b'{"a": 1}'
    files["empty.bin"] = b""
    for key, body in files.items():
        path = root.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    files[""] = str(root).encode()  # where it is
    return files


def _root(tree: dict[str, bytes]) -> str:
    return tree[""].decode()


def _stored(server: ObjectServer, key: str) -> bytes | None:
    try:
        return server.object("up", key)[0]
    except KeyError:
        return None


def _put(server: ObjectServer, session: Any, items: Any, **options: Any) -> dict[str, Any]:
    results = {r.key: r for r in put_objects("up", items, session=session, endpoint_url=server.url, **options)}
    return results


@pytest.mark.parametrize("mode", MODES)
def test_every_engine_uploads_a_directory_and_pairs(server, session, tree, mode) -> None:
    results = _put(server, session, [_root(tree), ("pairs/p.bin", b"pair bytes")], prefix="run/", mode=mode,
                   concurrency=4)
    expected = {f"run/{key}": body for key, body in tree.items() if key} | {"run/pairs/p.bin": b"pair bytes"}
    assert set(results) == set(expected)
    for key, body in expected.items():
        assert results[key].ok, results[key]
        assert results[key].size == len(body) and "crc32" in results[key].verified
        assert _stored(server, key) == body
    back = {r.key: r.data for r in get_objects("up", prefix="run/", session=session, endpoint_url=server.url)}
    assert back == expected  # read back through the download path too
    assert results["run/d0/sub 0/f-00.txt"].path == os.path.join(_root(tree), "d0", "sub 0", "f-00.txt")
    assert server.stats()["operations"]["PutObject"] == len(expected)


@pytest.mark.parametrize("mode", ["threads", "async"])
def test_large_files_go_multipart_with_part_checksums(server, session, tmp_path, mode) -> None:
    body = os.urandom(2 * PART + 12345)
    (tmp_path / "big.bin").write_bytes(body)
    seen: list[int] = []
    results = _put(server, session, str(tmp_path / "big.bin"), mode=mode, part_size=PART,
                   multipart_threshold=PART + 1, metadata={"team": "data"}, storage_class="STANDARD_IA",
                   on_progress=lambda key, n: seen.append(n))
    result = results["big.bin"]
    assert result.ok and result.size == len(body), result
    stored, headers = server.object("up", "big.bin")
    assert stored == body
    md5s = b"".join(hashlib.md5(body[i:i + PART]).digest() for i in range(0, len(body), PART))
    assert headers["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-3"'
    assert headers["x-amz-meta-team"] == "data" and headers["x-amz-storage-class"] == "STANDARD_IA"
    assert sorted(seen) == sorted([PART, PART, 12345])
    operations = server.stats()["operations"]
    assert operations["CreateMultipartUpload"] == 1 and operations["UploadPart"] == 3
    assert operations["CompleteMultipartUpload"] == 1


def test_content_type_is_guessed_and_overridable(server, session) -> None:
    _put(server, session, [("a.json", b"{}"), ("b.unknownext", b"?")])
    assert server.object("up", "a.json")[1]["Content-Type"] == "application/json"
    assert server.object("up", "b.unknownext")[1]["Content-Type"] == "binary/octet-stream"  # S3's default
    _put(server, session, [("a.json", b"{}")], content_type="text/plain")
    assert server.object("up", "a.json")[1]["Content-Type"] == "text/plain"


@pytest.mark.parametrize("checksum", ["crc32", "sha1", "sha256"])
def test_each_checksum_is_sent_and_checked_by_the_server(server, session, tmp_path, checksum) -> None:
    big = os.urandom(PART + 100)
    results = _put(server, session, [("small", b"abc" * 1000), ("big", big)], checksum=checksum, part_size=PART,
                   multipart_threshold=PART)
    assert all(r.ok and checksum in r.verified for r in results.values()), results
    assert _stored(server, "big") == big and _stored(server, "small") == b"abc" * 1000
    get = boto3.client("s3", endpoint_url=server.url, **TEST_CREDENTIALS.boto3_kwargs()).head_object
    head = get(Bucket="up", Key="big", ChecksumMode="ENABLED")
    assert head[f"Checksum{checksum.upper()}"].endswith("-2")  # the COMPOSITE checksum of two parts


@pytest.mark.parametrize("mode", ["threads", "async"])
def test_resets_503_and_truncated_bodies_never_leave_a_wrong_object(session, tmp_path, mode) -> None:
    bodies = {f"f{i:02d}.bin": os.urandom(PART + 1000 * i if i < 2 else 3000 * i) for i in range(16)}
    for name, body in bodies.items():
        (tmp_path / name).write_bytes(body)
    faults = FaultRates(reset=0.2, slowdown=0.2, truncate=0.2)
    with ObjectServer({"up": {}}, behaviour=EndpointBehaviour(faults=faults, seed=7)) as server:
        results = _put(server, session, str(tmp_path), mode=mode, part_size=PART, multipart_threshold=PART,
                       concurrency=6, config=EngineConfig(retry=FAST_RETRY))
        assert set(results) == set(bodies)
        for key, body in bodies.items():
            stored = _stored(server, key)
            assert stored in (body, None)  # never a wrong object
            assert results[key].ok == (stored == body), results[key]
        assert sum(r.ok for r in results.values()) >= 12  # the retries get most of them through
        faults_seen = server.stats()["faults"]
        assert faults_seen["truncate"] and faults_seen["reset"] and faults_seen["slowdown"]
        assert server.multipart_uploads() == []


def test_a_part_that_always_arrives_damaged_fails_the_object_and_aborts_its_upload(session, tmp_path) -> None:
    body = os.urandom(2 * PART)
    (tmp_path / "big.bin").write_bytes(body)
    with ObjectServer({"up": {}}, behaviour=EndpointBehaviour(faults=FaultRates(truncate=1.0))) as server:
        results = _put(server, session, str(tmp_path / "big.bin"), part_size=PART, multipart_threshold=PART,
                       config=EngineConfig(retry=RetryPolicy(max_attempts=3, max_transient_attempts=3,
                                                                        base_delay=0.001)))
        result = results["big.bin"]
        assert not result.ok and result.error_code == "BadDigest", result
        assert _stored(server, "big.bin") is None and server.multipart_uploads() == []
        operations = server.stats()["operations"]
        # Both parts with the run; part 1 twice more alone (3 attempts in all), then the object fails.
        assert operations["UploadPart"] == 2 + 2
        assert operations["AbortMultipartUpload"] == 1 and "CompleteMultipartUpload" not in operations


def test_stale_part_urls_are_re_signed_with_their_body(server, session, tmp_path) -> None:
    """The engine re-signs a stale presigned UploadPart; the fresh request must keep the bytes."""

    class StaleParts(Signer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.resigned = 0
            self._fresh = threading.local()

        def presign(self, operation: str, params: Any = None, *, expires_in: int = 3600) -> Any:
            request = super().presign(operation, params, expires_in=expires_in)
            if operation == "UploadPart" and not getattr(self._fresh, "on", False):
                request = dataclasses.replace(request, expires_at=time.time() + 5)  # inside the margin
            return request

        def resign(self, request: Any) -> Any:
            self.resigned += 1
            self._fresh.on = True
            try:
                return super().resign(request)
            finally:
                self._fresh.on = False

    body = os.urandom(2 * PART + 1)
    (tmp_path / "big.bin").write_bytes(body)
    signer = StaleParts("s3", session=session, endpoint_url=server.url)
    results = list(put_objects("up", str(tmp_path / "big.bin"), signer=signer, part_size=PART,
                               multipart_threshold=PART, config=EngineConfig(resign_margin=30)))
    assert results[0].ok, results[0]
    assert signer.resigned == 3 and _stored(server, "big.bin") == body


@pytest.mark.parametrize("mode", ["threads", "async"])
def test_stopping_early_aborts_the_uploads_in_flight(session, tmp_path, mode) -> None:
    for i in range(4):
        (tmp_path / f"big{i}.bin").write_bytes(os.urandom(2 * PART))
    (tmp_path / "a-small.txt").write_bytes(b"first")
    slow = EndpointBehaviour(latency=Latency(300))
    with ObjectServer({"up": {}}, behaviour=slow) as server:
        results = put_objects("up", str(tmp_path), session=session, endpoint_url=server.url, mode=mode,
                              part_size=PART, multipart_threshold=PART, concurrency=8)
        first = next(results)
        assert first.key == "a-small.txt" and first.ok
        results.close()  # as Ctrl-C would: parts are in flight
        operations = server.stats()["operations"]
        assert operations["CreateMultipartUpload"] >= 1
        assert server.multipart_uploads() == []
        assert operations["AbortMultipartUpload"] >= 1
        assert all(_stored(server, f"big{i}.bin") is None for i in range(4))


def test_skip_existing_uploads_only_what_is_missing_or_different(server, session, tmp_path) -> None:
    (tmp_path / "same.txt").write_bytes(b"same")
    (tmp_path / "big.bin").write_bytes(os.urandom(PART + 7))
    (tmp_path / "changed.txt").write_bytes(b"old")
    options = {"part_size": PART, "multipart_threshold": PART, "skip_existing": True}
    first = _put(server, session, str(tmp_path), **options)
    assert all(r.ok and not r.skipped for r in first.values())
    (tmp_path / "changed.txt").write_bytes(b"new")
    (tmp_path / "added.txt").write_bytes(b"added")
    server.reset_stats()
    second = _put(server, session, str(tmp_path), **options)
    assert {k for k, r in second.items() if r.skipped} == {"same.txt", "big.bin"}
    assert {k for k, r in second.items() if r.ok and not r.skipped} == {"changed.txt", "added.txt"}
    assert _stored(server, "changed.txt") == b"new"
    operations = server.stats()["operations"]
    assert operations["HeadObject"] == 4 and operations["PutObject"] == 2 and "UploadPart" not in operations


def test_bad_sources_fail_alone_and_bad_options_fail_at_once(server, session, tmp_path) -> None:
    (tmp_path / "ok.txt").write_bytes(b"ok")
    results = _put(server, session, [str(tmp_path / "ok.txt"), str(tmp_path / "missing.txt"), ("k" * 1025, b"x")])
    assert results["ok.txt"].ok and _stored(server, "ok.txt") == b"ok"
    missing = results[str(tmp_path / "missing.txt")]
    assert not missing.ok and missing.error_code == "LocalFileError" and "No such file" in (missing.error or "")
    assert results["k" * 1025].error_code == "InvalidKey"
    with pytest.raises(ConfigurationError, match="checksum 'md5' is not one of"):
        put_objects("up", [], checksum="md5", session=session, endpoint_url=server.url)
    with pytest.raises(ValueError):
        put_objects("up", [], part_size=0, session=session, endpoint_url=server.url)


def test_a_missing_bucket_fails_every_object(server, session) -> None:
    results = list(put_objects("nope", [("a", b"1"), ("b", b"2")], session=session, endpoint_url=server.url))
    assert [r.error_code for r in results] == ["NoSuchBucket", "NoSuchBucket"]


def test_async_twin(server, session, tmp_path) -> None:
    body = os.urandom(PART + 3)

    async def main() -> list[Any]:
        return [r async for r in aput_objects("up", [("a", b"1"), ("big", body)], session=session,
                                              endpoint_url=server.url, part_size=PART, multipart_threshold=PART)]

    results = asyncio.run(main())
    assert all(r.ok for r in results) and _stored(server, "big") == body and _stored(server, "a") == b"1"


def test_a_large_file_is_read_in_parts_never_whole(session, tmp_path) -> None:
    """Traced Python memory stays at the engine's window of parts (2 x concurrency ahead, plus
    those answered), not the file's size (the server runs in a child process: only the client's
    allocations count)."""
    import tracemalloc

    size = 24 * PART
    with open(tmp_path / "big.bin", "wb") as handle:
        for i in range(24):
            handle.write(bytes([i]) * PART)
    with ObjectServer({"up": {}}, process=True) as server:
        tracemalloc.start()
        try:
            results = _put(server, session, str(tmp_path / "big.bin"), mode="threads", concurrency=2,
                           part_size=PART, multipart_threshold=PART)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert results["big.bin"].ok and server.stats()["operations"]["UploadPart"] == 24
        assert peak < 10 * PART, f"peak {peak / MiB:.0f} MiB for a {size / MiB:.0f} MiB file"
        s3 = session.client("s3", endpoint_url=server.url)
        got = s3.get_object(Bucket="up", Key="big.bin", Range=f"bytes={7 * PART}-{7 * PART + 2}")["Body"].read()
        assert got == b"\x07\x07\x07"
        assert "Uploads" not in s3.list_multipart_uploads(Bucket="up")


def test_sources_walk_lazily_with_posix_keys_and_skip_directory_links(tmp_path) -> None:
    from awspar.s3.sources import Source, SourceError, sources

    (tmp_path / "b" / "c").mkdir(parents=True)
    (tmp_path / "b" / "c" / "deep.txt").write_bytes(b"deep")
    (tmp_path / "a.txt").write_bytes(b"a")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)  # followed, it would never end
    (tmp_path / "link.txt").symlink_to(tmp_path / "a.txt")
    walked = sources([str(tmp_path), ("pair", b"xy"), str(tmp_path / "nope")], prefix="p/")
    first = next(walked)
    assert isinstance(first, Source) and first.key == "p/a.txt"  # one entry at a time, sorted
    rest = list(walked)
    assert [s.key for s in rest if isinstance(s, Source)] == ["p/b/c/deep.txt", "p/link.txt", "p/pair"]
    assert [s.code for s in rest if isinstance(s, SourceError)] == ["LocalFileError"]
    deep = next(s for s in rest if isinstance(s, Source) and s.key.endswith("deep.txt"))
    assert deep.size == 4 and deep.read(1, 2) == b"ee" and deep.read() == b"deep"
