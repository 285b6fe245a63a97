"""The SigV4 verifier against requests that boto3 itself signed (captured at ``before-send``)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config

from awspar.testing import TEST_CREDENTIALS, TEST_SESSION_CREDENTIALS
from awspar.testing.credentials import TestCredentials
from awspar.testing.sigv4_verify import verify_sigv4

ENDPOINT = "http://127.0.0.1:9"  # never contacted: the request is captured before it is sent
SIGV4 = Config(signature_version="s3v4")  # boto3 presigns S3 URLs with SigV2 unless told


class _Captured(Exception):
    def __init__(self, request) -> None:  # type: ignore[no-untyped-def]
        super().__init__("captured")
        self.request = request


def _capture(request, **_: object) -> None:  # type: ignore[no-untyped-def]
    raise _Captured(request)


def _client(service: str, creds: TestCredentials = TEST_CREDENTIALS):  # type: ignore[no-untyped-def]
    client = boto3.client(service, endpoint_url=ENDPOINT, config=Config(retries={"max_attempts": 0}),
                          **creds.boto3_kwargs())
    client.meta.events.register_first("before-send", _capture)
    return client


def _signed(call) -> tuple[str, str, list[tuple[str, str]], bytes]:  # type: ignore[no-untyped-def]
    with pytest.raises(_Captured) as info:
        call()
    req = info.value.request
    parts = urlsplit(req.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = [(k, v.decode() if isinstance(v, bytes) else v) for k, v in req.headers.items()]
    headers.append(("Host", parts.netloc))
    body = req.body or b""
    if hasattr(body, "read"):
        body = body.read()
    return req.method, target, headers, body if isinstance(body, bytes) else body.encode()


def _presigned(url: str) -> tuple[str, list[tuple[str, str]]]:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}", [("Host", parts.netloc)]


def test_header_signed_s3_requests_are_accepted() -> None:
    s3 = _client("s3")
    for call in (
        lambda: s3.get_object(Bucket="demo", Key="dir/a b+c.txt"),
        lambda: s3.put_object(Bucket="demo", Key="x", Body=b"hello world"),
        lambda: s3.list_objects_v2(Bucket="demo", Prefix="a/", Delimiter="/", MaxKeys=5),
    ):
        method, target, headers, body = _signed(call)
        assert verify_sigv4(method, target, headers, body, service="s3") is None


def test_session_token_is_required_and_checked() -> None:
    method, target, headers, body = _signed(lambda: _client("s3", TEST_SESSION_CREDENTIALS).head_bucket(Bucket="b"))
    assert verify_sigv4(method, target, headers, body, service="s3") is None
    stripped = [(k, v) for k, v in headers if k.lower() != "x-amz-security-token"]
    assert verify_sigv4(method, target, stripped, body, service="s3").code == "InvalidToken"


def test_bedrock_header_signature_with_model_id_needing_encoding() -> None:
    rt = _client("bedrock-runtime")
    method, target, headers, body = _signed(lambda: rt.invoke_model(
        modelId="anthropic.claude-3-haiku-20240307-v1:0", body=b'{"max_tokens": 5}'))
    assert "%3A" in target
    assert verify_sigv4(method, target, headers, body, service="bedrock") is None
    assert verify_sigv4(method, target, headers, body, service="s3").code == "AuthorizationHeaderMalformed"


def test_tampering_is_refused() -> None:
    method, target, headers, body = _signed(
        lambda: _client("s3").put_object(Bucket="demo", Key="x", Body=b"hello world"))
    assert verify_sigv4(method, target.replace("/x", "/y"), headers, body, service="s3").code == "SignatureDoesNotMatch"
    assert verify_sigv4("DELETE", target, headers, body, service="s3").code == "SignatureDoesNotMatch"
    # the body hash header is signed, so a different body with the same header is caught too
    assert verify_sigv4(method, target, headers, b"hello WORLD", service="s3").code == "XAmzContentSHA256Mismatch"
    tampered = [(k, (v[:-1] + ("0" if v[-1] != "0" else "1")) if k == "Authorization" else v) for k, v in headers]
    assert verify_sigv4(method, target, tampered, body, service="s3").code == "SignatureDoesNotMatch"


def test_wrong_secret_and_unknown_key_are_refused() -> None:
    wrong = TestCredentials(TEST_CREDENTIALS.access_key, "not-the-secret")
    method, target, headers, body = _signed(lambda: _client("s3", wrong).get_object(Bucket="b", Key="k"))
    failure = verify_sigv4(method, target, headers, body, service="s3")
    assert failure is not None and failure.code == "SignatureDoesNotMatch" and failure.status == 403
    assert "not-the-secret" not in failure.message
    unknown = TestCredentials("AKIAUNKNOWN000000000", "x")
    method, target, headers, body = _signed(lambda: _client("s3", unknown).get_object(Bucket="b", Key="k"))
    assert verify_sigv4(method, target, headers, body, service="s3").code == "InvalidAccessKeyId"


def test_missing_signature_is_access_denied() -> None:
    failure = verify_sigv4("GET", "/demo/k", [("Host", "127.0.0.1:1")], service="s3")
    assert failure is not None and failure.code == "AccessDenied"


def test_clock_skew_is_refused_for_header_signatures() -> None:
    method, target, headers, body = _signed(lambda: _client("s3").get_object(Bucket="b", Key="k"))
    assert verify_sigv4(method, target, headers, body, service="s3", now=time.time() + 600) is None
    assert verify_sigv4(method, target, headers, body, service="s3",
                        now=time.time() + 3600).code == "RequestTimeTooSkewed"


def test_presigned_urls_verify_until_they_expire() -> None:
    s3 = boto3.client("s3", endpoint_url=ENDPOINT, config=SIGV4, **TEST_CREDENTIALS.boto3_kwargs())
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "demo", "Key": "a/b c.txt"}, ExpiresIn=60)
    target, headers = _presigned(url)
    assert verify_sigv4("GET", target, headers, service="s3") is None
    expired = verify_sigv4("GET", target, headers, service="s3", now=time.time() + 61)
    assert expired is not None and (expired.code, expired.message) == ("AccessDenied", "Request has expired")
    assert verify_sigv4("GET", target.replace("b%20c", "b%20d"), headers, service="s3").code == "SignatureDoesNotMatch"
    assert verify_sigv4("PUT", target, headers, service="s3").code == "SignatureDoesNotMatch"


def test_presigned_url_with_wrong_secret_or_session_token() -> None:
    wrong = TestCredentials(TEST_CREDENTIALS.access_key, "not-the-secret")
    s3 = boto3.client("s3", endpoint_url=ENDPOINT, config=SIGV4, **wrong.boto3_kwargs())
    target, headers = _presigned(s3.generate_presigned_url("get_object", Params={"Bucket": "d", "Key": "k"}))
    assert verify_sigv4("GET", target, headers, service="s3").code == "SignatureDoesNotMatch"
    s3 = boto3.client("s3", endpoint_url=ENDPOINT, config=SIGV4, **TEST_SESSION_CREDENTIALS.boto3_kwargs())
    target, headers = _presigned(s3.generate_presigned_url("get_object", Params={"Bucket": "d", "Key": "k"}))
    assert verify_sigv4("GET", target, headers, service="s3") is None


def test_sigv2_presigned_url_is_refused_with_a_hint() -> None:
    s3 = boto3.client("s3", endpoint_url=ENDPOINT, **TEST_CREDENTIALS.boto3_kwargs())
    target, headers = _presigned(s3.generate_presigned_url("get_object", Params={"Bucket": "d", "Key": "k"}))
    failure = verify_sigv4("GET", target, headers, service="s3")
    assert failure is not None and failure.code == "InvalidRequest" and "s3v4" in failure.message
