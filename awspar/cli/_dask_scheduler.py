"""``--scheduler ADDRESS``: which Dask scheduler ``--mode dask`` sends from, for one command.

The address goes into Dask's own ``scheduler-address`` setting for the duration of the command,
which is where the ``dask`` engine looks when it is given no client: so the library call the
command makes stays the same as for every other engine (and keeps its re-signing). Without
``--scheduler`` the engine honours ``DASK_SCHEDULER_ADDRESS``, else starts a local cluster.
"""

from __future__ import annotations

import contextlib
import importlib.util
from typing import Any

from awspar.cli._output import fail

__all__ = ["SCHEDULER_HELP", "dask_scheduler"]

SCHEDULER_HELP = (
    "With --mode dask: the Dask scheduler to send from, e.g. tcp://10.0.0.5:8786 (default: "
    "DASK_SCHEDULER_ADDRESS, else a local cluster of worker processes started for this run)."
)


def dask_scheduler(mode: str | None, scheduler: str | None) -> contextlib.AbstractContextManager[Any]:
    """A context in which the ``dask`` engine connects to ``scheduler``; one-line error when
    ``--scheduler`` comes without ``--mode dask``, or ``--mode dask`` without Dask installed."""
    if mode == "dask" and importlib.util.find_spec("distributed") is None:
        fail("--mode dask needs Dask's distributed scheduler: pip install 'awspar[dask]'")
    if scheduler is None:
        return contextlib.nullcontext()
    if mode != "dask":
        fail("--scheduler goes with --mode dask")
    if not scheduler.strip():
        fail("--scheduler needs an address, e.g. tcp://10.0.0.5:8786")
    import dask

    return dask.config.set({"scheduler-address": scheduler.strip()})
