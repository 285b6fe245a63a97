"""A Dask ``LocalCluster`` of worker processes, hosted in a child process with no AWS settings.

The ``dask`` engine starts one when it is given neither a client nor a scheduler address (a
try-out on one machine), and the tests and the benchmark use the same. The cluster runs inside a
child process whose environment has every ``AWS_*`` variable removed, so its nannies, and every
worker they start or restart, hold no credentials, profile or endpoint: only signed requests
reach them. The scheduler, its dashboard and the workers listen on 127.0.0.1 only (free ports).

The child prints the scheduler's address on its first line of output, then serves until its
standard input closes: :meth:`ClusterProcess.stop`, or the parent dying, shuts it down.

>>> with ClusterProcess(workers=2) as cluster:  # doctest: +SKIP
...     client = distributed.Client(cluster.address)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import IO, Self

__all__ = ["ClusterProcess", "environment_without_aws"]

_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 20.0
# The child's own logging: errors only (cancelled tasks and restarted workers log warnings that the
# engine already handles).
_LOG_LEVEL = "error"


def environment_without_aws(environ: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``environ`` (default ``os.environ``) with every ``AWS_*`` variable removed."""
    source = os.environ if environ is None else environ
    return {name: value for name, value in source.items() if not name.upper().startswith("AWS_")}


class ClusterProcess:
    """A ``LocalCluster`` (``workers`` processes of ``threads`` threads each) in a child process.

    ``address`` is the scheduler's ``tcp://127.0.0.1:PORT`` once :meth:`start` has returned.
    """

    def __init__(self, workers: int = 2, threads: int = 1, *, memory_limit: str = "auto") -> None:
        if workers < 1 or threads < 1:
            raise ValueError("a local cluster needs at least one worker of at least one thread")
        self.workers = workers
        self.threads = threads
        self.memory_limit = memory_limit
        self.address = ""
        self._child: subprocess.Popen[str] | None = None

    def start(self) -> Self:
        """Start the cluster and wait for its workers; returns once clients can connect."""
        if self._child is not None:
            raise RuntimeError("the cluster is already running")
        env = environment_without_aws()
        env.setdefault("DASK_LOGGING__DISTRIBUTED", _LOG_LEVEL)
        child = subprocess.Popen(
            [sys.executable, "-m", __name__, "--workers", str(self.workers), "--threads", str(self.threads),
             "--memory-limit", self.memory_limit],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
            # Its own session: a Ctrl-C at the terminal reaches the parent only, which stops the
            # cluster in order (else the scheduler and every worker print a KeyboardInterrupt
            # traceback, and die before the parent's clean-up can reach them).
            start_new_session=True,
        )
        self._child = child
        try:
            self.address = _read_address(child, _START_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Shut the cluster down (its workers first); safe to call twice."""
        child, self._child = self._child, None
        if child is None:
            return
        try:
            assert child.stdin is not None
            child.stdin.close()
        except OSError:
            pass
        try:
            child.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(_STOP_TIMEOUT)
        if child.stdout is not None:
            child.stdout.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ClusterProcess(workers={self.workers}, threads={self.threads}, address={self.address!r})"


def _read_address(child: subprocess.Popen[str], timeout: float) -> str:
    """The scheduler address the child prints first; a clear error if it dies or hangs instead."""
    import selectors

    stdout: IO[str] | None = child.stdout
    assert stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise RuntimeError(f"the local Dask cluster did not start within {timeout:g} s")
    line = stdout.readline().strip()
    if not line.startswith("tcp://"):
        code = child.poll()
        raise RuntimeError(f"the local Dask cluster failed to start (exit code {code}); see its output above")
    return line


def _serve(workers: int, threads: int, memory_limit: str) -> None:
    """Run the cluster until standard input closes."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=workers, threads_per_worker=threads, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0", memory_limit=memory_limit,
    ) as cluster:
        print(cluster.scheduler_address, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--memory-limit", default="auto")
    options = parser.parse_args()
    _serve(options.workers, options.threads, options.memory_limit)
