"""The Signer: requests lifted out of botocore are exactly boto3's, and AWS (moto) accepts them."""

from __future__ import annotations

import dataclasses
import io
import json
import pickle
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.exceptions
import botocore.session
import pytest
import urllib3
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from awspar import (
    ConfigurationError,
    NoCredentialsError,
    ParamValidationError,
    SignedRequest,
    Signer,
    UnknownOperationError,
    UnknownServiceError,
)
from awspar._botocore_compat import BytesRaw
from awspar.signer.s3presign import epoch_of_amz_date

INSTANT = 1767323045  # 2026-01-02T03:04:05Z
FAKE = {"aws_access_key_id": "AKIDEXAMPLEAWSPAR", "aws_secret_access_key": "s3cr3t-never-shown-anywhere"}
SECRET = FAKE["aws_secret_access_key"]


@pytest.fixture(scope="module")
def http() -> urllib3.PoolManager:
    return urllib3.PoolManager(retries=False, timeout=10)


def send(http: urllib3.PoolManager, request: SignedRequest) -> urllib3.BaseHTTPResponse:
    return http.request(request.method, request.url, headers=dict(request.headers), body=request.body or None)


def fake_session(region: str = "us-east-1", **extra: str) -> boto3.Session:
    return boto3.Session(region_name=region, **FAKE, **extra)


# -- what boto3 itself sends, captured at the same frozen instant ----------------------------------


def boto3_sends(session: boto3.Session, service: str, method: str, params: dict, **client_kwargs) -> dict:
    """The request a plain boto3 client sends for one call (captured where it would hit the wire)."""
    client = session.client(service, **client_kwargs)
    seen: dict = {}

    def capture(request, **_):
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        elif isinstance(body, str):
            body = body.encode()
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        seen.update(method=request.method, url=request.url, headers=headers, body=body or b"")
        return AWSResponse(request.url, 500, {}, BytesRaw())  # refused before any byte is sent

    client.meta.events.register("before-send", capture)
    client.meta.config.retries["max_attempts"] = 1
    with pytest.raises(botocore.exceptions.ClientError):
        getattr(client, method)(**params)
    return seen


def signed_header_names(authorization: str) -> list[str]:
    return re.search(r"SignedHeaders=([^,]+)", authorization).group(1).split(";")


BEDROCK_BODY = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8,
                           "messages": [{"role": "user", "content": "hi"}]})
SAME_AS_BOTO3 = [
    ("s3", "get_object", {"Bucket": "demo", "Key": "dir/a b+c~%.txt"}),
    ("s3", "put_object", {"Bucket": "demo", "Key": "upload.bin", "Body": b"\x00payload\xff" * 100}),
    ("s3", "list_objects_v2", {"Bucket": "demo", "Prefix": "dir/", "MaxKeys": 10}),
    ("s3", "delete_objects", {"Bucket": "demo", "Delete": {"Objects": [{"Key": "a"}, {"Key": "b c"}]}}),
    ("sqs", "send_message", {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q", "MessageBody": "hi"}),
    ("dynamodb", "get_item", {"TableName": "t", "Key": {"id": {"S": "1"}}}),
    ("sts", "get_caller_identity", {}),
    ("bedrock-runtime", "invoke_model", {"modelId": "anthropic.claude-3-haiku-20240307-v1:0", "body": BEDROCK_BODY}),
    ("bedrock-runtime", "converse", {"modelId": "anthropic.claude-3-haiku-20240307-v1:0",
                                     "messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
]


@pytest.mark.parametrize(("service", "method", "params"), SAME_AS_BOTO3, ids=[f"{s}.{m}" for s, m, _ in SAME_AS_BOTO3])
@pytest.mark.parametrize("endpoint_url", [None, "http://127.0.0.1:9"], ids=["aws", "local-http"])
def test_sign_is_what_boto3_sends(frozen_signing_clock, service, method, params, endpoint_url) -> None:
    frozen_signing_clock(INSTANT)
    session = fake_session()
    expected = boto3_sends(session, service, method, params, endpoint_url=endpoint_url)
    request = Signer(service, session=session, endpoint_url=endpoint_url).sign(method, params)

    assert request.method == expected["method"]
    assert request.url == expected["url"]
    assert request.body == expected["body"]
    assert request.headers["Authorization"] == expected["headers"]["Authorization"]
    names = signed_header_names(request.headers["Authorization"])
    assert len(names) >= 2
    sent = {k.lower(): v for k, v in expected["headers"].items()}
    mine = {k.lower(): v for k, v in request.headers.items()}
    for name in names:
        if name != "host":
            assert mine[name] == sent[name], name
    assert request.operation.startswith(f"{service}.")


def test_bedrock_runtime_signs_as_bedrock() -> None:
    request = Signer("bedrock-runtime", session=fake_session("us-west-2")).sign(
        "InvokeModel", {"modelId": "amazon.nova-micro-v1:0", "body": b"{}"}
    )
    assert "/us-west-2/bedrock/aws4_request" in request.headers["Authorization"]
    assert request.url == "https://bedrock-runtime.us-west-2.amazonaws.com/model/amazon.nova-micro-v1%3A0/invoke"


# -- against moto's real server, signature checks on ------------------------------------------------


@pytest.fixture(scope="module")
def bucket(moto_server) -> str:
    moto_server.create_bucket("signer-tests", [("hello.txt", b"hello"), ("dir/a b+c.txt", b"spaced")])
    return "signer-tests"


@pytest.fixture(scope="module")
def s3(moto_server) -> Signer:
    return Signer("s3", session=moto_server.session(), endpoint_url=moto_server.url)


@pytest.mark.timeout(60)
def test_s3_requests_signed_here_are_accepted(moto_server, s3, bucket, http) -> None:
    got = send(http, s3.sign("get_object", {"Bucket": bucket, "Key": "hello.txt"}))
    assert (got.status, got.data) == (200, b"hello")
    got = send(http, s3.sign("GetObject", {"Bucket": bucket, "Key": "dir/a b+c.txt"}))
    assert (got.status, got.data) == (200, b"spaced")

    put = s3.sign("put_object", {"Bucket": bucket, "Key": "new/ünï côde~+.bin", "Body": b"\x00\x01data"})
    assert send(http, put).status == 200
    assert moto_server.client("s3").get_object(Bucket=bucket, Key="new/ünï côde~+.bin")["Body"].read() == b"\x00\x01data"

    listing = send(http, s3.sign("list_objects_v2", {"Bucket": bucket, "Prefix": "new/"}))
    assert listing.status == 200 and b"<KeyCount>1</KeyCount>" in listing.data

    delete = s3.sign("delete_objects", {"Bucket": bucket, "Delete": {"Objects": [{"Key": "new/ünï côde~+.bin"}]}})
    assert send(http, delete).status == 200
    assert moto_server.client("s3").list_objects_v2(Bucket=bucket, Prefix="new/")["KeyCount"] == 0


@pytest.mark.timeout(60)
def test_streaming_body_is_read_once_into_bytes(moto_server, s3, bucket, http) -> None:
    stream = io.BytesIO(b"from a file object")
    request = s3.sign("put_object", {"Bucket": bucket, "Key": "streamed.txt", "Body": stream})
    assert request.body == b"from a file object"
    assert request.params is None  # a file object is not plain data: not kept for re-signing
    assert send(http, request).status == 200
    assert moto_server.client("s3").get_object(Bucket=bucket, Key="streamed.txt")["Body"].read() == b"from a file object"


@pytest.mark.timeout(60)
def test_other_protocols_are_accepted(moto_server, http) -> None:
    session = moto_server.session()
    queue = moto_server.client("sqs").create_queue(QueueName="signer-q")["QueueUrl"]
    sqs = Signer("sqs", session=session, endpoint_url=moto_server.url)
    assert send(http, sqs.sign("send_message", {"QueueUrl": queue, "MessageBody": "hi"})).status == 200
    assert moto_server.client("sqs").receive_message(QueueUrl=queue)["Messages"][0]["Body"] == "hi"

    moto_server.client("dynamodb").create_table(
        TableName="signer-t", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    moto_server.client("dynamodb").put_item(TableName="signer-t", Item={"id": {"S": "1"}, "v": {"N": "7"}})
    dynamodb = Signer("dynamodb", session=session, endpoint_url=moto_server.url)
    got = send(http, dynamodb.sign("GetItem", {"TableName": "signer-t", "Key": {"id": {"S": "1"}}}))
    assert got.status == 200 and json.loads(got.data)["Item"]["v"] == {"N": "7"}

    sts = Signer("sts", session=session, endpoint_url=moto_server.url)
    got = send(http, sts.sign("get_caller_identity"))
    assert got.status == 200 and b"<Account>" in got.data


@pytest.mark.timeout(60)
@pytest.mark.parametrize("tamper", ["date", "body", "url", "foreign-key"])
def test_tampered_requests_are_refused(moto_server, s3, bucket, http, tamper) -> None:
    request = s3.sign("put_object", {"Bucket": bucket, "Key": "tamper.txt", "Body": b"original"})
    headers = dict(request.headers)
    url, body = request.url, request.body
    if tamper == "date":
        stamp = headers["X-Amz-Date"]
        headers["X-Amz-Date"] = stamp[:-3] + ("01Z" if stamp.endswith("00Z") else "00Z")  # always a change
    elif tamper == "body":
        headers["X-Amz-Content-SHA256"] = "0" * 64
    elif tamper == "url":
        url = url.replace("tamper.txt", "tamper2.txt")
    else:
        request = Signer("s3", session=fake_session(), endpoint_url=moto_server.url).sign(
            "put_object", {"Bucket": bucket, "Key": "tamper.txt", "Body": b"original"}
        )
        headers = dict(request.headers)
    got = http.request(request.method, url, headers=headers, body=body)
    assert got.status == 403, got.data[:200]


@pytest.mark.timeout(60)
def test_one_signer_signs_from_many_threads(moto_server, s3, bucket, http) -> None:
    keys = [f"threads/{i:03d} key+" for i in range(48)]

    def sign_and_send(key: str) -> tuple[str, int]:
        request = s3.sign("put_object", {"Bucket": bucket, "Key": key, "Body": key.encode()})
        return request.url, send(http, request).status

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(sign_and_send, keys))
    assert [status for _, status in results] == [200] * len(keys)
    assert all(url.endswith(key.replace(" ", "%20").replace("+", "%2B")) for (url, _), key in zip(results, keys))
    listed = moto_server.client("s3").list_objects_v2(Bucket=bucket, Prefix="threads/")
    assert sorted(o["Key"] for o in listed["Contents"]) == keys


# -- freshness, re-signing, laziness ---------------------------------------------------------------


def test_expiry_of_header_signed_and_presigned_requests(frozen_signing_clock) -> None:
    frozen_signing_clock(INSTANT)
    signer = Signer("s3", session=fake_session())
    signed = signer.sign("get_object", {"Bucket": "b", "Key": "k"})
    assert epoch_of_amz_date(signed.headers["X-Amz-Date"]) == INSTANT
    assert signed.expires_at == INSTANT + 300
    assert signed.is_stale(INSTANT + 301) and not signed.is_stale(INSTANT + 200)
    presigned = signer.presign("get_object", {"Bucket": "b", "Key": "k"}, expires_in=900)
    assert presigned.expires_at == INSTANT + 900
    slow = signer.presign("get_object", {"Bucket": "b", "Key": "k", "VersionId": "v"}, expires_in=900)
    assert slow.expires_at == INSTANT + 900


def test_expiry_is_capped_by_temporary_credentials(tmp_path, monkeypatch) -> None:
    import datetime
    import time

    expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=20)
    creds = {"Version": 1, "AccessKeyId": "ASIATEMPORARY", "SecretAccessKey": SECRET,
             "SessionToken": "token-never-shown", "Expiration": expiry.isoformat()}
    script = tmp_path / "creds.py"
    script.write_text(f"import json; print(json.dumps({creds!r}))")
    config = tmp_path / "config"
    config.write_text(f"[profile temp]\nregion = eu-west-1\ncredential_process = {sys.executable} {script}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))

    signer = Signer("s3", profile="temp")
    presigned = signer.presign("get_object", {"Bucket": "b", "Key": "k"}, expires_in=3600)
    assert presigned.expires_at == pytest.approx(expiry.timestamp(), abs=1)
    assert "X-Amz-Security-Token=token-never-shown" in presigned.url
    assert "token-never-shown" not in repr(presigned)
    signed = signer.sign("get_object", {"Bucket": "b", "Key": "k"})
    assert signed.expires_at == pytest.approx(time.time() + 300, abs=5)
    assert signed.headers["X-Amz-Security-Token"] == "token-never-shown"
    assert "token-never-shown" not in repr(signed) and SECRET not in repr(signed)


def test_resign_makes_a_fresh_signature(frozen_signing_clock) -> None:
    signer = Signer("dynamodb", session=fake_session())
    frozen_signing_clock(INSTANT)
    old = signer.sign("get_item", {"TableName": "t", "Key": {"id": {"S": "1"}}})
    frozen_signing_clock(INSTANT + 600)
    assert old.is_stale(INSTANT + 600)
    new = signer.resign(SignedRequest.from_dict(json.loads(json.dumps(old.to_dict()))))
    assert new.expires_at == INSTANT + 900 and not new.is_stale(INSTANT + 600)
    assert (new.method, new.url, new.body) == (old.method, old.url, old.body)
    assert new.headers["Authorization"] != old.headers["Authorization"]
    assert new.params == old.params == {"TableName": "t", "Key": {"id": {"S": "1"}}}


def test_resign_a_presigned_url_keeps_its_lifetime(frozen_signing_clock) -> None:
    signer = Signer("s3", session=fake_session())
    frozen_signing_clock(INSTANT)
    old = signer.presign("get_object", {"Bucket": "b", "Key": "k"}, expires_in=120)
    frozen_signing_clock(INSTANT + 1000)
    new = signer.resign(old)
    assert "X-Amz-Expires=120" in new.url and new.expires_at == INSTANT + 1120 and "Authorization" not in new.headers


@pytest.mark.timeout(30)
def test_resign_keeps_headers_added_outside_the_signature(object_server, frozen_signing_clock, http) -> None:
    from awspar.testing import TEST_CREDENTIALS

    object_server.put("test", "ten.txt", b"0123456789")
    signer = Signer("s3", session=boto3.Session(**TEST_CREDENTIALS.boto3_kwargs()), endpoint_url=object_server.url)
    frozen_signing_clock(int(time.time()) - 7200)
    old = signer.presign("get_object", {"Bucket": "test", "Key": "ten.txt"}, expires_in=60)
    ranged = dataclasses.replace(old, headers={**old.headers, "Range": "bytes=2-5"})
    assert send(http, ranged).status == 403  # expired long ago
    frozen_signing_clock(int(time.time()))
    fresh = signer.resign(ranged)
    assert fresh.headers["Range"] == "bytes=2-5" and fresh.url != old.url
    answer = send(http, fresh)
    assert (answer.status, answer.data) == (206, b"2345")

    # Header-signed: what the Authorization header's SignedHeaders leaves out is kept too, while
    # the signed headers (date, signature) are made anew.
    signed = signer.sign("get_object", {"Bucket": "test", "Key": "ten.txt"})
    added = dataclasses.replace(signed, headers={**signed.headers, "Range": "bytes=7-"})
    frozen_signing_clock(int(time.time()) + 1)
    again = signer.resign(added)
    assert again.headers["Range"] == "bytes=7-" and again.headers["Authorization"] != signed.headers["Authorization"]
    answer = send(http, again)
    assert (answer.status, answer.data) == (206, b"789")


def test_resign_needs_kept_params() -> None:
    signer = Signer("s3", session=fake_session())
    request = signer.sign("put_object", {"Bucket": "b", "Key": "k", "Body": b"bytes are not kept"})
    assert request.params is None
    with pytest.raises(ConfigurationError, match="not kept"):
        signer.resign(request)
    with pytest.raises(ConfigurationError, match="signer for 's3'"):
        signer.resign(Signer("sqs", session=fake_session()).sign("list_queues", {}))


def test_sensitive_input_is_never_kept() -> None:
    signer = Signer("iam", session=fake_session())
    request = signer.sign("create_login_profile", {"UserName": "u", "Password": "hunter2-secret"})
    assert request.params is None
    s3 = Signer("s3", session=fake_session())
    assert s3.sign("get_object", {"Bucket": "b", "Key": "k"}).params == {"Bucket": "b", "Key": "k"}
    sse_c = {"Bucket": "b", "Key": "k", "SSECustomerAlgorithm": "AES256", "SSECustomerKey": "k" * 32}
    assert s3.sign("get_object", sse_c).params is None
    with pytest.raises(ParamValidationError) as excinfo:
        signer.sign("create_login_profile", {"UserName": "u", "Password": 12345678})
    assert "12345678" not in str(excinfo.value)


def test_sign_many_and_presign_many_are_lazy() -> None:
    signer = Signer("s3", session=fake_session())
    consumed: list[int] = []

    def params():
        for i in range(10**9):
            consumed.append(i)
            yield {"Bucket": "b", "Key": f"k{i}"}

    signed = signer.sign_many("get_object", params())
    assert consumed == []
    first, second = next(signed), next(signed)
    assert consumed == [0, 1] and first.url.endswith("/k0") and second.url.endswith("/k1")
    presigned = signer.presign_many("head_object", params(), expires_in=60)
    assert next(presigned).method == "HEAD" and consumed == [0, 1, 0]


def test_signed_requests_pickle_and_hide_secrets() -> None:
    request = Signer("s3", session=fake_session()).sign("get_object", {"Bucket": "b", "Key": "k"})
    assert pickle.loads(pickle.dumps(request)) == request
    signature = request.headers["Authorization"].rpartition("Signature=")[2]
    assert signature not in repr(request) and SECRET not in repr(request)
    assert SECRET not in json.dumps(request.to_dict())


# -- settings and errors ---------------------------------------------------------------------------


def test_standard_environment_variables(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:4567")
    s3 = Signer("s3")
    assert s3.region == "ap-southeast-2"
    assert s3.sign("get_object", {"Bucket": "b", "Key": "k"}).url == "http://127.0.0.1:4566/b/k"
    bedrock = Signer("bedrock-runtime").sign("converse", {"modelId": "m", "messages": []})
    assert bedrock.url == "http://127.0.0.1:4567/model/m/converse"
    assert "/ap-southeast-2/bedrock/aws4_request" in bedrock.headers["Authorization"]

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4568")
    assert Signer("sqs").sign("list_queues").url == "http://127.0.0.1:4568/"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert Signer("sqs").region == "eu-central-1"  # boto3's own setting wins over AWS_REGION
    assert Signer("sqs", region="us-west-1").region == "us-west-1"

    config = tmp_path / "config"
    config.write_text("[profile other]\nregion = sa-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_PROFILE", "other")
    assert Signer("sqs").region == "sa-east-1"


def test_s3_presigns_with_sigv4_only() -> None:
    signer = Signer("s3", session=fake_session(), config=Config(max_pool_connections=4))
    url = signer.presign("get_object", {"Bucket": "b", "Key": "k", "VersionId": "1"}).url
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url and "AWSAccessKeyId" not in url
    with pytest.raises(ConfigurationError, match="SigV4 only"):
        Signer("s3", session=fake_session(), config=Config(signature_version="s3"))


def test_errors_are_one_line_with_the_closest_names(monkeypatch) -> None:
    with pytest.raises(UnknownServiceError, match="did you mean: bedrock-runtime"):
        Signer("bedrock-runtim", session=fake_session())
    signer = Signer("s3", session=fake_session())
    with pytest.raises(UnknownOperationError, match="did you mean: GetObject"):
        signer.sign("get_objct", {})
    with pytest.raises(UnknownOperationError, match="did you mean: GetObject"):
        signer.presign("GetObjekt", {})
    with pytest.raises(ParamValidationError) as excinfo:
        signer.sign("get_object", {"Bucket": "b", "Kye": "k"})
    message = str(excinfo.value)
    assert "\n" not in message and 'Missing required parameter in input: "Key"' in message and "Kye" in message
    with pytest.raises(ConfigurationError, match="expires_in"):
        signer.presign("get_object", {"Bucket": "b", "Key": "k"}, expires_in=604801)
    with pytest.raises(ConfigurationError, match="region"):
        Signer("sqs", session=fake_session(region="not a region!"))
    with pytest.raises(ConfigurationError, match="no region"):
        Signer("sqs", session=boto3.Session(**FAKE)).sign("list_queues")
    with pytest.raises(ConfigurationError, match="profile"):
        Signer("s3", profile="no-such-profile")
    with pytest.raises(NoCredentialsError) as excinfo:
        Signer("sqs", session=boto3.Session(region_name="us-east-1")).sign("list_queues")
    assert "\n" not in str(excinfo.value)


def test_no_secret_in_any_error() -> None:
    signer = Signer("s3", session=fake_session(aws_session_token="session-token-secret"))
    for call in (
        lambda: signer.sign("get_object", {"Bucket": "b"}),
        lambda: signer.sign("nope", {}),
        lambda: signer.presign("get_object", {"Bucket": "b", "Key": "k"}, expires_in=0),
        lambda: signer.resign(signer.sign("put_object", {"Bucket": "b", "Key": "k", "Body": b"x"})),
    ):
        with pytest.raises(ConfigurationError) as excinfo:
            call()
        text = f"{excinfo.value!s} {excinfo.value!r}"
        assert SECRET not in text and "session-token-secret" not in text
    assert SECRET not in repr(signer)


def test_every_protocol_signs_offline() -> None:
    """One operation per wire protocol botocore speaks, to show the short-circuit answer parses."""
    session = fake_session()
    cases = [("s3", "list_buckets"), ("sqs", "list_queues"), ("sts", "get_caller_identity"),
             ("ec2", "describe_regions"), ("lambda", "list_functions"), ("dynamodb", "list_tables"),
             ("cloudwatch", "list_dashboards"), ("iam", "list_users")]
    protocols = set()
    for service, operation in cases:
        signer = Signer(service, session=session)
        protocols.add(signer._client.meta.service_model.resolved_protocol)
        request = signer.sign(operation)
        assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLEAWSPAR/")
    assert {"rest-xml", "query", "ec2", "rest-json", "json"} <= protocols


def test_a_signer_is_safe_to_share_while_threads_sign_and_presign() -> None:
    signer = Signer("s3", session=fake_session())
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(30):
                key = f"t{n}/k{i}"
                assert signer.sign("get_object", {"Bucket": "b", "Key": key}).url.endswith(key)
                assert f"/{key}?" in signer.presign("get_object", {"Bucket": "b", "Key": key}).url
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_validation_reports_hide_only_sensitive_values() -> None:
    iam = Signer("iam", session=fake_session())
    with pytest.raises(ParamValidationError) as excinfo:
        iam.sign("create_login_profile", {"UserName": 12345, "Password": 67890})
    message = str(excinfo.value)
    assert "value: 12345" in message and "67890" not in message and "parameter Password" in message


def test_a_botocore_session_signs_the_same_requests_without_boto3(frozen_signing_clock) -> None:
    frozen_signing_clock(INSTANT)
    through_boto3 = Signer("s3", session=fake_session())
    plain = botocore.session.Session()  # the same credentials and region, no boto3 around it
    plain.set_credentials(FAKE["aws_access_key_id"], FAKE["aws_secret_access_key"])
    plain.set_config_variable("region", "us-east-1")
    through_botocore = Signer("s3", session=plain)
    for key in ("k", "a b/ü+%.txt"):
        params = {"Bucket": "b", "Key": key}
        assert through_botocore.presign("GetObject", params).url == through_boto3.presign("GetObject", params).url
        mine, theirs = through_botocore.sign("GetObject", params), through_boto3.sign("GetObject", params)
        assert (mine.method, mine.url, mine.headers["Authorization"]) == (theirs.method, theirs.url, theirs.headers["Authorization"])
        assert mine.headers["User-Agent"].startswith("Botocore/")  # botocore's own, not signed


def test_botocore_session_checks_the_profile_at_once(monkeypatch, tmp_path) -> None:
    from awspar.signer import botocore_session

    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    with pytest.raises(ConfigurationError, match="nope") as raised:
        botocore_session("nope")
    assert "\n" not in str(raised.value)


def test_sessions_awspar_makes_share_one_model_loader_but_not_credentials(tmp_path, monkeypatch) -> None:
    """A second Signer reads the S3 model from the process's one loader (parsed once), while each
    session still resolves its own profile's credentials."""
    from awspar.signer import botocore_session

    credentials = tmp_path / "credentials"
    credentials.write_text("[one]\naws_access_key_id = AKIDONE\naws_secret_access_key = s1\n"
                           "[two]\naws_access_key_id = AKIDTWO\naws_secret_access_key = s2\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    one, two = botocore_session("one"), botocore_session("two")
    assert one.get_component("data_loader") is two.get_component("data_loader")
    assert botocore.session.Session().get_component("data_loader") is not one.get_component("data_loader")
    assert (one.get_credentials().access_key, two.get_credentials().access_key) == ("AKIDONE", "AKIDTWO")
    url = Signer("s3", session=two, region="us-east-1").presign("GetObject", {"Bucket": "b", "Key": "k"}).url
    assert "AKIDTWO" in url
