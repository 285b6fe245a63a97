"""Keeps signatures and session tokens out of the debug logs of the libraries awspar drives.

At DEBUG, urllib3 logs each request line (a presigned URL with its ``X-Amz-Signature`` and
``X-Amz-Security-Token``), botocore logs the canonical request, the signature and every prepared
request's headers (``Authorization``, ``X-Amz-Security-Token``). :func:`install` puts one
:class:`RedactSecrets` filter on each logger of botocore, urllib3 and aiohttp, where the records
are made: a filter on a logger sees only the records logged to that very logger, not those that
propagate up from its children, so a filter on ``"botocore"`` alone would see nothing.
"""

from __future__ import annotations

import logging
import re

from awspar._models import REDACTED, SECRET_HEADERS, redact_url

__all__ = ["RedactSecrets", "install", "redact_text"]

_PACKAGES = ("botocore", "urllib3", "aiohttp")
# Loggers made only when their module is imported, which may come after install(): aiohttp's
# (imported by the async engine) and botocore's that load on first use of a client.
_LATE_LOGGERS = (
    "aiohttp.access", "aiohttp.client", "aiohttp.internal", "aiohttp.server", "aiohttp.web", "aiohttp.websocket",
    "botocore.auth", "botocore.endpoint", "botocore.httpsession", "botocore.hooks", "botocore.parsers",
    "botocore.retryhandler", "botocore.retries.standard", "botocore.httpchecksum", "botocore.endpoint_provider",
    "urllib3.connectionpool", "urllib3.connection", "urllib3.poolmanager", "urllib3.response", "urllib3.util.retry",
)
# A secret header's value wherever a log line shows it: a dict repr (``'Authorization': b'...'``),
# a canonical request (``x-amz-security-token:...``), botocore's ``Signature:\n<hex>``, the parts of
# a bare ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``.
# A quoted value is replaced whole, a bare one up to a space, comma, quote or ``&``.
_SECRET_NAMES = sorted(SECRET_HEADERS | {"signature", "credential"})
_SECRET_VALUE = re.compile(
    r"(?i)(?<![\w-])(" + "|".join(map(re.escape, _SECRET_NAMES)) + r")(['\"]?\s*[:=]\s*)"
    r"(b?'[^']*'|b?\"[^\"]*\"|[^\s&'\",]+)"
)


def redact_text(text: str) -> str:
    """``text`` with presigned-URL secrets (:func:`~awspar._models.redact_url`) and secret header
    values (:data:`~awspar._models.SECRET_HEADERS`) replaced by ``***``."""
    return _SECRET_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", redact_url(text))


class RedactSecrets(logging.Filter):
    """Rewrites a record whose message (or traceback) shows a secret; drops nothing.

    The message is formatted here, once, and replaces ``msg`` and ``args`` only when it changed,
    so that every handler (the user's included) gets the redacted text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record: the handler reports it as it would
            return True
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return True


_FILTER = RedactSecrets()


def install() -> None:
    """Put the filter on every logger of botocore, urllib3 and aiohttp that exists now, and on
    those known to be made later. Idempotent and cheap (a pass over the logger names); calling it
    again also covers loggers made since."""
    existing = [name for name in list(logging.root.manager.loggerDict) if name.partition(".")[0] in _PACKAGES]
    for name in (*_PACKAGES, *_LATE_LOGGERS, *existing):
        logging.getLogger(name).addFilter(_FILTER)  # addFilter skips a filter already there
