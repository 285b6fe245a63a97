"""One HTTP attempt with urllib3, returning plain data: the send path of the threads and process
engines, and of the subinterpreter workers.

Imports only the standard library, urllib3 and awspar's stdlib-only modules, so that it loads in
a subinterpreter (where aiohttp, yarl and cryptography refuse to) and in a bare worker process.
The request is sent exactly as signed: no retries, no redirects, no decompression, no re-quoting
of the already-encoded URL. Nor is that URL parsed character by character, as urllib3 would (a
Python loop over every byte of the long presigned query, twice, ~60-130 µs a request): the
host's pool is found from the URL's origin, and urllib3's check of the request target passes a
target that is already percent-encoded through unchanged (:func:`_encoded_target`).
"""

from __future__ import annotations

import builtins
import contextlib
import http.client
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import urllib3
import urllib3.connectionpool
import urllib3.util.url
from urllib3 import exceptions as u3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from awspar._errors import (
    AwsparError,
    CancelledError,
    ConnectError,
    IncompleteBodyError,
    LocalFileError,
    TimeoutError,
    TransportError,
)
from awspar._models import FileSink, SinkFile
from awspar.engines._attempts import Outcome, describe_failure, empty_by_range

__all__ = ["CHUNK_SIZE", "CancelToken", "make_pool", "send_once"]

#: Bytes per read when streaming a body into a file.
CHUNK_SIZE = 256 * 1024
_NO_BODY_STATUSES = (204, 304)


class CancelToken:
    """Set from any thread to abandon an attempt, at whatever stage it is.

    Whatever the attempt is waiting on registers how to abort it (:meth:`on_cancel`): the
    connection's socket while the request waits for its first byte (see
    :class:`_AbortableConnection`), then the response being read, or a task in a worker process or
    interpreter. Cancelling runs it: a blocked reader wakes up at once and the server sees the
    disconnect (a Bedrock model stops generating, and billing).
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._abort: Callable[[], object] | None = None

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        self._event.set()
        with self._lock:
            abort = self._abort
        if abort is not None:
            abort()

    def on_cancel(self, abort: Callable[[], object]) -> bool:
        """Make cancelling call ``abort`` (instead of what was registered before). If the attempt
        is already cancelled, call it now and return False."""
        with self._lock:
            self._abort = abort
        if self._event.is_set():
            abort()
            return False
        return True

    def attach(self, response: Any) -> bool:
        """Abort ``response`` (a urllib3 response being read) when cancelled; False (and the
        response aborted) if the attempt was already cancelled."""
        return self.on_cancel(lambda: _abort(response))


def make_pool(concurrency: int, connect_timeout: float, read_timeout: float) -> urllib3.PoolManager:
    """One PoolManager for a whole engine: ``maxsize=concurrency`` and ``block=True``, so that a
    host never has more connections than requests in flight and none is ever discarded. Its
    connections can be aborted by the attempt's :class:`CancelToken` before the headers arrive."""
    pool = urllib3.PoolManager(
        num_pools=32,
        maxsize=concurrency,
        block=True,
        retries=False,
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
    )
    pool.pool_classes_by_scheme = {"http": _AbortableHTTPPool, "https": _AbortableHTTPSPool}
    return pool


# The CancelToken of the attempt the current thread is making (read by the connection).
_current_attempt = threading.local()


class _AbortableConnection(HTTPConnection):
    """A connection that the attempt's cancellation can abort while it waits for the headers.

    Once the request is sent, its socket is registered with the :class:`CancelToken` of the
    attempt this thread is making: a race or hedge loser waiting for its first byte would
    otherwise hold its thread (and a slot, and the server's work) until the read timeout.
    """

    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)
        token: CancelToken | None = getattr(_current_attempt, "token", None)
        if token is not None:
            token.on_cancel(self._shutdown_socket)

    def _shutdown_socket(self) -> None:
        """Wake the blocked reader; the send path then closes the connection."""
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _AbortableHTTPSConnection(_AbortableConnection, HTTPSConnection):
    pass


class _AbortableHTTPPool(HTTPConnectionPool):
    ConnectionCls = _AbortableConnection


class _AbortableHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _AbortableHTTPSConnection


def send_once(
    pool: urllib3.PoolManager,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    sink: tuple[str, int] | tuple[str, int, int] | None = None,
    cancel: CancelToken | None = None,
) -> Outcome:
    """Send one request and read its whole answer (into memory, or into ``sink``: a
    :meth:`FileSink.to_tuple <awspar.FileSink.to_tuple>`, or ``(path, offset)``).

    Never raises for transport trouble: the :class:`Outcome` carries a ``ConnectError``,
    ``TimeoutError`` or ``IncompleteBodyError`` instead (with the URL's signature redacted).
    """
    start = time.perf_counter()
    if cancel is not None and cancel.cancelled:  # abandoned before it started
        return Outcome.failed(start, CancelledError("cancelled before it was sent"))
    response = None
    _current_attempt.token = cancel
    try:
        host_pool, target = _host_pool(pool, url)
        response = host_pool.urlopen(
            method, target, body=body or None, headers=dict(headers),
            redirect=False, retries=False, preload_content=False, decode_content=False,
            assert_same_host=False,
        )
        first_byte = time.perf_counter()
        if cancel is not None and not cancel.attach(response):
            return Outcome.failed(start, CancelledError("cancelled"))
        status = response.status
        resp_headers = dict(response.headers)
        if empty_by_range(status, resp_headers):  # nothing to read, whatever Content-Length says
            _abort(response)
            return Outcome(start, time.perf_counter(), status, resp_headers, b"", None, first_byte)
        expected = _expected_length(method, status, resp_headers)
        target = None if sink is None else FileSink(*sink)
        if target is None or target.in_memory(status, expected):
            data = response.read(decode_content=False)
            received = len(data)
            path = None
        else:
            data = b""
            path = target.path
            received = _stream_to_file(response, path, target.offset, cancel)
        if expected is not None and received < expected:
            raise IncompleteBodyError(f"body ended after {received} of {expected} bytes")
        return Outcome(start, time.perf_counter(), status, resp_headers, data, path, first_byte)
    except LocalFileError as exc:  # the local disk's fault: it names the path, not the URL
        _abort(response)
        return Outcome.failed(start, exc)
    except AwsparError as exc:
        _abort(response)
        what = "cancelled" if isinstance(exc, CancelledError) else "incomplete body"
        return Outcome.failed(start, type(exc)(describe_failure(method, url, what, exc)))
    except Exception as exc:
        _abort(response)
        if cancel is not None and cancel.cancelled:  # the abort is what broke the connection
            return Outcome.failed(start, CancelledError(describe_failure(method, url, "cancelled", exc)))
        error = _map_error(method, url, exc)
        if response is not None and isinstance(error, ConnectError):  # cut off after the headers
            error = IncompleteBodyError(describe_failure(method, url, "body cut short", exc))
        return Outcome.failed(start, error)
    finally:
        _current_attempt.token = None
        if response is not None:
            response.release_conn()


# Origin ("http://host:port") -> urllib3's reading of it, as PoolManager.urlopen would parse it.
_origins: dict[str, Any] = {}


def _host_pool(pool: urllib3.PoolManager, url: str) -> tuple[Any, str]:
    """The connection pool for ``url``'s host and the request target to send it, as
    ``PoolManager.urlopen`` finds them, parsing only the short origin (once per origin)."""
    scheme_end = url.find("://")
    path_start = url.find("/", scheme_end + 3) if scheme_end > 0 else -1
    if path_start < 0:  # no path: let urllib3 read it all
        parsed = urllib3.util.url.parse_url(url)
        return pool.connection_from_host(parsed.host, parsed.port, parsed.scheme), parsed.request_uri
    origin = url[:path_start]
    parsed = _origins.get(origin)
    if parsed is None:
        if len(_origins) > 64:
            _origins.clear()
        parsed = _origins[origin] = urllib3.util.url.parse_url(origin)
    return pool.connection_from_host(parsed.host, parsed.port, parsed.scheme), url[path_start:]


def _target_pattern() -> re.Pattern[str]:
    """A request target that urllib3's ``_encode_target`` returns unchanged: a path and query of
    the characters it allows, every ``%`` starting an upper-case ``%XX``, no fragment."""
    def chars(allowed: set[str]) -> str:
        return "[" + "".join(re.escape(c) for c in sorted(allowed)) + "]|%[0-9A-F]{2}"
    url = urllib3.util.url
    return re.compile(f"/(?:{chars(url._PATH_CHARS)})*(?:\\?(?:{chars(url._QUERY_CHARS)})*)?")


_ENCODED_TARGET = _target_pattern()
_urllib3_encode_target = urllib3.util.url._encode_target


def _encoded_target(target: str) -> str:
    """urllib3's ``_encode_target``, without its byte-by-byte loop for a target that is already
    encoded (every signed URL awspar sends): same answer for every input (tested)."""
    if _ENCODED_TARGET.fullmatch(target):
        return target
    return _urllib3_encode_target(target)


if getattr(urllib3.connectionpool, "_encode_target", None) is _urllib3_encode_target:
    urllib3.connectionpool._encode_target = _encoded_target


def _expected_length(method: str, status: int, headers: Mapping[str, str]) -> int | None:
    if method == "HEAD" or status in _NO_BODY_STATUSES or 100 <= status < 200:
        return None
    value = headers.get("Content-Length") or headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _stream_to_file(response: Any, path: str, offset: int, cancel: CancelToken | None) -> int:
    written = 0
    with SinkFile(path, offset) as file:
        for chunk in response.stream(CHUNK_SIZE, decode_content=False):
            if cancel is not None and cancel.cancelled:
                raise CancelledError("cancelled while streaming")
            file.write(chunk)
            written += len(chunk)
    return written


def _abort(response: Any) -> None:
    """Close the connection under ``response`` so it is never reused half-read."""
    if response is None:
        return
    shutdown = getattr(response, "shutdown", None)  # urllib3 >= 2.3: wakes a reader in another thread
    try:
        if shutdown is not None:
            shutdown()
        response.close()
    except Exception:
        pass


def _map_error(method: str, url: str, exc: Exception) -> AwsparError:
    """urllib3's exception as awspar's most specific one."""
    if isinstance(exc, (u3.ReadTimeoutError, builtins.TimeoutError)) or (
        isinstance(exc, u3.ConnectTimeoutError) and not isinstance(exc, u3.NewConnectionError)
    ):
        return TimeoutError(describe_failure(method, url, "timed out", exc))
    # urllib3 wraps a short body as ProtocolError("Connection broken: IncompleteRead(...)", cause).
    if any(isinstance(e, http.client.IncompleteRead) for e in (exc, *exc.args, exc.__context__)):
        return IncompleteBodyError(describe_failure(method, url, "incomplete body", exc))
    if isinstance(exc, (u3.HTTPError, OSError, http.client.HTTPException)):
        return ConnectError(describe_failure(method, url, "connection failed", exc))
    return TransportError(describe_failure(method, url, type(exc).__name__, exc))
