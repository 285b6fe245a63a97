"""The DynamoDB-style local endpoint, driven by boto3 and by awspar.call_many."""

from __future__ import annotations

import boto3
import botocore.exceptions
import pytest

from awspar import EngineConfig, RetryPolicy, call_many
from awspar.testing import TEST_CREDENTIALS
from awspar.testing.dynamodb_server import generated_item
from awspar.testing.faults import EndpointBehaviour, FaultRates, Latency

pytest.importorskip("aiohttp")
pytestmark = pytest.mark.timeout(60)


def _client(server, **credentials):
    return boto3.client("dynamodb", endpoint_url=server.url, **{**TEST_CREDENTIALS.boto3_kwargs(), **credentials})


def _session() -> boto3.Session:
    return boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())


def test_boto3_reads_generated_items_and_writes_its_own(dynamodb_server) -> None:
    ddb = _client(dynamodb_server)
    assert ddb.get_item(TableName="test", Key={"pk": {"S": "item-000042"}})["Item"] == generated_item(42)
    assert "Item" not in ddb.get_item(TableName="test", Key={"pk": {"S": "item-000101"}})  # past the 100
    item = {"pk": {"S": "mine"}, "b": {"B": bytes([0, 1, 255])}, "l": {"L": [{"N": "1"}, {"S": "ü"}]}}
    assert "Attributes" not in ddb.put_item(TableName="test", Item=item)
    assert ddb.get_item(TableName="test", Key={"pk": {"S": "mine"}}, ConsistentRead=True)["Item"] == item
    projected = ddb.get_item(TableName="test", Key={"pk": {"S": "item-000007"}}, ProjectionExpression="pk, n")
    assert projected["Item"] == {"pk": {"S": "item-000007"}, "n": {"N": "7"}}
    old = ddb.delete_item(TableName="test", Key={"pk": {"S": "item-000007"}}, ReturnValues="ALL_OLD")
    assert old["Attributes"] == generated_item(7)
    assert "Item" not in ddb.get_item(TableName="test", Key={"pk": {"S": "item-000007"}})
    assert dynamodb_server.stats()["operations"] == {"GetItem": 5, "PutItem": 1, "DeleteItem": 1}


def test_errors_as_dynamodb_answers_them(dynamodb_server) -> None:
    ddb = _client(dynamodb_server)
    cases = [
        (lambda: ddb.get_item(TableName="nope", Key={"pk": {"S": "a"}}), "ResourceNotFoundException"),
        (lambda: ddb.get_item(TableName="test", Key={"id": {"S": "a"}}), "ValidationException"),
        (lambda: ddb.put_item(TableName="test", Item={"other": {"S": "a"}}), "ValidationException"),
        (lambda: ddb.describe_table(TableName="test"), "UnknownOperationException"),
        (lambda: _client(dynamodb_server, aws_secret_access_key="wrong").get_item(
            TableName="test", Key={"pk": {"S": "a"}}), "InvalidSignatureException"),
        (lambda: _client(dynamodb_server, aws_access_key_id="AKIDUNKNOWN").get_item(
            TableName="test", Key={"pk": {"S": "a"}}), "UnrecognizedClientException"),
    ]
    for call, code in cases:
        with pytest.raises(botocore.exceptions.ClientError) as info:
            call()
        assert info.value.response["Error"]["Code"] == code
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_call_many_matches_boto3_field_by_field(dynamodb_server) -> None:
    keys = [{"TableName": "test", "Key": {"pk": {"S": f"item-{i:06d}"}}} for i in (1, 50, 100, 101)]
    ddb = _client(dynamodb_server)
    for mode in ("threads", "async"):
        results = list(call_many("dynamodb", "GetItem", keys, mode=mode, session=_session(),
                                 endpoint_url=dynamodb_server.url))
        for result, params in zip(results, keys):
            expected = ddb.get_item(**params)
            assert {k: v for k, v in result.response.items() if k != "ResponseMetadata"} == \
                   {k: v for k, v in expected.items() if k != "ResponseMetadata"}
            assert result.response["ResponseMetadata"]["RequestId"]


def test_latency_is_injected_and_throttling_is_retried(make_dynamodb_server) -> None:
    slow = make_dynamodb_server(tables={"t": "pk"}, generated={"t": 10},
                                behaviour=EndpointBehaviour(latency=Latency(40)))
    results = list(call_many("dynamodb", "GetItem", [{"TableName": "t", "Key": {"pk": {"S": "item-000001"}}}] * 4,
                             mode="async", session=_session(), endpoint_url=slow.url))
    assert all(r.ok and r.elapsed >= 0.04 for r in results)
    throttled = make_dynamodb_server(tables={"t": "pk"}, generated={"t": 10},
                                     behaviour=EndpointBehaviour(faults=FaultRates(throttle=0.5), seed=7))
    config = EngineConfig(retry=RetryPolicy(max_attempts=30, base_delay=0.001, max_delay=0.005,
                                            throttle_base_delay=0.001))
    results = list(call_many("dynamodb", "GetItem",
                             ({"TableName": "t", "Key": {"pk": {"S": f"item-{i:06d}"}}} for i in range(1, 11)),
                             mode="threads", config=config, session=_session(), endpoint_url=throttled.url))
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert sum(r.attempts for r in results) > 10  # some were throttled first
    assert throttled.stats()["faults"]["throttle"] == sum(r.attempts for r in results) - 10


def test_an_answer_botocore_cannot_parse_fails_its_input_only(make_dynamodb_server) -> None:
    """A 200 whose body does not fit the output shape (an attribute value that is not a map)."""
    server = make_dynamodb_server(tables={"t": "pk"}, generated={"t": 5},
                                  items={"t": [{"pk": {"S": "broken"}, "x": 5}]})
    keys = [{"TableName": "t", "Key": {"pk": {"S": key}}} for key in ("item-000001", "broken", "item-000002")]
    for mode in ("threads", "async"):
        results = list(call_many("dynamodb", "GetItem", keys, mode=mode, session=_session(), endpoint_url=server.url))
        assert [r.ok for r in results] == [True, False, True]
        assert results[1].attempts == 1 and results[1].response is None
