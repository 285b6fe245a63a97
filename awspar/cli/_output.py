"""Shared CLI plumbing: one-line errors with meaningful exit codes."""

from __future__ import annotations

import sys
from typing import NoReturn

# Exit codes: 0 all good; 1 some work failed (partial results); 2 bad input or configuration;
# 3 nothing could be reached or every call failed; 130 interrupted.
EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_INTERRUPTED = 130


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``awspar: <message>`` on stderr as one line and exit with ``code``."""
    print(f"awspar: {' '.join(str(message).split())}", file=sys.stderr)
    raise SystemExit(code)
