"""The error tree. Every error pickles (it crosses process and interpreter boundaries) and no
error text ever contains a secret key, a session token or a signature.

::

    AwsparError
    ├── ConfigurationError          bad input, found before anything is sent
    │   ├── NoCredentialsError
    │   ├── UnknownServiceError      (with the closest names)
    │   ├── UnknownOperationError    (with the closest names)
    │   ├── ParamValidationError     (botocore's validation message, one line)
    │   └── EngineUnavailableError   (an engine this Python or install cannot run)
    ├── TransportError              no usable HTTP response arrived
    │   ├── ConnectError
    │   ├── TimeoutError             (also a builtin TimeoutError)
    │   ├── IncompleteBodyError      (fewer bytes than Content-Length)
    │   └── CancelledError           (stopped on purpose: a race or hedge loser; never retried)
    ├── ServiceError                AWS answered with an error (code, message, status, request id)
    ├── LocalFileError              a local file could not be written (permission, read-only file
    │   │                            system, too many open files): names the path; never retried
    │   └── DiskFull                 (ENOSPC, EDQUOT: a fetch into files stops there)
    ├── WorkerCrashedError          a worker process or interpreter died
    └── NoWinnerError               a race or first-valid run where no call was accepted
"""

from __future__ import annotations

import builtins
import errno as _errno
from typing import Any

__all__ = [
    "AwsparError",
    "ConfigurationError",
    "NoCredentialsError",
    "UnknownServiceError",
    "UnknownOperationError",
    "ParamValidationError",
    "EngineUnavailableError",
    "TransportError",
    "ConnectError",
    "TimeoutError",
    "IncompleteBodyError",
    "CancelledError",
    "ServiceError",
    "LocalFileError",
    "DiskFull",
    "local_file_error",
    "WorkerCrashedError",
    "NoWinnerError",
    "THROTTLING_CODES",
]

# Error codes that mean "slow down"; retried with backoff.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ModelNotReadyException",
    }
)


class AwsparError(Exception):
    """Base of every awspar error. Pickles with its keyword fields."""

    def __init__(self, message: str = "", **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        for name, value in fields.items():
            setattr(self, name, value)
        self._fields = fields

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self._fields))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[AwsparError], message: str, fields: dict[str, Any]) -> AwsparError:
    return cls(message, **fields)


class ConfigurationError(AwsparError, ValueError):
    """Bad input found before anything was sent.

    The one rule for bad arguments: a value that no call could accept (``concurrency=0``,
    ``skip_existing`` with ``overwrite``, an unknown operation, a bad ``hedge_after``) raises
    this class, which is also a :class:`ValueError`, so ``except ValueError`` catches it as
    well. A plain ``ValueError`` is only for bad *data* met while running (an answer body that
    is not JSON). The CLI turns it into one line and exit 2.
    """


class NoCredentialsError(ConfigurationError):
    """No AWS credentials were found in the usual places."""


class UnknownServiceError(ConfigurationError):
    """botocore knows no such service."""


class UnknownOperationError(ConfigurationError):
    """The service has no such operation."""


class ParamValidationError(ConfigurationError):
    """The parameters do not fit the operation's input shape."""


class EngineUnavailableError(ConfigurationError):
    """The engine cannot run here: wrong Python version or a missing optional dependency."""


class TransportError(AwsparError):
    """No usable HTTP response arrived. ``attempts`` says how many were made; ``cancelled`` is
    True only for a :class:`CancelledError`."""

    attempts: int = 1
    cancelled: bool = False


class ConnectError(TransportError, ConnectionError):
    """The connection could not be made or was reset."""


class TimeoutError(TransportError, builtins.TimeoutError):
    """The connect or read timeout passed."""


class IncompleteBodyError(TransportError):
    """The body was shorter than its Content-Length: never a silent truncation."""


class CancelledError(TransportError):
    """The call was stopped on purpose (another call won the race, or its hedge answered first);
    it is never retried. Not :class:`asyncio.CancelledError`: this one is an ordinary result."""

    cancelled = True


class ServiceError(AwsparError):
    """AWS answered with an error.

    Fields: ``code`` (e.g. ``"NoSuchKey"``), ``status`` (HTTP status), ``request_id``,
    ``operation``, ``throttling`` (True for throttling codes and 429), ``retryable``
    (throttling, or a 5xx status) and ``attempts`` (how many were made; ``retried`` when more
    than one).
    """

    code: str = ""
    status: int = 0
    request_id: str | None = None
    operation: str = ""
    throttling: bool = False
    retryable: bool = False
    attempts: int = 1

    @property
    def retried(self) -> bool:
        """True when the answer came after at least one retry."""
        return self.attempts > 1

    @classmethod
    def from_parts(
        cls,
        code: str,
        message: str,
        status: int,
        request_id: str | None = None,
        operation: str = "",
        attempts: int = 1,
    ) -> "ServiceError":
        """Build one, deriving ``throttling`` and ``retryable`` from the code and status."""
        throttling = code in THROTTLING_CODES or status == 429
        retryable = throttling or status >= 500
        where = f" ({operation})" if operation else ""
        text = f"{code}{where}: {message} [HTTP {status}]" if message else f"{code}{where} [HTTP {status}]"
        return cls(
            text,
            code=code,
            status=status,
            request_id=request_id,
            operation=operation,
            throttling=throttling,
            retryable=retryable,
            attempts=attempts,
        )


class LocalFileError(AwsparError):
    """A local file could not be opened or written: the local file system's fault, not the
    network's, so it is never retried. ``path`` is the file, ``errno`` the OS error number;
    ``code`` is the name an :class:`~awspar.s3.ObjectResult` reports."""

    code = "LocalFileError"
    path: str = ""
    errno: int = 0


class DiskFull(LocalFileError):
    """No space left on the device (ENOSPC) or the disk quota is used up (EDQUOT): no later file
    can be written either, so :func:`awspar.s3.get_objects` stops there."""

    code = "DiskFull"


_TOO_MANY_FILES = "too many open files: lower the concurrency (--concurrency) or raise the limit (ulimit -n)"
_LOCAL_REASONS = {
    _errno.ENOSPC: "no space left on the device",
    _errno.EDQUOT: "disk quota exceeded",
    _errno.EROFS: "read-only file system",
    _errno.EACCES: "permission denied",
    _errno.EPERM: "operation not permitted",
    _errno.EMFILE: _TOO_MANY_FILES,
    _errno.ENFILE: _TOO_MANY_FILES,
}


def local_file_error(path: str, exc: OSError) -> LocalFileError:
    """The :class:`LocalFileError` (a :class:`DiskFull` for ENOSPC/EDQUOT) for ``exc`` raised on
    ``path``: one line that names the path, says what went wrong and, for too many open files,
    what to do."""
    number = exc.errno or 0
    reason = _LOCAL_REASONS.get(number) or exc.strerror or str(exc) or type(exc).__name__
    name = _errno.errorcode.get(number)
    cls = DiskFull if number in (_errno.ENOSPC, _errno.EDQUOT) else LocalFileError
    return cls(f"{path}: {reason}" + (f" [{name}]" if name else ""), path=path, errno=number)


class WorkerCrashedError(AwsparError):
    """A worker process or subinterpreter died while it held requests."""


class NoWinnerError(AwsparError):
    """A race or first-valid run ended with no accepted result. ``results`` holds every attempt."""
