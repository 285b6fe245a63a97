"""What one input of :func:`awspar.call_many` came to: plain data, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallResult"]


@dataclass(frozen=True)
class CallResult:
    """One input's outcome, at its position ``index`` in the input.

    ``response`` is the dict boto3 returns (with ``--paginate``/``paginate=True``, every page
    merged as botocore's paginator merges them, ``pages`` saying how many), or ``None`` when the
    call failed; ``error`` is then why, per input and without secrets:
    :class:`~awspar.ServiceError` (AWS's ``code``, ``message``, ``status``, ``request_id``,
    ``attempts``/``retried``), :class:`~awspar.ParamValidationError` (the parameters do not fit
    the operation; nothing was sent) or a :class:`~awspar.TransportError` (no usable answer after
    the engine's retries). ``attempts`` counts HTTP attempts (every page's, retries and hedges
    included); ``elapsed`` is seconds from the first request to the result.
    """

    index: int
    params: Mapping[str, Any] | None = field(default=None, repr=False)
    response: dict[str, Any] | None = field(default=None, repr=False)
    error: BaseException | None = None
    attempts: int = 0
    elapsed: float = 0.0
    pages: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    def result(self) -> dict[str, Any]:
        """The response, or raise the error (as the boto3 call would have)."""
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response
