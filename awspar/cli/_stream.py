"""Checked writes to standard output or standard error: all the bytes, or an :class:`OSError`.

``BufferedWriter.write`` may take fewer bytes than it was given without raising (a pipe whose
reader went away after 64 KiB: ``| head -c 100``), and a full disk raises only at a later flush:
a command that wrote with ``sys.stdout.buffer.write`` and carried on could report success over a
short output. :class:`CheckedStream` writes until every byte is taken, flushes, and raises
instead; once it has failed, the stream is pointed at ``/dev/null`` so that the interpreter's own
flush at exit prints no second error about the same closed pipe.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import BinaryIO

__all__ = ["CheckedStream"]


class CheckedStream:
    """A binary stream (``sys.stdout.buffer`` by default) written only in full; see the module docstring."""

    def __init__(self, stream: BinaryIO | None = None, *, name: str = "standard output") -> None:
        self._stream = stream if stream is not None else sys.stdout.buffer
        self.name = name
        self.failed: OSError | None = None

    def write(self, data: bytes | str) -> None:
        """Write all of ``data`` (text as UTF-8) and flush; :class:`OSError` if not all of it went out."""
        if self.failed is not None:
            raise self.failed
        view = memoryview(data.encode() if isinstance(data, str) else data)
        try:
            while view:
                taken = self._stream.write(view)
                if not taken:
                    raise OSError(errno.ENOSPC, f"short write to {self.name}")
                view = view[taken:]
            self._stream.flush()
        except OSError as exc:
            self.failed = exc
            self._silence()
            raise

    def describe(self) -> str:
        """One line for the failure: ``standard output: Broken pipe``."""
        exc = self.failed
        return f"{self.name}: {exc.strerror or exc}" if exc is not None else ""

    def _silence(self) -> None:
        try:
            fileno = self._stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a file (a test's buffer)
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fileno)
        finally:
            os.close(devnull)
