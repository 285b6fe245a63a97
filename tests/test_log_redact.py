"""No signature, session token or credential scope in the DEBUG logs of botocore, urllib3 or aiohttp."""

from __future__ import annotations

import logging

import botocore.session
import pytest

from awspar.testing import ObjectServer
from awspar.testing.credentials import TEST_SESSION_CREDENTIALS

TOKEN = TEST_SESSION_CREDENTIALS.session_token
assert TOKEN is not None
PACKAGES = ("botocore", "urllib3", "aiohttp")


@pytest.fixture(scope="module")
def server():
    with ObjectServer({"b": {"k": b"hello"}}) as srv:
        yield srv


def _session() -> botocore.session.Session:
    session = botocore.session.Session()
    c = TEST_SESSION_CREDENTIALS
    session.set_credentials(c.access_key, c.secret_key, c.session_token)
    return session


def _secrets_in(text: str) -> list[str]:
    """The secrets (or the marks of one) found in ``text``."""
    marks = [TOKEN, TEST_SESSION_CREDENTIALS.secret_key, TEST_SESSION_CREDENTIALS.access_key]
    found = [mark for mark in marks if mark in text]
    found += [line for line in text.splitlines() if "Signature=" in line and "Signature=***" not in line]
    return found


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["threads", "async"])
def test_debug_logs_of_a_presigned_get_with_a_session_token_show_no_secret(server, mode, caplog) -> None:
    from awspar.s3 import get_objects
    from awspar.signer import Signer

    if mode == "async":
        pytest.importorskip("aiohttp")
    caplog.set_level(logging.DEBUG)
    session = _session()
    [result] = get_objects("b", ["k"], mode=mode, session=session, region="us-east-1", endpoint_url=server.url)
    assert result.ok and result.data == b"hello", result
    signer = Signer("s3", session=session, region="us-east-1", endpoint_url=server.url)
    signer.sign("GetObject", {"Bucket": "b", "Key": "k"})  # botocore logs the headers it signed
    signer.presign("ListObjectsV2", {"Bucket": "b"})  # not the fast path: botocore presigns it
    text = caplog.text
    # The lines that would carry the secrets were logged (redacted), so the check means something:
    # botocore's canonical request, signature and headers; urllib3's request line (aiohttp logs none).
    assert "X-Amz-Security-Token=***" in text
    assert mode != "threads" or "X-Amz-Signature=*** HTTP/1.1" in text
    assert "'Authorization': ***" in text and "Signature:\n***" in text
    assert not _secrets_in(text), _secrets_in(text)


@pytest.mark.timeout(60)
def test_every_logger_of_the_libraries_awspar_drives_carries_the_filter(server) -> None:
    """A filter on a logger sees only that logger's own records: each one must have it, including
    the loggers of modules imported after awspar.signer (the client's, aiohttp's)."""
    pytest.importorskip("aiohttp")
    from awspar._log_redact import RedactSecrets
    from awspar.s3 import get_objects

    for mode in ("threads", "async"):
        list(get_objects("b", ["k"], mode=mode, session=_session(), region="us-east-1", endpoint_url=server.url))
    loggers = {name: logger for name, logger in logging.root.manager.loggerDict.items()
               if name.partition(".")[0] in PACKAGES and isinstance(logger, logging.Logger)}
    assert {"botocore.auth", "botocore.endpoint", "urllib3.connectionpool", "aiohttp.client"} <= set(loggers)
    bare = sorted(name for name, logger in loggers.items()
                  if not any(isinstance(f, RedactSecrets) for f in logger.filters))
    assert not bare, f"loggers without the redaction filter: {bare}"


def test_install_is_idempotent() -> None:
    from awspar import _log_redact

    _log_redact.install()
    _log_redact.install()
    assert logging.getLogger("botocore.auth").filters.count(_log_redact._FILTER) == 1


@pytest.mark.parametrize(("text", "expected"), [
    ("Signature:\n0123abcd", "Signature:\n***"),
    ("x-amz-security-token:tok\nx-amz-date:20260101T000000Z", "x-amz-security-token:***\nx-amz-date:20260101T000000Z"),
    ("{'X-Amz-Security-Token': b'tok', 'Authorization': b'AWS4-HMAC-SHA256 Credential=AK/s, Signature=ff', 'a': 1}",
     "{'X-Amz-Security-Token': ***, 'Authorization': ***, 'a': 1}"),
    ('"GET /b/k?X-Amz-Credential=AK%2Fs&X-Amz-Security-Token=tok&X-Amz-Signature=ff HTTP/1.1" 200 5',
     '"GET /b/k?X-Amz-Credential=***&X-Amz-Security-Token=***&X-Amz-Signature=*** HTTP/1.1" 200 5'),
    ("Authorization: AWS4-HMAC-SHA256 Credential=AK/s, SignedHeaders=host, Signature=ff",
     "Authorization: *** Credential=***, SignedHeaders=host, Signature=***"),
    ("Calculating signature using v4 auth.", "Calculating signature using v4 auth."),
])
def test_redact_text_hides_each_form_botocore_and_urllib3_log(text: str, expected: str) -> None:
    from awspar._log_redact import redact_text

    assert redact_text(text) == expected


def test_the_filter_redacts_arguments_and_tracebacks_and_drops_nothing() -> None:
    from awspar._log_redact import RedactSecrets

    try:
        raise ValueError("https://h/k?X-Amz-Signature=ff")
    except ValueError:
        import sys

        record = logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1, "url %s %d",
                                   ("https://h/k?X-Amz-Security-Token=tok", 3), sys.exc_info())
    assert RedactSecrets().filter(record) is True
    assert record.getMessage() == "url https://h/k?X-Amz-Security-Token=*** 3"
    assert record.exc_text is not None and "X-Amz-Signature=***" in record.exc_text and "ff" not in record.exc_text
