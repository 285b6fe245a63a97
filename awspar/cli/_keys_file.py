"""``--keys-from`` / ``--params-from``: the lines of a file (or standard input) as text, read lazily.

Read as bytes and decoded line by line, so that a file that is not UTF-8 (binary, Latin-1,
UTF-16) is one :class:`ConfigurationError` naming the line and the byte, and a UTF-8 byte order
mark (which Windows editors write) is not taken as the start of the first key.
"""

from __future__ import annotations

import codecs
import sys
from collections.abc import Callable, Iterator
from typing import BinaryIO

from awspar._errors import ConfigurationError

__all__ = ["count_keys", "key_lines"]


def key_lines(
    source: str, *, option: str = "--keys-from", kind: str = "keys files are UTF-8, one key a line"
) -> Iterator[str]:
    """The lines of the file ``source`` (``"-"``: standard input), line endings kept.

    The file is checked now (an ``OSError`` is the caller's to report) and read as the lines are
    consumed: a run that stops before it needs them leaves no file open. ``option`` and ``kind``
    name the option and the expected format in the error for a line that is not UTF-8.
    """
    if source == "-":
        return _decoded(lambda: sys.stdin.buffer, f"{option} standard input", kind, close=False)
    open(source, "rb").close()
    return _decoded(lambda: open(source, "rb"), f"{option} {source!r}", kind, close=True)


def count_keys(source: str) -> int | None:
    """How many keys the regular file ``source`` holds (its lines that are not blank), counted in
    one pass over its bytes without keeping them; ``None`` for standard input or a pipe, which
    can be read only once. For the progress bar's total and the choice of engine."""
    import os
    import stat

    if source == "-":
        return None
    try:
        if not stat.S_ISREG(os.stat(source).st_mode):
            return None
        with open(source, "rb") as stream:
            return sum(1 for line in stream if line.strip(b"\r\n") and line.strip(b"\r\n") != codecs.BOM_UTF8)
    except OSError:
        return None  # reading the keys says what is wrong


def _decoded(opener: Callable[[], BinaryIO], name: str, kind: str, *, close: bool) -> Iterator[str]:
    stream = opener()
    offset = 0  # of the line in the file, for the message
    try:
        for number, line in enumerate(stream, 1):
            start = len(codecs.BOM_UTF8) if number == 1 and line.startswith(codecs.BOM_UTF8) else 0
            try:
                yield line[start:].decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = line[start + exc.start]
                raise ConfigurationError(
                    f"{name}: line {number} is not UTF-8 text "
                    f"(byte 0x{bad:02x} at offset {offset + start + exc.start}); {kind}"
                ) from None
            offset += len(line)
    finally:
        if close:
            stream.close()
