"""SIGTERM takes the path Ctrl-C takes: ``timeout 4 awspar s3-get ...`` cleans up as Ctrl-C does.

Python turns SIGINT into :class:`KeyboardInterrupt` and leaves SIGTERM to kill the process at
once, temporary files and all. :func:`terminate_as_interrupt` raises :class:`Terminated` (a
``KeyboardInterrupt``) instead, so every clean-up written for Ctrl-C runs for SIGTERM too; a
second SIGTERM during that clean-up is ignored (a second Ctrl-C still interrupts it).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["Terminated", "terminate_as_interrupt"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the clean-up runs once
    raise Terminated


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
