"""Where an S3 key lands inside an output directory, and never anywhere else.

The policy is **refuse, don't escape**: a key that cannot be written as a plain relative path
is reported as failed with its own error code, and nothing is written for it. Escaping (say,
``..`` -> ``%2E%2E``) would invent file names that match no key and could collide with real ones;
refusing keeps the mapping obvious and one-to-one. The rules, checked per ``/``-separated
segment of the key:

- empty and ``.`` segments are dropped, as ``aws s3 cp`` and ``os.path.join`` do: ``a//b`` and
  ``./a/b`` land at ``a/b`` (a run that holds both ``a//b`` and ``a/b`` writes one of them and
  reports the other as ``FileExists`` unless overwriting is asked for);
- a ``..`` segment anywhere refuses the key (``UnsafeKey``), even ``a/../b`` that would stay
  inside: it would silently alias the key ``b``;
- a leading ``/`` (``/abs``) refuses the key (``UnsafeKey``): it names an absolute path;
- a NUL character refuses the key (``UnsafeKey``): no POSIX file name can hold it;
- a segment longer than the file system allows (255 bytes in UTF-8 on Linux) refuses the key
  (``KeyNameTooLong``);
- a key ending in ``/`` is a "folder marker" (an empty object the console makes for a folder):
  it is skipped, not written, and reported as skipped.

Backslashes, colons and names like ``CON`` are ordinary characters on Linux and macOS and are
kept as they are. Finally the parent directory is resolved (symlinks followed) after it is
created and must still lie inside the output directory (``UnsafeKey`` otherwise), so a symlink
planted in the output directory cannot redirect a write outside it.
"""

from __future__ import annotations

import os

from awspar._errors import AwsparError

__all__ = ["KeyPathError", "is_folder_marker", "key_to_path", "key_to_relpath", "prepare_parent"]

# The longest file name component; 255 bytes on every common Linux and macOS file system.
_NAME_MAX = 255


class KeyPathError(AwsparError):
    """A key that cannot be written inside the output directory.

    ``code`` is ``"UnsafeKey"``, ``"KeyNameTooLong"`` or ``"PathConflict"``; ``key`` is the key.
    """

    code: str = "UnsafeKey"
    key: str = ""


def _refuse(key: str, code: str, why: str) -> KeyPathError:
    return KeyPathError(f"{code}: key {key!r} {why}", code=code, key=key)


def is_folder_marker(key: str) -> bool:
    """True for keys ending in ``/``: empty "folder" objects, skipped when writing to a directory."""
    return key.endswith("/")


def key_to_relpath(key: str, *, name_max: int = _NAME_MAX) -> str:
    """The relative path (``/``-joined segments) that ``key`` maps to, or :class:`KeyPathError`.

    >>> key_to_relpath("logs//2026/./a.txt")
    'logs/2026/a.txt'
    """
    if "\0" in key:
        raise _refuse(key, "UnsafeKey", "contains a NUL character")
    if key.startswith("/"):
        raise _refuse(key, "UnsafeKey", "is absolute (starts with '/')")
    segments = [s for s in key.split("/") if s not in ("", ".")]
    if ".." in segments:
        raise _refuse(key, "UnsafeKey", "has a '..' segment and could write outside the output directory")
    if not segments:
        raise _refuse(key, "UnsafeKey", "names no file")
    for segment in segments:
        if len(os.fsencode(segment)) > name_max:
            raise _refuse(key, "KeyNameTooLong", f"has a path segment longer than {name_max} bytes")
    return "/".join(segments)


def key_to_path(out_dir: str, key: str) -> str:
    """The absolute file path for ``key`` under ``out_dir`` (lexically checked, not yet resolved)."""
    base = os.path.abspath(out_dir)
    path = os.path.join(base, *key_to_relpath(key).split("/"))
    if os.path.commonpath([base, path]) != base:  # unreachable given the rules; kept as the last guard
        raise _refuse(key, "UnsafeKey", "would write outside the output directory")
    return path


def prepare_parent(out_dir_real: str, path: str, key: str) -> None:
    """Create ``path``'s parent directories and check, symlinks resolved, that they lie in
    ``out_dir_real`` (the output directory, already passed through :func:`os.path.realpath`).

    A key whose directory is already a file (``a`` then ``a/b``) raises ``PathConflict``.
    """
    parent = os.path.dirname(path)
    existing = parent
    while not os.path.isdir(existing) and existing != os.path.dirname(existing):
        existing = os.path.dirname(existing)
    _check_inside(out_dir_real, existing, key)  # before creating anything through a symlink
    try:
        os.makedirs(parent, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise _refuse(key, "PathConflict", "needs a directory where a file already exists") from None
    _check_inside(out_dir_real, parent, key)


def _check_inside(out_dir_real: str, directory: str, key: str) -> None:
    if os.path.commonpath([out_dir_real, os.path.realpath(directory)]) != out_dir_real:
        raise _refuse(key, "UnsafeKey", "resolves (through a symlink) outside the output directory")
