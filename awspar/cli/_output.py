"""Shared CLI plumbing: one-line errors with meaningful exit codes, and ``--debug``."""

from __future__ import annotations

import logging
import sys
import traceback
from typing import NoReturn

import click

from awspar._errors import AwsparError, ConfigurationError

# Exit codes: 0 all good; 1 some work failed (partial results); 2 bad input or configuration;
# 3 nothing could be reached or every call failed; 130 interrupted; 143 terminated (SIGTERM).
EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process that SIGTERM ended

_DEBUG = "awspar.debug"  # the key in click's context meta


def plural(count: int, noun: str) -> str:
    """``1 object``, ``2 objects``: a count and its noun, agreed."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def fail(message: str, code: int = EXIT_USAGE, context: click.Context | None = None) -> NoReturn:
    """Print ``awspar: <message>`` on stderr as one line and exit with ``code``; with ``--debug``
    (in ``context``, by default the current one), the traceback of the error being handled first."""
    context = context or click.get_current_context(silent=True)
    if context is not None and context.meta.get(_DEBUG) and sys.exc_info()[1] is not None:
        traceback.print_exc()
    print(f"awspar: {' '.join(str(message).split())}", file=sys.stderr)
    raise SystemExit(code)


def fail_for(exc: AwsparError, context: click.Context) -> NoReturn:
    """The one mapping of a library error that no command handled to its line and exit code:
    bad input or configuration (a :class:`ConfigurationError`) is 2, anything else 3."""
    fail(str(exc), EXIT_USAGE if isinstance(exc, ConfigurationError) else EXIT_FAILED, context)


def start_debugging(context: click.Context) -> None:
    """``--debug``: tracebacks with errors, and every log record at DEBUG on stderr, with
    signatures and session tokens redacted; undone when ``context`` closes."""
    from awspar import _log_redact

    _log_redact.install()
    context.meta[_DEBUG] = True
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s [%(levelname)s] %(message)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)

    def stop() -> None:
        root.removeHandler(handler)
        root.setLevel(level)

    context.call_on_close(stop)
