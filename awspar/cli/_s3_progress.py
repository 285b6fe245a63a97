"""The progress bar of ``awspar s3-get`` on a terminal: an objects row and a bytes row.

- objects: a bar, ``done/total`` and an ETA when the total is known (named keys, a keys file
  that was counted), else ``done, listing…`` with no bar to fill;
- bytes: how many have landed and at what rate (no total: sizes are learnt as the run goes);
- with ``--concurrency auto``, the objects row ends with the current limit and throttled share.

Each row has its own columns (rich's :class:`~rich.progress.Progress` draws one set of columns
for every task, hence one per row, in one :class:`~rich.live.Live` display).
"""

from __future__ import annotations

from typing import Any

__all__ = ["S3Progress"]


class S3Progress:
    """Both rows; :meth:`add_object` and :meth:`add_bytes` move them."""

    def __init__(self, total: int | None) -> None:
        from rich.console import Console, Group
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            FileSizeColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        console = Console(stderr=True)
        limit = TextColumn("{task.fields[limit]}")
        if total is not None:
            self._objects = Progress(TextColumn("objects"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                     TextColumn("ETA"), TimeRemainingColumn(), limit, console=console)
        else:
            self._objects = Progress(TextColumn("objects"), TextColumn("{task.completed} done, listing…"),
                                     TimeElapsedColumn(), limit, console=console)
        self._bytes = Progress(TextColumn("bytes  "), FileSizeColumn(), TransferSpeedColumn(), console=console)
        self._objects_task = self._objects.add_task("objects", total=total, limit="")
        self._bytes_task = self._bytes.add_task("bytes", total=None)
        self._live: Any = Live(Group(self._objects, self._bytes), console=console, transient=True,
                               refresh_per_second=10)

    def start(self) -> None:
        self._live.start()

    def stop(self) -> None:
        self._live.stop()

    def add_object(self) -> None:
        self._objects.advance(self._objects_task, 1)

    def show_limit(self, limit: int, throttled_share: float) -> None:
        """``--concurrency auto``: the limit now and the share of answers that were throttled."""
        self._objects.update(self._objects_task, limit=f"limit {limit}, {throttled_share:.0%} throttled")

    def add_bytes(self, nbytes: int) -> None:
        self._bytes.advance(self._bytes_task, nbytes)
