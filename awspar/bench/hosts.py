"""Where one task runs when it is not in this thread: a fresh subinterpreter, a spawned child.

Kept apart and light (standard library only at import) because a spawned child imports this module
before it can run anything: every import here is start-up time that the SUBPROCESS ways pay per
task.
"""

from __future__ import annotations

import marshal
import os
import sys
import time
from typing import Any

from awspar.bench.tasks import Mark, TaskSpec, one_line, run_task

__all__ = ["Hosted", "child_main", "in_subinterpreter"]

#: ``(asked, marks, gone, error)``: when the host was asked for, the task's marks, when the host
#: was gone again, and the task's error (one line) if it failed.
Hosted = tuple[float, list[Mark], float, str | None]


def in_subinterpreter(spec: TaskSpec) -> Hosted:
    """Create an isolated subinterpreter, run ``spec`` in it, destroy it.

    The marks come back through a pipe that this thread owns both ends of: the subinterpreter
    writes one small marshalled answer (far below the pipe's buffer) and this thread reads it once
    the interpreter is gone.
    """
    from awspar.engines._interp_pool import _Interpreter

    asked = time.perf_counter()
    read_fd, write_fd = os.pipe()
    try:
        try:
            interpreter = _Interpreter()
            try:
                crash = interpreter.run(
                    f"import sys\nsys.path[:] = {list(sys.path)!r}\n"
                    f"from awspar.bench.tasks import report_task\nreport_task({spec!r}, {write_fd})\n"
                )
            finally:
                interpreter.close()
        finally:
            os.close(write_fd)
        gone = time.perf_counter()
        answer = _read_all(read_fd)
    finally:
        os.close(read_fd)
    if crash is not None:
        return asked, [], gone, crash.strip().splitlines()[-1][:300]
    status, value = marshal.loads(answer)
    if status != "ok":
        return asked, [], gone, str(value)
    return asked, list(value), gone, None


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def child_main(spec: TaskSpec, conn: Any, inner_subinterpreter: bool) -> None:
    """A spawned child's body: run the task (in a subinterpreter of its own if asked) and send
    back ``("ok", marks)`` or ``("error", message)``. A subinterpreter's own start-up and exit
    come back as marks too."""
    try:
        if inner_subinterpreter:
            asked, marks, gone, error = in_subinterpreter(spec)
            if error is not None:
                conn.send(("error", error))
            else:
                begin = marks[0][1] if marks else gone
                conn.send(("ok", [("startup", asked, begin), *marks, ("exit", marks[-1][2] if marks else gone, gone)]))
        else:
            conn.send(("ok", run_task(spec)))
    except Exception as exc:  # noqa: BLE001 - the task's failure is its answer
        conn.send(("error", one_line(exc)))
    finally:
        conn.close()
