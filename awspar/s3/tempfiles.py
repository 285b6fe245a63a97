"""The temporary files a fetch writes beside its targets, and the stale ones a new run removes.

A file is fetched into ``.awspar-<pid>-<host>-<random>.tmp`` in its target's directory and
renamed onto the target once verified; every way out of a run that Python sees (an error,
Ctrl-C, SIGTERM in the CLI) removes what it made. What a run killed outright (SIGKILL, a lost
machine) leaves behind is removed by the next run that writes into the same directory
(:class:`StaleSweep`): a file whose ``<host>`` is this machine and whose ``<pid>`` is no live
process. A file named by another machine (a directory shared by runs on several hosts) is left
alone, as is one of a process that is still running (a concurrent run).
"""

from __future__ import annotations

import hashlib
import os
import socket

__all__ = ["TEMP_PREFIX", "StaleSweep", "temp_name"]

#: The temporary files' names start with this (then the process id).
TEMP_PREFIX = ".awspar-"
_SUFFIX = ".tmp"
#: This machine, as it appears in the names (8 hex digits of its host name's hash).
HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def temp_name() -> str:
    """A fresh temporary file name for this process: ``.awspar-<pid>-<host>-<random>.tmp``."""
    return f"{TEMP_PREFIX}{os.getpid()}-{HOST_TAG}-{os.urandom(6).hex()}{_SUFFIX}"


def stale_owner(name: str) -> int | None:
    """The process id of this machine that named ``name``, when it is one of ours and that
    process is gone; else ``None`` (not a temporary file, another host's, or still live)."""
    if not (name.startswith(TEMP_PREFIX) and name.endswith(_SUFFIX)):
        return None
    fields = name[len(TEMP_PREFIX):-len(_SUFFIX)].split("-")
    if len(fields) == 3 and fields[1] != HOST_TAG:
        return None  # named on another machine: its process cannot be looked up here
    if len(fields) not in (2, 3) or not fields[0].isdigit():  # 2: the names before the host tag
        return None
    pid = int(fields[0])
    return pid if pid != os.getpid() and not _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class StaleSweep:
    """Removes the stale temporary files of each directory a run writes into, once per directory
    (one ``scandir`` of it: the cost is the directory's size, paid at its first file)."""

    def __init__(self) -> None:
        self._swept: set[str] = set()
        self.removed = 0

    def sweep(self, directory: str) -> None:
        if directory in self._swept:
            return
        self._swept.add(directory)
        try:
            with os.scandir(directory) as entries:
                stale = [entry.path for entry in entries
                         if entry.name.startswith(TEMP_PREFIX) and stale_owner(entry.name) is not None]
        except OSError:
            return
        for path in stale:
            try:
                os.unlink(path)
            except OSError:
                continue
            self.removed += 1
