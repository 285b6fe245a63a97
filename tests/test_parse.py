"""parse(): raw responses from a real server come back as the dicts and errors boto3 gives."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import botocore.exceptions
import pytest
import urllib3

from awspar import (
    ConfigurationError,
    ConnectError,
    RawResponse,
    ServiceError,
    SignedRequest,
    Signer,
    UnknownOperationError,
    UnknownServiceError,
    parse,
    parse_response,
)

KEYS = ["plain.txt", "dir/with space+plus.txt", "ünïcödé/日本.txt", "tilde~percent%.txt"]


@pytest.fixture(scope="module")
def http() -> urllib3.PoolManager:
    return urllib3.PoolManager(retries=False, timeout=10)


@pytest.fixture(scope="module")
def bucket(moto_server) -> str:
    moto_server.create_bucket("parse-tests", [(key, f"body of {key}".encode()) for key in KEYS])
    return "parse-tests"


@pytest.fixture(scope="module")
def signers(moto_server) -> dict[str, Signer]:
    session = moto_server.session()
    return {name: Signer(name, session=session, endpoint_url=moto_server.url) for name in ("s3", "sqs", "sts", "dynamodb")}


def fetch(http: urllib3.PoolManager, request: SignedRequest) -> RawResponse:
    """What an engine would hand back: the raw response with its request."""
    got = http.request(request.method, request.url, headers=dict(request.headers), body=request.body or None,
                       preload_content=True)
    return RawResponse(index=0, status=got.status, headers=dict(got.headers), body=got.data, request=request)


def without_metadata(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "ResponseMetadata"}


def boto3_error_code(call) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call()
    return excinfo.value.response["Error"]["Code"]


@pytest.mark.timeout(60)
def test_s3_listing_matches_boto3_with_decoded_keys(moto_server, signers, bucket, http) -> None:
    raw = fetch(http, signers["s3"].sign("list_objects_v2", {"Bucket": bucket}))
    mine = parse_response(raw)
    theirs = moto_server.client("s3").list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in mine["Contents"]] == sorted(KEYS)  # botocore's url-decoding applied
    assert without_metadata(mine) == without_metadata(theirs)
    assert mine["ResponseMetadata"]["HTTPStatusCode"] == 200 and mine["ResponseMetadata"]["RetryAttempts"] == 0


@pytest.mark.timeout(60)
def test_s3_get_object_body_and_headers(moto_server, signers, bucket, http) -> None:
    key = "dir/with space+plus.txt"
    mine = parse_response(fetch(http, signers["s3"].sign("get_object", {"Bucket": bucket, "Key": key})))
    theirs = moto_server.client("s3").get_object(Bucket=bucket, Key=key)
    assert mine["Body"].read() == theirs["Body"].read() == f"body of {key}".encode()
    for field in ("ContentLength", "ETag", "ContentType", "LastModified"):
        assert mine[field] == theirs[field], field


@pytest.mark.timeout(60)
def test_s3_errors(moto_server, signers, bucket, http) -> None:
    with pytest.raises(ServiceError) as excinfo:
        parse_response(fetch(http, signers["s3"].sign("get_object", {"Bucket": bucket, "Key": "missing"})))
    error = excinfo.value
    assert (error.code, error.status, error.operation) == ("NoSuchKey", 404, "s3.GetObject")
    assert error.request_id and "does not exist" in error.message and not error.retryable
    assert error.code == boto3_error_code(lambda: moto_server.client("s3").get_object(Bucket=bucket, Key="missing"))
    assert pickle.loads(pickle.dumps(error)).code == "NoSuchKey"

    with pytest.raises(ServiceError) as excinfo:  # HEAD errors have no body: code from the status
        parse_response(fetch(http, signers["s3"].sign("head_object", {"Bucket": bucket, "Key": "missing"})))
    assert (excinfo.value.code, excinfo.value.status) == ("404", 404)


@pytest.mark.timeout(60)
def test_query_and_json_protocols(moto_server, signers, http) -> None:
    identity = parse_response(fetch(http, signers["sts"].sign("get_caller_identity")))
    assert without_metadata(identity) == without_metadata(moto_server.client("sts").get_caller_identity())

    sqs = moto_server.client("sqs")
    queue = sqs.create_queue(QueueName="parse-q")["QueueUrl"]
    sent = parse_response(fetch(http, signers["sqs"].sign("send_message", {"QueueUrl": queue, "MessageBody": "hi"})))
    assert set(sent) >= {"MessageId", "MD5OfMessageBody"}
    with pytest.raises(ServiceError) as excinfo:
        parse_response(fetch(http, signers["sqs"].sign("get_queue_url", {"QueueName": "no-such-queue"})))
    assert excinfo.value.code == boto3_error_code(lambda: sqs.get_queue_url(QueueName="no-such-queue"))
    assert excinfo.value.status == 400

    dynamodb = moto_server.client("dynamodb")
    dynamodb.create_table(
        TableName="parse-t", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="parse-t", Item={"id": {"S": "1"}, "n": {"N": "42"}, "l": {"L": [{"S": "x"}]}})
    params = {"TableName": "parse-t", "Key": {"id": {"S": "1"}}}
    item = parse_response(fetch(http, signers["dynamodb"].sign("get_item", params)))
    assert without_metadata(item) == without_metadata(dynamodb.get_item(**params))
    with pytest.raises(ServiceError) as excinfo:
        parse_response(fetch(http, signers["dynamodb"].sign("describe_table", {"TableName": "nope"})))
    assert excinfo.value.code == "ResourceNotFoundException"
    assert excinfo.value.code == boto3_error_code(lambda: dynamodb.describe_table(TableName="nope"))


def test_throttling_and_server_errors_are_flagged() -> None:
    slow_down = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>" \
                b"<RequestId>REQ123</RequestId></Error>"
    with pytest.raises(ServiceError) as excinfo:
        parse("s3.GetObject", 503, {"x-amz-request-id": "REQ123"}, slow_down)
    error = excinfo.value
    assert (error.code, error.status, error.request_id) == ("SlowDown", 503, "REQ123")
    assert error.throttling and error.retryable

    body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                       "message": "Rate exceeded"}).encode()
    with pytest.raises(ServiceError) as excinfo:
        parse("dynamodb.GetItem", 400, {"x-amzn-RequestId": "DDB1"}, body)
    assert excinfo.value.code == "ProvisionedThroughputExceededException"
    assert excinfo.value.throttling and excinfo.value.request_id == "DDB1" and "Rate exceeded" in str(excinfo.value)

    with pytest.raises(ServiceError) as excinfo:
        parse("bedrock-runtime.InvokeModel", 500, {}, b'{"message": "boom"}')
    assert excinfo.value.retryable and not excinfo.value.throttling


def test_s3_200_with_an_error_body_is_an_error() -> None:
    body = b"<?xml version='1.0'?><Error><Code>InternalError</Code><Message>We encountered an internal error." \
           b"</Message><RequestId>R1</RequestId></Error>"
    with pytest.raises(ServiceError) as excinfo:
        parse("s3.CopyObject", 200, {}, body)
    assert (excinfo.value.code, excinfo.value.status) == ("InternalError", 500) and excinfo.value.retryable


def test_bedrock_converse_parses_like_boto3() -> None:
    answer = {"output": {"message": {"role": "assistant", "content": [{"text": "Hello"}]}}, "stopReason": "end_turn",
              "usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4}, "metrics": {"latencyMs": 12}}
    parsed = parse("bedrock-runtime.Converse", 200, {"x-amzn-RequestId": "B1"}, json.dumps(answer).encode())
    assert without_metadata(parsed) == answer
    assert parsed["ResponseMetadata"]["RequestId"] == "B1"


def test_parse_response_needs_a_request_and_passes_transport_errors_on() -> None:
    failure = ConnectError("connection refused", attempts=3)
    with pytest.raises(ConnectError):
        parse_response(RawResponse(index=0, error=failure))
    with pytest.raises(ConfigurationError, match="without its request"):
        parse_response(RawResponse(index=0, status=200))


def test_unknown_service_or_operation() -> None:
    with pytest.raises(UnknownServiceError, match="did you mean: dynamodb"):
        parse("dynamodbb.GetItem", 200, {}, b"{}")
    with pytest.raises(UnknownOperationError, match="did you mean: GetItem"):
        parse("dynamodb.GetItme", 200, {}, b"{}")


def test_parse_is_a_plain_function_in_a_fresh_interpreter() -> None:
    """``awspar.parse`` is the function whichever module was imported first (no module hack)."""
    code = ("import types, awspar.parsing, awspar\n"
            "assert isinstance(awspar.parse, types.FunctionType), type(awspar.parse)\n"
            "assert awspar.parse is awspar.parsing.parse and awspar.parse_response is awspar.parsing.parse_response\n"
            "assert not callable(awspar.parsing)\n")
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
