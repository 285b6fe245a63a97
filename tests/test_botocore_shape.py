"""Fails loudly when a botocore detail awspar relies on changes shape.

Each test names what awspar uses and where; a failure here means that module needs a look after a
botocore upgrade, before signing or parsing silently goes wrong.
"""

from __future__ import annotations

import datetime
import inspect

import boto3
import botocore.auth
import botocore.credentials
import botocore.handlers
import botocore.parsers
import pytest
from botocore.config import Config

from awspar._botocore_compat import CLOCK_TARGET, credential_expiry, protocol_of

FAKE = {"aws_access_key_id": "AKIDSHAPE", "aws_secret_access_key": "shape-secret", "region_name": "us-east-1"}


def test_signing_clock_is_where_the_tests_freeze_it() -> None:
    """frozen_signing_clock patches CLOCK_TARGET: SigV4 must read "now" through it."""
    module_name, _, attribute = CLOCK_TARGET.rpartition(".")
    assert module_name == "botocore.auth"
    now = getattr(botocore.auth, attribute)()
    assert isinstance(now, datetime.datetime) and now.tzinfo is None
    assert f"{attribute}()" in inspect.getsource(botocore.auth.SigV4Auth.add_auth)


class _Stop(Exception):
    pass


@pytest.mark.parametrize("retry_mode", ["standard", "legacy", "adaptive"])
def test_before_send_passes_the_signed_request_and_an_exception_from_it_ends_the_call(retry_mode) -> None:
    """signer.Signer._capture_and_stop: kwargs request and event_name; an exception it raises
    leaves the client call at once, unretried, whatever the retry mode."""
    client = boto3.Session(**FAKE).client("sqs", config=Config(retries={"mode": retry_mode}))
    seen = []

    def handler(request, event_name, **kwargs):
        seen.append((request.url, event_name, dict(request.headers), request.body))
        raise _Stop

    client.meta.events.register("before-send", handler)
    with pytest.raises(_Stop):
        client.list_queues()
    assert len(seen) == 1
    _, event, headers, _ = seen[0]
    assert event == "before-send.sqs.ListQueues" and "Authorization" in headers


def test_before_sign_passes_the_request_a_presigned_url_is_made_from() -> None:
    """signer.Signer._remember_request reads the signed headers off it after presigning."""
    client = boto3.Session(**FAKE).client("s3", config=Config(signature_version="s3v4"))
    seen = []
    client.meta.events.register("before-sign", lambda request, **kwargs: seen.append(request))
    url = client.generate_presigned_url("put_object", Params={"Bucket": "b", "Key": "k", "ContentType": "a/b"})
    assert len(seen) == 1 and dict(seen[0].headers) == {"Content-Type": "a/b"}
    assert "X-Amz-SignedHeaders=content-type%3Bhost" in url


def test_s3_presign_query_order_is_what_the_fast_path_reproduces() -> None:
    """awspar.signer.s3presign builds the auth query in this order, Security-Token after SignedHeaders."""
    client = boto3.Session(**FAKE, aws_session_token="T").client("s3", config=Config(signature_version="s3v4"))
    url = client.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "k"})
    names = [pair.partition("=")[0] for pair in url.partition("?")[2].split("&")]
    assert names == ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
                     "X-Amz-Security-Token", "X-Amz-Signature"]


def test_refreshable_credentials_keep_their_expiry_where_awspar_reads_it() -> None:
    expiry = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    credentials = botocore.credentials.RefreshableCredentials.create_from_metadata(
        {"access_key": "A", "secret_key": "S", "token": "T", "expiry_time": expiry.isoformat()},
        refresh_using=dict, method="test",
    )
    assert credential_expiry(credentials) == expiry.timestamp()
    assert credential_expiry(botocore.credentials.Credentials("A", "S")) is None


def test_protocols_and_their_parsers() -> None:
    """parsing.py relies on these protocol names and parser factory."""
    session = boto3.Session(**FAKE)
    protocols = {protocol_of(session.client(name).meta.service_model)
                 for name in ("s3", "sqs", "sts", "ec2", "lambda")}
    assert {"rest-xml", "json", "query", "ec2", "rest-json"} <= protocols
    for protocol in ("rest-xml", "json", "query", "ec2", "rest-json", "smithy-rpc-v2-cbor"):
        assert hasattr(botocore.parsers.create_parser(protocol), "parse")


@pytest.mark.parametrize(
    ("event", "handler"),
    [
        ("before-parse.s3.*", "_handle_200_error"),
        ("after-call.s3.ListObjectsV2", "decode_list_object_v2"),
        ("after-call.s3.GetBucketLocation", "parse_get_bucket_location"),
    ],
)
def test_parse_relies_on_botocores_builtin_handlers(event, handler) -> None:
    """parse.py emits before-parse / after-call on a session so these run as in a client."""
    registered = [(name, getattr(func, "__name__", "")) for name, func, *_ in botocore.handlers.BUILTIN_HANDLERS]
    assert (event, handler) in registered
    assert "encoding_type_auto_set" in inspect.getsource(botocore.handlers._decode_list_object)


def test_prepared_requests_keep_header_values_as_bytes_or_text() -> None:
    """signer._text_headers decodes bytes values; anything else would be a new shape."""
    client = boto3.Session(**FAKE).client("sts")
    kinds = set()

    def handler(request, **kwargs):
        kinds.update(type(value) for value in request.headers.values())
        raise _Stop

    client.meta.events.register("before-send", handler)
    with pytest.raises(_Stop):
        client.get_caller_identity()
    assert kinds and kinds <= {bytes, str}


def test_header_items_reads_headers_dict_in_original_case() -> None:
    """signer._lift reads a prepared request's headers through header_items (HeadersDict._dict)."""
    from botocore.awsrequest import HeadersDict

    from awspar._botocore_compat import header_items

    headers = HeadersDict({"X-Amz-Date": b"20260102T030405Z", "content-type": "a/b"})
    assert isinstance(getattr(headers, "_dict", None), dict)
    assert list(header_items(headers)) == [("X-Amz-Date", b"20260102T030405Z"), ("content-type", "a/b")]
