"""awspar.call_many against moto's server with its signature checks on, field by field against
what boto3 returns for the same calls: DynamoDB and KMS (json), SQS (json, as botocore's model
says today), STS and SNS (query), IoT and Batch (rest-json). moto refuses the signature of every
rest-json GET (Lambda's ListFunctions, IoT's DescribeThing...) from boto3 itself, so the
rest-json calls here are POSTs."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from awspar import CallResult, ParamValidationError, ServiceError, acall_many, call_many
from awspar._errors import ConfigurationError, UnknownOperationError

TABLE = "awspar-call"
ENGINES = ["sequential", "threads", "async", "processes",
           pytest.param("subinterpreters", marks=pytest.mark.skipif(sys.version_info < (3, 13), reason="3.13+ only"))]


def _drop_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


@pytest.fixture(scope="module")
def aws(moto_server) -> Any:
    return moto_server


@pytest.fixture(scope="module")
def table(aws) -> str:
    ddb = aws.client("dynamodb")
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return TABLE


def _item(i: int) -> dict[str, Any]:
    return {"pk": {"S": f"user-{i % 3}"}, "sk": {"N": str(i)}, "name": {"S": f"name {i} ü"},
            "blob": {"B": bytes([i, 0, 255])}, "tags": {"SS": [f"t{i}", "x"]}}


def _calls(aws, *args: Any, **kwargs: Any) -> list[CallResult]:
    return list(call_many(*args, session=aws.session(), endpoint_url=aws.url, **kwargs))


@pytest.mark.parametrize("mode", ENGINES)
def test_dynamodb_put_get_query_match_boto3(aws, table, mode) -> None:
    puts = _calls(aws, "dynamodb", "PutItem", ({"TableName": table, "Item": _item(i)} for i in range(30)),
                  mode=mode, concurrency=8)
    assert [r.index for r in puts] == list(range(30)) and all(r.ok for r in puts), puts[:3]
    keys = [{"TableName": table, "Key": {"pk": _item(i)["pk"], "sk": _item(i)["sk"]}} for i in range(30)]
    gets = _calls(aws, "dynamodb", "get_item", keys, mode=mode, concurrency=8)
    ddb = aws.client("dynamodb")
    for result, params in zip(gets, keys):
        assert result.ok and result.attempts == 1
        assert _drop_metadata(result.response) == _drop_metadata(ddb.get_item(**params))
    assert gets[7].response["Item"]["blob"]["B"] == bytes([7, 0, 255])
    query = {"TableName": table, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "user-1"}}}
    [queried] = _calls(aws, "dynamodb", "Query", [query], mode=mode)
    assert _drop_metadata(queried.response) == _drop_metadata(ddb.query(**query))
    assert queried.response["Count"] == 10


def test_errors_come_back_per_input_and_the_others_go_on(aws, table) -> None:
    good = {"TableName": table, "Key": {"pk": {"S": "user-0"}, "sk": {"N": "0"}}}
    inputs = [good, {"TableName": "no-such-table", "Key": good["Key"]}, {"TableName": table, "Kee": 1},
              ["not", "a", "dict"], good]
    results = _calls(aws, "dynamodb", "GetItem", inputs, mode="threads", ordered=False)
    by_index = {r.index: r for r in results}
    assert sorted(by_index) == [0, 1, 2, 3, 4]
    assert by_index[0].ok and by_index[4].ok
    assert _drop_metadata(by_index[0].response) == _drop_metadata(by_index[4].response)
    missing = by_index[1].error
    assert isinstance(missing, ServiceError) and missing.code == "ResourceNotFoundException"
    assert missing.status == 400 and missing.request_id and missing.attempts == 1 and not missing.retried
    with pytest.raises(ServiceError):
        by_index[1].result()
    assert isinstance(by_index[2].error, ParamValidationError) and "Kee" in str(by_index[2].error)
    assert by_index[2].attempts == 0  # nothing was sent
    assert isinstance(by_index[3].error, ParamValidationError) and "not list" in str(by_index[3].error)


def test_unknown_operation_and_event_streams_are_refused_before_anything_is_sent(aws) -> None:
    with pytest.raises(UnknownOperationError, match="did you mean: GetItem"):
        _calls(aws, "dynamodb", "GetItme", [{}])
    with pytest.raises(ConfigurationError, match="streams events"):
        _calls(aws, "bedrock-runtime", "ConverseStream", [{}])
    with pytest.raises(ConfigurationError, match="does not paginate"):
        _calls(aws, "dynamodb", "GetItem", [{}], paginate=True)


@pytest.mark.parametrize("mode", ["threads", "async"])
def test_paginate_follows_each_inputs_pages_as_boto3s_paginator(aws, table, mode) -> None:
    queries = [{"TableName": table, "KeyConditionExpression": "pk = :p", "Limit": 3,
                "ExpressionAttributeValues": {":p": {"S": f"user-{n}"}}} for n in range(3)]
    results = _calls(aws, "dynamodb", "Query", queries, mode=mode, paginate=True)
    paginator = aws.client("dynamodb").get_paginator("query")
    for result, query in zip(results, queries):
        assert result.ok and result.pages == 4 and result.attempts == 4  # 10 items, 3 a page, then an empty one
        assert _drop_metadata(result.response) == _drop_metadata(paginator.paginate(**query).build_full_result())
        assert len(result.response["Items"]) == 10


def test_sqs_send_and_receive(aws) -> None:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="awspar-call")["QueueUrl"]
    bodies = [f"message {i} é" for i in range(12)]
    sent = _calls(aws, "sqs", "SendMessage", ({"QueueUrl": url, "MessageBody": b} for b in bodies), mode="async")
    reference = sqs.send_message(QueueUrl=url, MessageBody=bodies[0])
    assert sorted(_drop_metadata(sent[0].response)) == sorted(_drop_metadata(reference))
    for result, body in zip(sent, bodies):
        assert result.response["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    received = _calls(aws, "sqs", "ReceiveMessage", [{"QueueUrl": url, "MaxNumberOfMessages": 10}] * 2, mode="threads")
    got = [m["Body"] for r in received for m in r.response.get("Messages", [])]
    assert sorted(got) == sorted([*bodies, bodies[0]])


def test_sts_get_caller_identity_matches_boto3(aws) -> None:
    results = _calls(aws, "sts", "GetCallerIdentity", [{}] * 3, mode="async")
    expected = _drop_metadata(aws.client("sts").get_caller_identity())
    assert [_drop_metadata(r.response) for r in results] == [expected] * 3
    assert expected["Arn"].endswith("user/awspar-test")


def test_kms_encrypt_decrypt_blobs_round_trip_with_boto3(aws) -> None:
    kms = aws.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    plaintexts = [bytes(range(i, i + 40)) for i in range(10)]
    encrypted = _calls(aws, "kms", "Encrypt", [{"KeyId": key_id, "Plaintext": p} for p in plaintexts])
    blobs = [r.response["CiphertextBlob"] for r in encrypted]
    assert all(isinstance(b, bytes) for b in blobs)
    decrypted = _calls(aws, "kms", "Decrypt", [{"CiphertextBlob": b} for b in blobs], mode="async")
    for result, blob, plain in zip(decrypted, blobs, plaintexts):
        assert result.response["Plaintext"] == plain
        assert _drop_metadata(result.response) == _drop_metadata(kms.decrypt(CiphertextBlob=blob))


def test_sns_query_protocol_matches_boto3(aws) -> None:
    created = _calls(aws, "sns", "CreateTopic", [{"Name": f"awspar-call-{i}"} for i in range(5)], mode="threads")
    arns = [r.response["TopicArn"] for r in created]
    assert [a.rsplit(":", 1)[1] for a in arns] == [f"awspar-call-{i}" for i in range(5)]
    [listed] = _calls(aws, "sns", "ListTopics", [{}])
    assert _drop_metadata(listed.response) == _drop_metadata(aws.client("sns").list_topics())
    attrs = _calls(aws, "sns", "GetTopicAttributes", [{"TopicArn": a} for a in arns], mode="async")
    sns = aws.client("sns")
    for result, arn in zip(attrs, arns):
        assert _drop_metadata(result.response) == _drop_metadata(sns.get_topic_attributes(TopicArn=arn))


def test_rest_json_iot_and_batch_match_boto3(aws) -> None:
    created = _calls(aws, "iot", "CreateThing", [{"thingName": f"awspar-{i}", "attributePayload": {
        "attributes": {"n": str(i)}}} for i in range(4)], mode="async")
    reference = aws.client("iot").create_thing(thingName="awspar-boto3")
    for i, result in enumerate(created):
        fields = _drop_metadata(result.response)
        assert sorted(fields) == sorted(_drop_metadata(reference))
        assert fields["thingName"] == f"awspar-{i}"
        assert fields["thingArn"] == reference["thingArn"].replace("awspar-boto3", f"awspar-{i}")
    [queues] = _calls(aws, "batch", "DescribeJobQueues", [{}])
    assert _drop_metadata(queues.response) == _drop_metadata(aws.client("batch").describe_job_queues())


def test_wrong_secret_is_refused_per_input_without_the_secret(aws, table) -> None:
    wrong = boto3.Session(aws_access_key_id=aws.credentials.access_key, aws_secret_access_key="not-it-at-all",
                          region_name="us-east-1")
    results = list(call_many("sts", "GetCallerIdentity", [{}] * 2, session=wrong, endpoint_url=aws.url))
    assert [r.error.code for r in results] == ["SignatureDoesNotMatch"] * 2
    assert all("not-it-at-all" not in repr(r) + str(r.error) for r in results)


def test_the_input_is_pulled_lazily(aws) -> None:
    pulled = 0

    def params() -> Iterator[dict[str, Any]]:
        nonlocal pulled
        for _ in range(1_000_000):
            pulled += 1
            yield {}

    results = call_many("sts", "GetCallerIdentity", params(), mode="threads", concurrency=4,
                        session=aws.session(), endpoint_url=aws.url)
    first = [next(results) for _ in range(5)]
    results.close()
    assert [r.index for r in first] == [0, 1, 2, 3, 4]
    assert pulled < 200  # the concurrency plus the hand-off, not the million


def test_acall_many_takes_an_async_iterable_and_keeps_the_loop_free(aws, table) -> None:
    async def keys() -> Any:
        for i in range(20):
            yield {"TableName": table, "Key": {"pk": _item(i)["pk"], "sk": _item(i)["sk"]}}

    async def main() -> tuple[list[CallResult], int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        results = [r async for r in acall_many("dynamodb", "GetItem", keys(), concurrency=5,
                                                session=aws.session(), endpoint_url=aws.url)]
        threads = [r async for r in acall_many("dynamodb", "GetItem", keys(), mode="threads", ordered=False,
                                                session=aws.session(), endpoint_url=aws.url)]
        ticker.cancel()
        assert sorted(r.index for r in threads) == list(range(20))
        return results, ticks

    results, ticks = asyncio.run(main())
    assert [r.index for r in results] == list(range(20)) and all(r.ok for r in results)
    assert ticks > 5


def test_dask_sends_signed_requests_from_workers_without_credentials(aws, table) -> None:
    pytest.importorskip("distributed", reason="the dask engine needs the 'dask' extra")
    import distributed

    from awspar.engines._dask_cluster import ClusterProcess
    from awspar.engines.dask_engine import DaskEngine

    cluster = ClusterProcess(workers=1).start()
    try:
        with distributed.Client(cluster.address, set_as_default=False) as client:
            client.wait_for_workers(1, timeout=60)
            with DaskEngine(client=client) as engine:
                keys = [{"TableName": table, "Key": {"pk": _item(i)["pk"], "sk": _item(i)["sk"]}} for i in range(6)]
                results = _calls(aws, "dynamodb", "GetItem", keys, engine=engine)
            env = client.run(lambda: sorted(k for k in __import__("os").environ if k.startswith("AWS_")))
    finally:
        cluster.stop()
    assert [r.response["Item"]["sk"]["N"] for r in results] == [str(i) for i in range(6)]
    assert all(not names for names in env.values())



def test_the_boto3_baseline_engine_gives_the_same_answers(aws, table) -> None:
    keys = [{"TableName": table, "Key": {"pk": _item(i)["pk"], "sk": _item(i)["sk"]}} for i in range(5)]
    ours = _calls(aws, "dynamodb", "GetItem", keys, mode="threads")
    baseline = _calls(aws, "dynamodb", "GetItem", keys, mode="boto3")
    assert [_drop_metadata(r.response) for r in baseline] == [_drop_metadata(r.response) for r in ours]
    assert all(r.ok for r in ours)
