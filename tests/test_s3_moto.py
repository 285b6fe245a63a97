"""awspar.s3 against moto's server with signature checks on (header-signed requests: moto with
authentication on does not accept presigned URLs; those are tested against the object endpoint)."""

from __future__ import annotations

import pytest

from awspar import ServiceError
from awspar.s3 import get_objects

KEYS = {
    "2026/11/with space.txt": b"a",
    "2026/11/plus+and%percent.txt": b"b" * 100,
    "2026/11/ünïcødé/日本.txt": b"c" * 1000,
    "2026/11//double.txt": b"d",
    "2026/12/other.txt": b"e",
    **{f"2026/11/many/{i:04d}": f"{i}".encode() for i in range(30)},
}


@pytest.fixture(scope="module")
def bucket(moto_server):
    moto_server.create_bucket("awspar-s3-get", KEYS.items())
    return moto_server


def test_prefix_listing_and_header_signed_gets(bucket, tmp_path) -> None:
    results = {r.key: r for r in get_objects(
        "awspar-s3-get", prefix="2026/11/", out_dir=tmp_path, presigned=False, mode="threads",
        session=bucket.session(), endpoint_url=bucket.url)}
    expected = {k: v for k, v in KEYS.items() if k.startswith("2026/11/")}
    assert set(results) == set(expected)
    for key, body in expected.items():
        assert results[key].ok, results[key]
        assert "md5" in results[key].verified
        with open(results[key].path, "rb") as handle:
            assert handle.read() == body
    assert (tmp_path / "2026/11/double.txt").read_bytes() == b"d"


def test_missing_keys_among_many(bucket) -> None:
    keys = [f"2026/11/many/{i:04d}" for i in range(30)] + ["2026/11/missing-1", "nope"]
    results = {r.key: r for r in get_objects("awspar-s3-get", keys, presigned=False, mode="async",
                                             session=bucket.session(), endpoint_url=bucket.url)}
    assert sum(r.ok for r in results.values()) == 30
    assert {results[k].error_code for k in ("2026/11/missing-1", "nope")} == {"NoSuchKey"}


def test_wrong_secret_is_refused_by_the_signature_check(bucket) -> None:
    import boto3

    wrong = boto3.Session(aws_access_key_id=bucket.credentials.access_key, aws_secret_access_key="not-it",
                          region_name="us-east-1")
    [result] = get_objects("awspar-s3-get", ["2026/12/other.txt"], presigned=False, session=wrong,
                           endpoint_url=bucket.url)
    assert not result.ok and result.error_code == "SignatureDoesNotMatch"
    assert "not-it" not in (result.error or "")


def test_listing_a_missing_bucket_raises(bucket) -> None:
    with pytest.raises(ServiceError) as info:
        list(get_objects("awspar-no-such-bucket", prefix="", presigned=False, session=bucket.session(),
                         endpoint_url=bucket.url))
    assert info.value.code == "NoSuchBucket"
