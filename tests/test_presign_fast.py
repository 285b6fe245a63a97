"""The fast S3 presign path: byte-identical to boto3's s3v4 presigned URLs, for any key."""

from __future__ import annotations

import functools

import boto3
import pytest
import urllib3
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awspar import Signer

INSTANT = 1767323045
FAKE = {"aws_access_key_id": "AKIDEXAMPLEAWSPAR", "aws_secret_access_key": "fast-path-secret"}

# Keys S3 allows (any UTF-8 but lone surrogates), weighted towards the characters that break
# hand-made encoders: spaces, +, %, ~, //, and non-ASCII.
TRICKY = st.sampled_from([" ", "+", "%", "~", "/", "//", "%2F", "é", "日本", "😀", "?", "#", "&", "=", ";", "*", "'"])
KEYS = st.lists(
    st.one_of(TRICKY, st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)),
    min_size=1, max_size=12,
).map("".join)
CONFIGS = {
    "us-east-1": {"region": "us-east-1"},
    "eu-west-1": {"region": "eu-west-1"},
    "local endpoint": {"region": "us-east-1", "endpoint_url": "http://127.0.0.1:9000"},
    "path style": {"region": "ap-south-1", "config": {"s3": {"addressing_style": "path"}}},
    "session token": {"region": "us-west-2", "token": "FwoGZXIvYXdzE+/temporary=="},
}
FAST = ["GetObject", "HeadObject", "PutObject"]


@functools.cache
def signer_and_boto3(case: str) -> tuple[Signer, object]:
    """A Signer and a boto3 s3v4 client with the same settings (built once per case: clients are
    reusable, and the frozen clock is patched where both read it)."""
    options = dict(CONFIGS[case])
    session = boto3.Session(region_name=options.pop("region"), aws_session_token=options.pop("token", None), **FAKE)
    config = Config(s3=options.pop("config")["s3"]) if "config" in options else None
    endpoint_url = options.pop("endpoint_url", None)
    boto3_client = session.client(
        "s3", endpoint_url=endpoint_url,
        config=Config(signature_version="s3v4").merge(config) if config else Config(signature_version="s3v4"),
    )
    return Signer("s3", session=session, endpoint_url=endpoint_url, config=config), boto3_client


def boto3_url(client, operation: str, params: dict, expires_in: int) -> str:
    method = {"GetObject": "get_object", "HeadObject": "head_object", "PutObject": "put_object",
              "UploadPart": "upload_part"}[operation]
    return client.generate_presigned_url(method, Params=params, ExpiresIn=expires_in)


@pytest.mark.parametrize("case", list(CONFIGS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=KEYS,
    bucket=st.sampled_from(["demo", "my.dotted.bucket", "bucket-123", "UPPER_not_dns"]),
    operation=st.sampled_from(FAST),
    expires_in=st.integers(1, 604800),
)
def test_fast_urls_are_boto3s_urls(frozen_signing_clock, case, key, bucket, operation, expires_in) -> None:
    frozen_signing_clock(INSTANT)
    signer, client = signer_and_boto3(case)
    params = {"Bucket": bucket, "Key": key}
    request = signer.presign(operation, params, expires_in=expires_in)
    assert request.url == boto3_url(client, operation, params, expires_in)
    assert signer._fast._templates[(operation, bucket, ())] is not None, "served by the fast path"
    assert request.method == {"GetObject": "GET", "HeadObject": "HEAD", "PutObject": "PUT"}[operation]
    assert request.expires_at == INSTANT + expires_in


UPLOAD_HEADERS = st.fixed_dictionaries({}, optional={
    "ChecksumCRC32": st.sampled_from(["AAAAAA==", "3q2+7w==", "/+/+/w=="]),
    "ContentType": st.sampled_from(["text/plain", "application/json", "text/csv; charset=utf-8", "a/b+c"]),
    "StorageClass": st.sampled_from(["STANDARD", "STANDARD_IA", "GLACIER_IR"]),
    "Metadata": st.dictionaries(st.from_regex(r"[a-z0-9][a-z0-9-]{0,8}", fullmatch=True),
                                st.sampled_from(["1", "x y", "a=b", "~!@#$%^&*()"]), max_size=3),
})
UPLOAD_IDS = st.text(st.sampled_from("abcXYZ019._-~+/="), min_size=1, max_size=40)


@pytest.mark.parametrize("case", list(CONFIGS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=KEYS, headers=UPLOAD_HEADERS, upload_id=UPLOAD_IDS, number=st.integers(1, 10000),
       checksum=st.sampled_from(["ChecksumCRC32", "ChecksumCRC32C", "ChecksumSHA1", "ChecksumSHA256", None]))
def test_upload_urls_with_signed_headers_are_boto3s_urls(frozen_signing_clock, case, key, headers, upload_id, number,
                                                         checksum) -> None:
    """PutObject with its checksum, type, metadata and storage class, and UploadPart with its
    checksum, on the fast path: the same URL as boto3's, and the signed headers to send."""
    frozen_signing_clock(INSTANT)
    signer, client = signer_and_boto3(case)
    put = {"Bucket": "demo", "Key": key, **headers}
    request = signer.presign("PutObject", put, expires_in=900)
    assert request.url == boto3_url(client, "PutObject", put, 900)
    signed = {name.lower() for name in request.headers} | {"host"}
    assert f"X-Amz-SignedHeaders={'%3B'.join(sorted(signed))}&" in request.url
    assert signer._fast._templates[("PutObject", "demo", tuple(sorted(signed - {"host"})))] is not None
    part = {"Bucket": "demo", "Key": key, "UploadId": upload_id, "PartNumber": number}
    if checksum is not None:
        part[checksum] = {"ChecksumSHA1": "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                          "ChecksumSHA256": "A" * 43 + "="}.get(checksum, "AAAAAA==")
    request = signer.presign("UploadPart", part, expires_in=900)
    assert request.url == boto3_url(client, "UploadPart", part, 900)
    assert request.method == "PUT" and len(request.headers) == (checksum is not None)
    assert signer._fast._templates[("UploadPart", "demo", tuple(k.lower() for k in request.headers))] is not None


@pytest.mark.parametrize("length", [1, 255, 1024])
@pytest.mark.parametrize("case", list(CONFIGS))
def test_long_keys_and_repeated_use(frozen_signing_clock, case, length) -> None:
    frozen_signing_clock(INSTANT)
    signer, client = signer_and_boto3(case)
    for i, key in enumerate(["x" * length, ("a b/+~%é" * length)[:length], ("//" + "k" * length)[:length]]):
        frozen_signing_clock(INSTANT + i * 86400)  # the derived key changes with the day
        for operation in FAST:
            params = {"Bucket": "demo", "Key": key}
            assert signer.presign(operation, params, expires_in=3600).url == boto3_url(client, operation, params, 3600)


def test_other_requests_take_botocores_path_and_still_match(frozen_signing_clock) -> None:
    frozen_signing_clock(INSTANT)
    signer, client = signer_and_boto3.__wrapped__("eu-west-1")  # a fresh signer: nothing cached yet
    extra = {"Bucket": "demo", "Key": "a b", "ResponseContentType": "text/plain", "VersionId": "v1"}
    assert signer.presign("GetObject", extra, expires_in=60).url == client.generate_presigned_url(
        "get_object", Params=extra, ExpiresIn=60
    )
    put = {"Bucket": "demo", "Key": "k", "ContentType": "text/plain"}
    request = signer.presign("put_object", put, expires_in=60)
    assert request.url == client.generate_presigned_url("put_object", Params=put, ExpiresIn=60)
    assert request.headers == {"Content-Type": "text/plain"}  # signed: the sender must send it
    assert ("GetObject", "demo", ()) not in signer._fast._templates


def test_access_point_arns_are_not_guessed(frozen_signing_clock) -> None:
    frozen_signing_clock(INSTANT)
    signer, client = signer_and_boto3("session token")
    arn = "arn:aws:s3:us-west-2:123456789012:accesspoint/my-ap"
    params = {"Bucket": arn, "Key": "k"}
    assert signer.presign("GetObject", params, expires_in=60).url == boto3_url(client, "GetObject", params, 60)


@pytest.mark.timeout(60)
def test_fast_urls_fetch_from_a_signature_checking_endpoint() -> None:
    """awspar's own S3 endpoint verifies presigned URLs (moto's server cannot, with auth on)."""
    from awspar.testing import TEST_CREDENTIALS, ObjectServer

    with ObjectServer({"demo": {"a b+c/~%é.txt": b"presigned!"}}) as server:
        session = boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())
        signer = Signer("s3", session=session, endpoint_url=server.url)
        http = urllib3.PoolManager(retries=False, timeout=10)
        get = signer.presign("GetObject", {"Bucket": "demo", "Key": "a b+c/~%é.txt"}, expires_in=60)
        assert signer._fast._templates[("GetObject", "demo", ())] is not None
        got = http.request("GET", get.url)
        assert (got.status, got.data) == (200, b"presigned!")
        put = signer.presign("PutObject", {"Bucket": "demo", "Key": "up.txt"}, expires_in=60)
        assert http.request("PUT", put.url, body=b"uploaded").status == 200
        assert http.request("GET", signer.presign("GetObject", {"Bucket": "demo", "Key": "up.txt"}).url).data == b"uploaded"
        tampered = get.url.replace("X-Amz-Expires=60", "X-Amz-Expires=61")
        assert http.request("GET", tampered).status == 403
