"""The local object endpoint's uploads: payload checksums and multipart uploads, driven by boto3
and by presigned URLs, every signature checked."""

from __future__ import annotations

import base64
import hashlib
import urllib.error
import urllib.request
import zlib

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

pytest.importorskip("aiohttp")  # the local endpoints need the "local" extra

from awspar.testing import TEST_CREDENTIALS, ObjectServer
from awspar.testing.faults import EndpointBehaviour, FaultRates
from awspar.testing.uploads import checksum_of, crc32c

pytestmark = pytest.mark.timeout(60)

MiB = 1024 * 1024
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"}, signature_version="s3v4")


def _s3(server: ObjectServer):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=server.url, config=NO_RETRY, **TEST_CREDENTIALS.boto3_kwargs())


def _code(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        call()
    return str(info.value.response["Error"]["Code"])


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_crc32c_matches_the_standard_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"6789", crc32c(b"12345")) == 0xE3069283  # continues from a previous value
    assert crc32c(b"") == 0


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_put_checksums_are_verified_and_served_back(algorithm: str) -> None:
    body = b"checked bytes " * 100
    with ObjectServer({"demo": {}}) as server:
        s3 = _s3(server)
        value = checksum_of(algorithm.lower(), body)
        put = s3.put_object(Bucket="demo", Key="k", Body=body, **{f"Checksum{algorithm}": value})
        assert put[f"Checksum{algorithm}"] == value
        got = s3.get_object(Bucket="demo", Key="k", ChecksumMode="ENABLED")
        assert got["Body"].read() == body and got[f"Checksum{algorithm}"] == value
        wrong = checksum_of(algorithm.lower(), body + b"!")
        assert _code(lambda: s3.put_object(Bucket="demo", Key="k2", Body=body, **{f"Checksum{algorithm}": wrong})) == "BadDigest"
        assert _code(lambda: s3.head_object(Bucket="demo", Key="k2")) == "404"
        assert server.stats()["statuses"]["400"] == 1


def test_multipart_upload_with_part_checksums_assembles_the_object() -> None:
    parts = [bytes([i]) * (5 * MiB) for i in (1, 2)] + [b"tail" * 300]
    with ObjectServer({"demo": {}}) as server:
        s3 = _s3(server)
        created = s3.create_multipart_upload(Bucket="demo", Key="big/one", ChecksumAlgorithm="CRC32",
                                             ContentType="text/plain", Metadata={"Owner": "me"},
                                             StorageClass="STANDARD_IA")
        upload_id = created["UploadId"]
        listed = s3.list_multipart_uploads(Bucket="demo")["Uploads"]
        assert [(u["Key"], u["UploadId"]) for u in listed] == [("big/one", upload_id)]
        done = []
        for number, body in enumerate(parts, 1):
            crc = checksum_of("crc32", body)
            answer = s3.upload_part(Bucket="demo", Key="big/one", UploadId=upload_id, PartNumber=number, Body=body,
                                    ChecksumCRC32=crc)
            assert answer["ETag"] == f'"{hashlib.md5(body).hexdigest()}"' and answer["ChecksumCRC32"] == crc
            done.append({"PartNumber": number, "ETag": answer["ETag"], "ChecksumCRC32": crc})
        result = s3.complete_multipart_upload(Bucket="demo", Key="big/one", UploadId=upload_id,
                                              MultipartUpload={"Parts": done})
        md5s = b"".join(hashlib.md5(p).digest() for p in parts)
        assert result["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-3"'
        composite = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in parts)
        assert result["ChecksumCRC32"] == f"{_b64(zlib.crc32(composite).to_bytes(4, 'big'))}-3"
        got = s3.get_object(Bucket="demo", Key="big/one", ChecksumMode="ENABLED")
        assert got["Body"].read() == b"".join(parts)
        assert got["ContentType"] == "text/plain" and got["Metadata"] == {"owner": "me"}
        assert got["StorageClass"] == "STANDARD_IA" and got["ChecksumType"] == "COMPOSITE"
        assert server.multipart_uploads() == [] and "Uploads" not in s3.list_multipart_uploads(Bucket="demo")


def test_complete_refuses_what_s3_refuses_and_abort_forgets_the_upload() -> None:
    five = b"x" * (5 * MiB)
    with ObjectServer({"demo": {}}) as server:
        s3 = _s3(server)
        upload_id = s3.create_multipart_upload(Bucket="demo", Key="k", ChecksumAlgorithm="CRC32")["UploadId"]

        def part(number: int, body: bytes, crc: str | None = None) -> dict[str, object]:
            crc = crc or checksum_of("crc32", body)
            answer = s3.upload_part(Bucket="demo", Key="k", UploadId=upload_id, PartNumber=number, Body=body,
                                    ChecksumCRC32=crc)
            return {"PartNumber": number, "ETag": answer["ETag"], "ChecksumCRC32": crc}

        assert _code(lambda: part(1, five, checksum_of("crc32", b"other"))) == "BadDigest"
        one, two, small = part(1, five), part(2, b"y" * 10), part(3, b"z" * 10)

        def complete(parts: list[dict[str, object]]) -> object:
            return s3.complete_multipart_upload(Bucket="demo", Key="k", UploadId=upload_id,
                                                MultipartUpload={"Parts": parts})

        assert _code(lambda: complete([two, one])) == "InvalidPartOrder"
        assert _code(lambda: complete([one, {**two, "ETag": '"' + "0" * 32 + '"'}])) == "InvalidPart"
        assert _code(lambda: complete([one, {**two, "ChecksumCRC32": checksum_of("crc32", b"no")}])) == "BadDigest"
        assert _code(lambda: complete([one, two, small])) == "EntityTooSmall"  # part 2 is below 5 MiB
        assert _code(lambda: s3.head_object(Bucket="demo", Key="k")) == "404"
        assert len(server.multipart_uploads("demo")) == 1  # a refused Complete leaves the upload open
        s3.abort_multipart_upload(Bucket="demo", Key="k", UploadId=upload_id)
        assert server.multipart_uploads() == []
        assert _code(lambda: part(4, b"late")) == "NoSuchUpload"
        assert _code(lambda: s3.abort_multipart_upload(Bucket="demo", Key="k", UploadId=upload_id)) == "NoSuchUpload"


def test_presigned_put_and_upload_part_sign_their_checksum_header() -> None:
    from awspar.signer import Signer

    body = b"presigned body"
    crc = checksum_of("crc32", body)
    with ObjectServer({"demo": {}}) as server:
        signer = Signer("s3", session=boto3.Session(**TEST_CREDENTIALS.boto3_kwargs()), endpoint_url=server.url)

        def send(url: str, headers: dict[str, str], data: bytes) -> int:
            request = urllib.request.Request(url, data=data, headers=headers, method="PUT")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return int(response.status)
            except urllib.error.HTTPError as exc:
                with exc:
                    return int(exc.code)

        put = signer.presign("PutObject", {"Bucket": "demo", "Key": "p", "ChecksumCRC32": crc})
        assert {k.lower() for k in put.headers} == {"x-amz-checksum-crc32"}
        assert send(put.url, dict(put.headers), body + b"?") == 400  # BadDigest: the checksum is the body's
        assert send(put.url, {"x-amz-checksum-crc32": checksum_of("crc32", b"x")}, b"x") == 403  # signed header
        assert send(put.url, dict(put.headers), body) == 200
        assert server.object("demo", "p")[0] == body
        upload_id = _s3(server).create_multipart_upload(Bucket="demo", Key="m", ChecksumAlgorithm="CRC32")["UploadId"]
        part = signer.presign("UploadPart", {"Bucket": "demo", "Key": "m", "UploadId": upload_id, "PartNumber": 1,
                                             "ChecksumCRC32": crc})
        assert send(part.url, dict(part.headers), body) == 200
        assert send(part.url, {}, body) == 403  # the checksum header is part of the signature


def test_truncate_fault_on_an_upload_is_caught_by_its_checksum() -> None:
    body = b"0123456789" * 1000
    behaviour = EndpointBehaviour(faults=FaultRates(truncate=1.0))
    with ObjectServer({"demo": {}}, behaviour=behaviour) as server:
        s3 = _s3(server)
        assert _code(lambda: s3.put_object(Bucket="demo", Key="k", Body=body,
                                           ChecksumCRC32=checksum_of("crc32", body))) == "BadDigest"
        assert _code(lambda: s3.head_object(Bucket="demo", Key="k")) == "404"
        assert server.stats()["faults"]["truncate"] == 1
        # Without a checksum (what the fault shows): the server keeps the half it got.
        raw = boto3.client("s3", endpoint_url=server.url, config=NO_RETRY.merge(
            Config(request_checksum_calculation="when_required")), **TEST_CREDENTIALS.boto3_kwargs())
        raw.put_object(Bucket="demo", Key="unchecked", Body=body)
        assert server.object("demo", "unchecked")[0] == body[: len(body) // 2]


def test_upload_part_faults_are_drawn_per_part() -> None:
    """Parts share a path; each part number draws its own fault, whatever order they arrive in."""
    behaviour = EndpointBehaviour(faults=FaultRates(slowdown=0.5), seed=3)
    outcomes = []
    for order in ([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]):
        with ObjectServer({"demo": {}}, behaviour=behaviour) as server:
            s3 = _s3(server)
            upload_id = None
            while upload_id is None:  # CreateMultipartUpload itself may draw a SlowDown
                try:
                    upload_id = s3.create_multipart_upload(Bucket="demo", Key="k")["UploadId"]
                except ClientError:
                    pass
            seen = {}
            for number in order:
                try:
                    s3.upload_part(Bucket="demo", Key="k", UploadId=upload_id, PartNumber=number, Body=b"p")
                    seen[number] = "ok"
                except ClientError as exc:
                    seen[number] = exc.response["Error"]["Code"]
            outcomes.append(seen)
    assert outcomes[0] == outcomes[1] and set(outcomes[0].values()) == {"ok", "SlowDown"}
