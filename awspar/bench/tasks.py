"""The unit of work every one of the seed's ways runs: one task, described as plain data.

A task is a :data:`TaskSpec`, ``(kind, args)`` with ``args`` a dict of plain values, so that it
crosses into a thread, a spawned process or a subinterpreter unchanged (a subinterpreter receives
it as its ``repr``). Running it gives :data:`Mark` s, ``(kind, start, end)`` on the
``time.perf_counter()`` clock, which is system-wide on Linux and macOS, so marks made in a child
process or a subinterpreter line up with the parent's.

Kinds:

- ``fib``: the CPU-bound recursive Fibonacci of ``args["n"]`` (one ``work`` mark);
- ``sleep``: ``time.sleep(args["seconds"])`` (one ``work`` mark);
- ``s3-get``: boto3 ``GetObject`` of ``args["bucket"]``/``args["key"]``, the body read whole;
- ``bedrock-invoke``: boto3 ``InvokeModel`` of ``args["model"]`` with the JSON ``args["body"]``.

The boto3 kinds make their own client unless one is given (a ``setup`` mark: importing boto3 and
building a session and client, as the seed did in each thread, process and subinterpreter), then
a ``request`` mark for the call. Their ``args`` name the endpoint and region; ``local=True`` means
awspar's local endpoints and their public test keys, otherwise boto3 finds the credentials as
usual. No secret is ever part of a spec.

Only the standard library is imported here: worker subinterpreters import this module.
"""

from __future__ import annotations

import marshal
import os
import time

TYPE_CHECKING = False  # not typing's: a fresh subinterpreter imports this module per task
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Mark", "TaskService", "TaskSpec", "boto3_client", "fibonacci", "one_line", "report_task", "run_task"]

#: ``(kind, start, end)``: one stretch of a task (``setup``, ``request``, ``work``...).
Mark = tuple[str, float, float]
#: ``(kind, args)``: one task as plain data.
TaskSpec = tuple[str, dict[str, "Any"]]

_SERVICES = {"s3-get": "s3", "bedrock-invoke": "bedrock-runtime"}


def fibonacci(n: int) -> int:
    """The n-th Fibonacci number, the slow recursive way: pure CPU under the GIL."""
    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)


def boto3_client(spec: TaskSpec) -> Any:
    """A fresh boto3 session and client for a boto3 task, as each thread of the seed made one."""
    import boto3

    kind, args = spec
    options: dict[str, Any] = {"region_name": args["region"]}
    if args.get("local"):
        from awspar.testing.credentials import TEST_CREDENTIALS

        options = {**TEST_CREDENTIALS.boto3_kwargs(), "region_name": args["region"]}
    session = boto3.Session(**options)
    return session.client(_SERVICES[kind], endpoint_url=args.get("endpoint_url"))


def _call(kind: str, client: Any, args: dict[str, Any]) -> int:
    """Make the boto3 call of a task; the number of body bytes received."""
    if kind == "s3-get":
        return len(client.get_object(Bucket=args["bucket"], Key=args["key"])["Body"].read())
    response = client.invoke_model(
        modelId=args["model"], body=args["body"], contentType="application/json", accept="application/json"
    )
    return len(response["body"].read())


def run_task(spec: TaskSpec, client: Any = None) -> list[Mark]:
    """Run one task here and now; its marks. Errors propagate to the caller."""
    kind, args = spec
    clock = time.perf_counter
    if kind == "fib":
        start = clock()
        fibonacci(int(args["n"]))
        return [("work", start, clock())]
    if kind == "sleep":
        start = clock()
        time.sleep(float(args["seconds"]))
        return [("work", start, clock())]
    if kind not in _SERVICES:
        raise ValueError(f"unknown task kind {kind!r}")
    marks: list[Mark] = []
    if client is None:
        start = clock()
        client = boto3_client(spec)
        marks.append(("setup", start, clock()))
    start = clock()
    _call(kind, client, args)
    marks.append(("request", start, clock()))
    return marks


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line, at most 300 characters."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]


def report_task(spec: TaskSpec, fd: int) -> None:
    """Run ``spec`` and write ``("ok", marks)`` or ``("error", "Type: message")``, marshalled (plain
    tuples, strings and floats; marshal is built in, pickle would cost an import per fresh
    subinterpreter), to the pipe ``fd`` (which its owner closes). How a subinterpreter hands its
    marks back."""
    try:
        result: tuple[str, Any] = ("ok", run_task(spec))
    except Exception as exc:  # noqa: BLE001 - the task's failure is its answer
        result = ("error", one_line(exc))
    data = memoryview(marshal.dumps(result))
    while data:
        data = data[os.write(fd, data):]


class TaskService:
    """What each worker of an awspar interpreter pool runs for the bench: one task per call.

    Built in the worker by :class:`awspar.engines._interp_pool.InterpreterPool` from
    ``"awspar.bench.tasks:TaskService"``; a task once started runs to its end.
    """

    def handle(self, payload: TaskSpec, cancellation: object) -> list[Mark]:
        return run_task(payload)

    def close(self) -> None:
        """Nothing to release: tasks hold no resources between calls."""
