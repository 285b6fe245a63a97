"""What :func:`awspar.s3.put_objects` uploads: files, directories walked lazily, or (key, bytes).

:func:`sources` turns the caller's argument into :class:`Source` s, one at a time:

- a path to a file: one object, keyed by the file's name;
- a path to a directory: every regular file under it, walked lazily (one directory listing in
  memory at a time, names in sorted order), keyed by the path relative to the directory with
  ``/`` separators; symbolic links to directories are not followed (no loops), links to files
  are uploaded as the file they point to;
- a ``(key, bytes)`` pair: one object with those bytes;
- any iterable mixing these (a single ``str``/``PathLike`` or pair counts as one).

``prefix`` goes in front of every key. A file is never read whole here: :meth:`Source.read`
reads the bytes of one part (``os.pread``), when they are about to be sent.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Source", "SourceError", "sources"]


class SourceError(Exception):
    """A source that cannot be uploaded (missing file, unreadable directory): ``code`` and a message."""

    def __init__(self, name: str, code: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Source:
    """One object to upload: its key and either a file (``path``, ``size`` bytes) or ``data``."""

    key: str
    size: int
    path: str | None = None
    data: bytes | None = None

    def read(self, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes ``[offset, offset + length)`` (to the end without ``length``), from the file as it is now."""
        length = self.size - offset if length is None else length
        if self.data is not None:
            return self.data[offset:offset + length]
        assert self.path is not None
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            chunks = []
            while length > 0:
                chunk = os.pread(fd, length, offset)
                if not chunk:
                    break
                chunks.append(chunk)
                offset += len(chunk)
                length -= len(chunk)
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        finally:
            os.close(fd)


def sources(items: Any, prefix: str = "") -> Iterator[Source | SourceError]:
    """Every :class:`Source` of ``items`` (see the module docstring), lazily; a
    :class:`SourceError` in place of one that cannot be read, so the others still go."""
    for item in _items(items):
        if isinstance(item, tuple):
            key, data = item
            if not isinstance(key, str) or not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError("a (key, bytes) source needs a str key and bytes")
            yield Source(prefix + key, len(data), data=bytes(data))
            continue
        path = os.fspath(item)
        try:
            info = os.stat(path)
        except OSError as exc:
            yield SourceError(path, "LocalFileError", f"{path}: {exc.strerror or exc}")
            continue
        if os.path.isdir(path):
            yield from _walk(path, path, prefix)
        else:
            yield Source(prefix + os.path.basename(os.path.normpath(path)), info.st_size, path=path)


def _items(items: Any) -> Iterable[Any]:
    if isinstance(items, (str, os.PathLike)) or (isinstance(items, tuple) and len(items) == 2
                                                 and isinstance(items[0], str)
                                                 and isinstance(items[1], (bytes, bytearray, memoryview))):
        return (items,)
    return items


def _walk(root: str, directory: str, prefix: str) -> Iterator[Source | SourceError]:
    try:
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError as exc:
        yield SourceError(directory, "LocalFileError", f"{directory}: {exc.strerror or exc}")
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(root, entry.path, prefix)
                continue
            if not entry.is_file():  # sockets, devices, links to directories or to nothing
                continue
            size = entry.stat().st_size
        except OSError as exc:
            yield SourceError(entry.path, "LocalFileError", f"{entry.path}: {exc.strerror or exc}")
            continue
        relative = os.path.relpath(entry.path, root)
        yield Source(prefix + relative.replace(os.sep, "/"), size, path=entry.path)
