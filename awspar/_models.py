"""Plain data that crosses every boundary: threads, subinterpreters, processes, cluster workers.

Nothing here imports botocore, aiohttp or anything outside the standard library, so that these
classes load inside a subinterpreter or a bare worker process. None of them ever holds a secret key;
their ``repr`` hides the signature, the ``Authorization`` header and the session token.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from awspar._errors import local_file_error

__all__ = ["SignedRequest", "RawResponse", "Span", "FileSink", "SinkFile", "redact_url", "redact_headers"]

# Header names whose values are secret or reveal the signature.
SECRET_HEADERS = frozenset({"authorization", "x-amz-security-token", "x-amz-signature"})
# Query parameters of a presigned URL whose values are secret.
_SECRET_QUERY = re.compile(
    r"(?i)(X-Amz-Signature|X-Amz-Security-Token|X-Amz-Credential|Signature|AWSAccessKeyId)=[^&\s'\"<>]*"
)
REDACTED = "***"


def redact_url(url: str) -> str:
    """The URL with its signature, session token and credential scope replaced by ``***``."""
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}={REDACTED}", url)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with secret values replaced by ``***``."""
    return {k: (REDACTED if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


@dataclass(frozen=True, eq=True)
class SignedRequest:
    """A fully signed HTTP request, as plain data any HTTP client can send unchanged.

    ``expires_at`` is the wall-clock time (``time.time()``) after which the signature must not be
    sent: 5 minutes after ``X-Amz-Date`` for header-signed requests, the presigned URL's own expiry
    (capped by the credentials' expiry) for presigned ones. ``operation`` is ``"service.Operation"``
    (e.g. ``"s3.GetObject"``), kept so that the response can be parsed and the request re-signed.
    ``params`` are the API parameters it was signed from, when the signer kept them (for re-signing);
    they never include credentials.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    operation: str = ""
    expires_at: float | None = None
    params: Mapping[str, Any] | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        return (
            f"SignedRequest(method={self.method!r}, url={redact_url(self.url)!r}, "
            f"headers={redact_headers(self.headers)!r}, body=<{len(self.body)} bytes>, "
            f"operation={self.operation!r}, expires_at={self.expires_at!r})"
        )

    __str__ = __repr__

    @property
    def service(self) -> str:
        """The botocore service name, e.g. ``"s3"`` or ``"bedrock-runtime"``."""
        return self.operation.partition(".")[0]

    @property
    def operation_name(self) -> str:
        """The API operation name, e.g. ``"GetObject"``."""
        return self.operation.partition(".")[2]

    def is_stale(self, now: float, margin: float = 0.0) -> bool:
        """True when the signature will have expired ``margin`` seconds after ``now``."""
        return self.expires_at is not None and now + margin >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the body as latin-1 text, which round-trips every byte)."""
        data = dataclasses.asdict(self)
        data["headers"] = dict(self.headers)
        data["body"] = self.body.decode("latin-1")
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SignedRequest":
        """The inverse of :meth:`to_dict`."""
        body = data.get("body", b"")
        return cls(
            method=data["method"],
            url=data["url"],
            headers=dict(data.get("headers") or {}),
            body=body.encode("latin-1") if isinstance(body, str) else bytes(body),
            operation=data.get("operation", ""),
            expires_at=data.get("expires_at"),
            params=data.get("params"),
        )

    def to_tuple(self) -> tuple[str, str, tuple[tuple[str, str], ...], bytes]:
        """The bare minimum to send it: ``(method, url, header pairs, body)``; for worker hand-off."""
        return (self.method, self.url, tuple(self.headers.items()), self.body)


@dataclass(frozen=True)
class FileSink:
    """Where an engine writes a response body instead of memory: ``path`` at byte ``offset``.

    The engine opens the file for update (creating it, mode 0600, when it does not exist yet) and
    writes the body starting at ``offset``, streaming, without holding the whole body in memory.
    Used for large objects and for byte-range parts written in place (into a file the caller
    preallocated and renames when complete).

    ``memory_limit``: a 2xx body whose ``Content-Length`` is at most this many bytes, and any
    error body, stays in memory instead (the response then has no ``path`` and the file is not
    touched): a first request that may be small or large takes one sink, and a small answer costs
    no file until the caller wants one. 0 (the default) always writes to the file.
    """

    path: str
    offset: int = 0
    memory_limit: int = 0

    def in_memory(self, status: int, content_length: int | None) -> bool:
        """True when a body with this status and length is kept in memory rather than written."""
        if self.memory_limit <= 0:
            return False
        return not 200 <= status < 300 or (content_length is not None and content_length <= self.memory_limit)

    def to_tuple(self) -> tuple[str, int, int]:
        """``(path, offset, memory_limit)``, for worker hand-off; ``FileSink(*t)`` is the inverse."""
        return (self.path, self.offset, self.memory_limit)


class SinkFile:
    """A sink's file, opened for update (created with ``mode`` when it does not exist; only then
    with ``exclusive``) and positioned at ``offset``: where bodies are written.

    Every failure of the local file system (a full disk, a read-only or forbidden directory, too
    many open files) comes out as :class:`~awspar.LocalFileError` (:class:`~awspar.DiskFull` for
    ENOSPC) naming the path, never as an ``OSError`` that a caller would take for a broken
    connection and retry. Only the file's own calls are wrapped: an error reading the network
    while writing stays the network's.
    """

    def __init__(self, path: str, offset: int = 0, *, mode: int = 0o600, exclusive: bool = False) -> None:
        self.path = path
        flags = os.O_RDWR | os.O_CREAT | (os.O_EXCL if exclusive else 0)
        try:
            self._file = open(os.open(path, flags, mode), "r+b")
            if offset:
                self._file.seek(offset)
        except OSError as exc:
            raise local_file_error(path, exc) from None

    def write(self, data: bytes | memoryview) -> None:
        try:
            self._file.write(data)
        except OSError as exc:
            raise local_file_error(self.path, exc) from None

    def truncate(self, size: int) -> None:
        try:
            self._file.truncate(size)
        except OSError as exc:
            raise local_file_error(self.path, exc) from None

    def close(self) -> None:
        """Close (flushing what is buffered: a full disk may first show here)."""
        try:
            self._file.close()
        except OSError as exc:
            raise local_file_error(self.path, exc) from None

    def __enter__(self) -> SinkFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Span:
    """One attempt of one request, on the ``time.perf_counter()`` clock (system-wide on Linux).

    ``outcome`` is ``"ok"``, ``"retry"``, ``"hedge"``, ``"cancelled"`` or ``"error"``;
    ``first_byte`` is when the response headers arrived (``None`` if they never did).
    """

    start: float
    end: float
    first_byte: float | None = None
    attempt: int = 1
    outcome: str = "ok"
    status: int | None = None


@dataclass(frozen=True)
class RawResponse:
    """What an engine got back for one request: bytes and timings, not yet parsed.

    ``index`` is the request's position in the input. ``error`` is set when no usable HTTP response
    arrived (connection failure, timeout, short body, retries exhausted on a transport error); an
    HTTP error status (4xx/5xx) is *not* an error here: :func:`awspar.parse` turns it into a
    ``ServiceError``. ``path`` is set when the body was streamed to a file instead of memory.
    """

    index: int
    status: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    spans: tuple[Span, ...] = ()
    error: BaseException | None = None
    path: str | None = None
    request: SignedRequest | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True for a 2xx response with no transport error."""
        return self.error is None and 200 <= self.status < 300

    @property
    def attempts(self) -> int:
        """How many attempts were made (hedges included)."""
        return len(self.spans)

    @property
    def elapsed(self) -> float:
        """Seconds from the first attempt's start to the last attempt's end."""
        if not self.spans:
            return 0.0
        return max(s.end for s in self.spans) - min(s.start for s in self.spans)

    def __repr__(self) -> str:
        return (
            f"RawResponse(index={self.index}, status={self.status}, body=<{len(self.body)} bytes>, "
            f"attempts={self.attempts}, error={self.error!r}, path={self.path!r})"
        )
