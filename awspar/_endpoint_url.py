"""Endpoint URLs checked where the signer takes them, so that a slip (``localhost:9000`` without a
scheme, ``notaurl``, ``ftp://...``, ``http://[::1``) is one :class:`ConfigurationError` naming the
URL, where it came from and what is wrong with it, rather than botocore's bare ``ValueError`` or a
request that fails to connect five times.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from awspar._errors import ConfigurationError

__all__ = ["check_endpoint_url", "configured_endpoint_error"]

# user:password@ in a URL is shown as ***@
_USERINFO = re.compile(r"(//)[^/@]*@")


def _problem(url: str) -> str | None:
    """What makes ``url`` unusable as an endpoint, or None."""
    if "://" not in url:
        return "it has no scheme: write http://... or https://..."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        return f"it does not parse ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return f"its scheme is {parts.scheme!r}, not http or https"
    if not parts.hostname:
        return "it has no host name"
    return None


def _configured(service: str) -> tuple[str, str] | None:
    """The environment variable botocore takes the endpoint of ``service`` from, and its value."""
    for name in (f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}", "AWS_ENDPOINT_URL"):
        if os.environ.get(name):
            return name, os.environ[name]
    return None


def check_endpoint_url(service: str, url: str, *, given: bool) -> None:
    """Raise :class:`ConfigurationError` unless ``url`` is an absolute http(s) URL with a host.

    ``given`` says the caller passed ``url``; otherwise botocore found it in the environment or in
    ``~/.aws/config``, and the message says which.
    """
    problem = _problem(url)
    if problem is not None:
        configured = _configured(service)
        source = "" if given else configured[0] if configured and configured[1] == url else "~/.aws/config"
        raise _error(service, url, source, problem)


def configured_endpoint_error(service: str, exc: ValueError) -> ConfigurationError:
    """The error for a configured endpoint URL that botocore refused with a ``ValueError``."""
    configured = _configured(service)
    problem = None if configured is None else _problem(configured[1])
    if configured is not None and problem is not None:
        return _error(service, configured[1], configured[0], problem)
    return ConfigurationError(f"{service}: invalid endpoint URL in ~/.aws/config: {exc}", service=service)


def _error(service: str, url: str, source: str, problem: str) -> ConfigurationError:
    shown = _USERINFO.sub(r"\1***@", url)
    where = f" (from {source})" if source else ""
    return ConfigurationError(f"{service}: invalid endpoint URL {shown!r}{where}: {problem}", service=service)
