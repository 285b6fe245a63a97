"""The plain data types: they round-trip, pickle, and never show a secret."""

from __future__ import annotations

import json
import pickle

import pytest

from awspar import EngineConfig, RetryPolicy, ServiceError, SignedRequest, TransportError
from awspar._errors import CancelledError, IncompleteBodyError

SECRET_SIG = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
TOKEN = "FwoGZXIvYXdzEXAMPLETOKEN"


def _request() -> SignedRequest:
    return SignedRequest(
        method="GET",
        url=f"https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIDEXAMPLE%2F20261121&X-Amz-Signature={SECRET_SIG}"
        f"&X-Amz-Security-Token={TOKEN}",
        headers={
            "Authorization": f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/x, Signature={SECRET_SIG}",
            "X-Amz-Security-Token": TOKEN,
            "X-Amz-Date": "20261121T000000Z",
        },
        body=bytes(range(256)),
        operation="s3.GetObject",
        expires_at=1_000.0,
    )


def test_signed_request_round_trips_through_json_and_pickle() -> None:
    request = _request()
    assert SignedRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    assert pickle.loads(pickle.dumps(request)) == request
    assert request.service == "s3" and request.operation_name == "GetObject"


@pytest.mark.parametrize("render", [repr, str])
def test_signed_request_text_hides_secrets(render) -> None:
    text = render(_request())
    assert SECRET_SIG not in text and TOKEN not in text and "AKIDEXAMPLE" not in text
    assert "X-Amz-Date" in text and "s3.GetObject" in text


def test_staleness_uses_margin() -> None:
    request = _request()
    assert not request.is_stale(now=900.0)
    assert request.is_stale(now=900.0, margin=100.0)
    assert not SignedRequest("GET", "http://x").is_stale(now=1e12)


def test_errors_pickle_with_their_fields() -> None:
    error = ServiceError.from_parts("SlowDown", "Please reduce your request rate.", 503, "req-1", "s3.GetObject")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ServiceError and str(copy) == str(error)
    assert (copy.code, copy.status, copy.request_id, copy.throttling, copy.retryable) == (
        "SlowDown", 503, "req-1", True, True)
    short = pickle.loads(pickle.dumps(IncompleteBodyError("got 3 of 10 bytes", attempts=4)))
    assert isinstance(short, TransportError) and short.attempts == 4
    stopped = pickle.loads(pickle.dumps(CancelledError("another call won", attempts=2)))
    assert isinstance(stopped, TransportError) and stopped.cancelled and stopped.attempts == 2
    assert not short.cancelled


def test_config_rejects_nonsense_and_backoff_is_capped() -> None:
    with pytest.raises(ValueError):
        EngineConfig(concurrency=0)
    with pytest.raises(ValueError):
        EngineConfig(hedge_after="p150")
    policy = RetryPolicy(base_delay=1.0, max_delay=2.0)
    assert all(0 <= policy.delay(n) <= 2.0 for n in range(1, 20))


def test_redacting_a_url_inside_a_message_keeps_the_rest_of_the_message() -> None:
    from awspar._models import redact_url

    text = f"GET https://b/k?X-Amz-Signature={SECRET_SIG} failed: connection refused (after 4 attempts)"
    redacted = redact_url(text)
    assert SECRET_SIG not in redacted
    assert redacted.endswith("failed: connection refused (after 4 attempts)")
