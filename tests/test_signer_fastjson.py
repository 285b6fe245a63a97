"""The fast path for JSON-protocol requests: the same bytes as botocore's pipeline, or botocore's."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from awspar import ParamValidationError
from awspar.signer import Signer
from awspar.testing.credentials import TEST_CREDENTIALS, TEST_SESSION_CREDENTIALS
from awspar.testing.sigv4_verify import verify_sigv4

INSTANT = 1_790_000_000
ENDPOINT = "http://127.0.0.1:9"

CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("dynamodb", "GetItem", {"TableName": "users", "Key": {"pk": {"S": "a ü"}}, "ConsistentRead": True}),
    ("dynamodb", "PutItem", {"TableName": "users", "Item": {"pk": {"S": "b"}, "blob": {"B": b"\x00\xff"}}}),
    ("dynamodb", "Query", {"TableName": "users", "KeyConditionExpression": "pk = :p",
                           "ExpressionAttributeValues": {":p": {"S": "x"}}, "Limit": 5}),
    ("kms", "Encrypt", {"KeyId": "alias/demo", "Plaintext": b"secret bytes"}),
    ("kms", "Decrypt", {"CiphertextBlob": b"\x01\x02\x03"}),
    ("sqs", "SendMessage", {"QueueUrl": "http://127.0.0.1:9/123/q", "MessageBody": "hello"}),
]


def _signer(service: str, credentials=TEST_CREDENTIALS, endpoint_url: str | None = ENDPOINT) -> Signer:
    return Signer(service, session=boto3.Session(**credentials.boto3_kwargs()), endpoint_url=endpoint_url)


def _without_invocation_id(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != "amz-sdk-invocation-id"}


@pytest.mark.parametrize("credentials", [TEST_CREDENTIALS, TEST_SESSION_CREDENTIALS], ids=["key", "session token"])
@pytest.mark.parametrize(("service", "operation", "params"), CALLS, ids=[f"{s}.{o}" for s, o, _ in CALLS])
def test_fast_requests_are_botocores_requests(frozen_signing_clock, service, operation, params, credentials) -> None:
    frozen_signing_clock(INSTANT)
    signer = _signer(service, credentials)
    signer.sign(operation, params)  # the first request of the operation calibrates its template
    assert any(t is not None for t in signer._fast_json._templates.values()), "served by the fast path"
    for day in range(3):  # the derived key changes with the day
        frozen_signing_clock(INSTANT + day * 86400 + 7)
        fast = signer.sign(operation, params)
        method, url, headers, body = signer._botocore_sign(operation, dict(params))
        assert (fast.method, fast.url, fast.body) == (method, url, body)
        assert _without_invocation_id(fast.headers) == _without_invocation_id(headers)
        assert fast.headers["amz-sdk-invocation-id"] != headers["amz-sdk-invocation-id"]
        assert fast.expires_at == INSTANT + day * 86400 + 7 + 300
        target = fast.url.split("127.0.0.1:9", 1)[1]
        assert verify_sigv4(fast.method, target, {**fast.headers, "Host": "127.0.0.1:9"}, fast.body,
                            service=fast.headers["Authorization"].split("/")[3], now=INSTANT + day * 86400 + 7) is None


def test_each_table_and_each_key_gets_its_own_template(frozen_signing_clock) -> None:
    """DynamoDB's endpoint rules read TableName: a template per table, calibrated by botocore."""
    frozen_signing_clock(INSTANT)
    signer = _signer("dynamodb")
    for table in ("a", "b", "a", "arn:aws:dynamodb:us-east-1:123456789012:table/c"):
        signer.sign("GetItem", {"TableName": table, "Key": {"pk": {"S": "k"}}})
    tables = sorted(key[2] for key in signer._fast_json._templates)
    assert tables == ["a", "arn:aws:dynamodb:us-east-1:123456789012:table/c", "b"]


@pytest.mark.parametrize(("service", "operation", "params"), [
    ("dynamodb", "BatchGetItem", {"RequestItems": {"t": {"Keys": [{"pk": {"S": "a"}}]}}}),  # rules read a JMESPath
    ("dynamodb", "TransactWriteItems", {"TransactItems": [{"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}}}}]}),
    ("sts", "GetCallerIdentity", {}),  # query protocol; TransactWriteItems: botocore fills ClientRequestToken
])
def test_other_requests_stay_on_botocores_path(frozen_signing_clock, service, operation, params) -> None:
    frozen_signing_clock(INSTANT)
    signer = _signer(service)
    fast = signer._fast_json
    if fast is not None:
        assert fast.sign(operation, params) is None
    request = signer.sign(operation, params)
    method, url, headers, body = signer._botocore_sign(operation, dict(params))
    assert (request.method, request.url) == (method, url)
    if operation == "TransactWriteItems":
        assert b"ClientRequestToken" in request.body


def test_validation_errors_are_the_same_one_line(frozen_signing_clock) -> None:
    frozen_signing_clock(INSTANT)
    signer = _signer("kms")
    signer.sign("Encrypt", {"KeyId": "k", "Plaintext": b"x"})
    with pytest.raises(ParamValidationError) as info:
        signer.sign("Encrypt", {"KeyId": "k", "Plaintext": 12345})
    assert "Plaintext" in str(info.value) and "12345" not in str(info.value)  # a sensitive member's value hidden


def test_the_lambda_trace_header_follows_the_environment(frozen_signing_clock, monkeypatch) -> None:
    frozen_signing_clock(INSTANT)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "handler")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-aaa")
    signer = _signer("dynamodb")
    params = {"TableName": "t", "Key": {"pk": {"S": "k"}}}
    signer.sign("GetItem", params)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-bbb")
    fast = signer.sign("GetItem", params)
    _, _, headers, _ = signer._botocore_sign("GetItem", dict(params))
    assert fast.headers["X-Amzn-Trace-Id"] == headers["X-Amzn-Trace-Id"] == "Root=1-bbb"
    monkeypatch.delenv("_X_AMZN_TRACE_ID")
    assert "X-Amzn-Trace-Id" not in signer.sign("GetItem", params).headers


def test_sign_fast_never_runs_botocores_pipeline(frozen_signing_clock, monkeypatch) -> None:
    """What an event loop may call inline: None until botocore has made the template, then the request."""
    frozen_signing_clock(INSTANT)
    signer = _signer("dynamodb")
    params = {"TableName": "t", "Key": {"pk": {"S": "k"}}}
    assert signer.sign_fast("GetItem", params) is None and not signer._fast_json._templates
    assert signer.sign_fast("BatchGetItem",
                            {"RequestItems": {"t": {"Keys": [params["Key"]]}}}) is None
    expected = signer.sign("GetItem", params)
    monkeypatch.setattr(signer, "_botocore_sign", lambda *a: pytest.fail("botocore's pipeline ran"))
    fast = signer.sign_fast("GetItem", params)
    assert fast is not None and fast.url == expected.url and fast.body == expected.body
    assert fast.headers["Authorization"] == expected.headers["Authorization"]
