"""Run a Lambda handler on your machine the way Lambda does, to try it before deploying.

Lambda imports the handler's module once per execution environment (the cold start) and then calls
``handler(event, context)`` for each invocation (warm). This does the same: it imports
``MODULE`` (from this directory unless ``--path`` says where), calls ``MODULE.handler`` ``--times``
times with the event, and prints one JSON line per invocation: the handler's answer, its wall
time, and the id of each awspar object the module holds at top level, which stays the same from
one invocation to the next when the signer and the engine are reused, as they should be::

    export AWS_ENDPOINT_URL_S3=http://127.0.0.1:9000     # e.g. from `awspar local`
    python examples/invoke_locally.py lambda_s3_fanout.handler '{"bucket": "demo", "prefix": ""}' --times 2

The first line also says how long the import (the cold start's init) took. A handler that raises
prints ``{"error": ...}`` and the exit code is 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any


class LocalContext:
    """The parts of Lambda's context object handlers commonly read."""

    def __init__(self, function_name: str, timeout_s: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"))
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def awspar_objects(module: Any) -> dict[str, int]:
    """``{name: id}`` of the module's top-level objects whose class comes from awspar."""
    return {
        name: id(value) for name, value in vars(module).items()
        if not name.startswith("__") and type(value).__module__.startswith("awspar.")
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("handler", help="MODULE.FUNCTION, as in the template's Handler (e.g. lambda_s3_fanout.handler)")
    parser.add_argument("event", help="the event as JSON, or @FILE to read it from a file")
    parser.add_argument("--times", type=int, default=1, help="invocations in a row (default 1)")
    parser.add_argument("--path", action="append", default=[],
                        help="directory to import from, before the others (repeatable; default: this one)")
    parser.add_argument("--timeout", type=float, default=120.0, help="the context's time limit, seconds (default 120)")
    args = parser.parse_args(argv)

    text = Path(args.event[1:]).read_text(encoding="utf-8") if args.event.startswith("@") else args.event
    event = json.loads(text)
    module_name, _, function_name = args.handler.rpartition(".")
    sys.path[:0] = args.path or [os.path.dirname(os.path.abspath(__file__))]

    began = time.perf_counter()
    module = importlib.import_module(module_name)
    init_s = time.perf_counter() - began
    handler = getattr(module, function_name)
    status = 0
    for invocation in range(1, args.times + 1):
        line: dict[str, Any] = {"invocation": invocation}
        if invocation == 1:
            line["init_s"] = round(init_s, 4)
        began = time.perf_counter()
        try:
            line["result"] = handler(event, LocalContext(module_name, args.timeout))
        except Exception as exc:  # noqa: BLE001 - reported as Lambda reports an invocation's error
            line["error"] = {"type": type(exc).__name__, "message": str(exc)}
            status = 1
        line["seconds"] = round(time.perf_counter() - began, 4)
        line["awspar_objects"] = awspar_objects(module)
        print(json.dumps(line, default=str), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
