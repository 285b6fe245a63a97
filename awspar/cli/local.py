"""``awspar local``: run awspar's local S3, Bedrock and DynamoDB-style endpoints until Ctrl-C.

It prints ``export`` lines (or ``--json``) that point any boto3 program, the AWS CLI or awspar at
them. The credentials it prints are awspar's fixed, public test keys
(:data:`awspar.testing.TEST_CREDENTIALS`): they open nothing but these local servers.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import sys
import time
from typing import Annotated, Any

import typer

from awspar.cli._output import EXIT_FAILED, fail, plural

__all__ = ["local_command", "parse_size", "register"]

_SIZE = re.compile(r"(?i)^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$")
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1000**3, "gib": 1024**3}


def register(app: typer.Typer) -> None:
    """Add ``awspar local`` to the app."""
    app.command("local")(local_command)


def parse_size(text: str) -> int:
    """``"1024"``, ``"4KiB"``, ``"1MB"``, ``"1G"`` -> bytes (K/M/G alone are binary)."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"size {text!r} is not a number of bytes such as 1024, 4KiB, 1MB or 1GiB")
    return int(match.group(1)) * _UNITS[(match.group(2) or "").lower()]


def local_command(
    objects: Annotated[int, typer.Option("--objects", min=0, help="Objects in the demo bucket, generated on the fly.")] = 1000,
    size: Annotated[str, typer.Option("--size", help="Bytes per object: 1024, 4KiB, 1MB, 1GiB ...")] = "1KiB",
    bucket: Annotated[str, typer.Option("--bucket", help="Name of the demo bucket (keys obj-000001 ...).")] = "demo",
    latency_ms: Annotated[
        float | None, typer.Option("--latency-ms", min=0, help="Fixed time to first byte/token, in ms (default: none).")
    ] = None,
    latency_dist: Annotated[
        str | None, typer.Option("--latency-dist", help="Latency distribution: fixed:MS or lognormal:MEDIAN_MS,SIGMA.")
    ] = None,
    faults: Annotated[
        str, typer.Option("--faults", help="Fault rates, e.g. slowdown=0.05,reset=0.01,truncate=0.01 "
                                           "(also internal, throttle, stall, stall_s, invalid_json).")
    ] = "",
    body_rate: Annotated[
        float | None, typer.Option("--body-rate", min=1, help="S3 body bytes per second (default: unlimited).")
    ] = None,
    tokens_per_s: Annotated[
        float | None, typer.Option("--tokens-per-s", min=0.1, help="Bedrock tokens per second (default: unlimited).")
    ] = None,
    quota: Annotated[
        str, typer.Option("--quota", help="Bedrock quota, e.g. concurrent=3,per_minute=60 (default: none).")
    ] = "",
    capacity: Annotated[
        str, typer.Option("--capacity", help="S3 capacity per prefix, e.g. rate=1500 (requests/s), burst=50 or "
                                             "concurrent=8; above it 503 SlowDown (default: none).")
    ] = "",
    bedrock_capacity: Annotated[
        str, typer.Option("--bedrock-capacity", help="Bedrock capacity per model id, e.g. concurrent=3 or rate=5; "
                                                     "above it 429 ThrottlingException (default: none).")
    ] = "",
    answer: Annotated[str, typer.Option("--answer", help="Bedrock answers: echo, json or words.")] = "echo",
    table: Annotated[
        str, typer.Option("--table", help="Name of the DynamoDB demo table (hash key pk: item-000001 ...).")
    ] = "demo",
    items: Annotated[int, typer.Option("--items", min=0, help="Items in the DynamoDB demo table, generated.")] = 1000,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Accept requests without checking signatures.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated objects, answers, latency and faults.")] = 0,
    port_s3: Annotated[int, typer.Option("--port-s3", min=0, max=65535, help="S3 port (default 0: a free one).")] = 0,
    port_bedrock: Annotated[
        int, typer.Option("--port-bedrock", min=0, max=65535, help="Bedrock runtime port (default 0: a free one).")
    ] = 0,
    port_dynamodb: Annotated[
        int, typer.Option("--port-dynamodb", min=0, max=65535, help="DynamoDB port (default 0: a free one).")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the environment as one JSON object.")] = False,
) -> None:
    """Run a local S3 endpoint, Bedrock runtime and DynamoDB-style endpoint (GetItem, PutItem,
    DeleteItem), with signature checks, until Ctrl-C.

    Prints the environment (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_BEDROCK_RUNTIME,
    AWS_ENDPOINT_URL_DYNAMODB, test credentials, region) as export lines for boto3 and awspar:
    copy them into another shell, or, in the same shell:

      awspar local > local.env &

      until [ -s local.env ]; do sleep 0.1; done; . ./local.env

    (eval "$(awspar local &)" never returns: the command substitution waits for the server to exit.)
    """
    try:
        from awspar.testing.bedrock_server import ANSWER_MODES
        from awspar.testing.capacity import parse_capacity
        from awspar.testing.faults import EndpointBehaviour, parse_faults, parse_latency, parse_quota
        from awspar.testing.object_server import GeneratedBucket

        if answer not in ANSWER_MODES:
            raise ValueError(f"--answer must be one of {', '.join(ANSWER_MODES)}, not {answer!r}")
        shared: dict[str, Any] = {
            "latency": parse_latency(latency_ms, latency_dist),
            "faults": parse_faults(faults),
            "seed": seed,
        }
        s3_behaviour = EndpointBehaviour(body_rate=body_rate, capacity=parse_capacity(capacity) if capacity else None,
                                         **shared)
        bedrock_behaviour = EndpointBehaviour(tokens_per_s=tokens_per_s, quota=parse_quota(quota) if quota else None,
                                              capacity=parse_capacity(bedrock_capacity) if bedrock_capacity else None,
                                              **shared)
        contents = GeneratedBucket(objects, parse_size(size), seed=seed)
        dynamodb_behaviour = EndpointBehaviour(**shared)
    except ImportError as exc:
        fail(f"awspar local needs the 'local' extra ({exc.name} is missing): pip install 'awspar[local]'")
    except ValueError as exc:
        fail(str(exc))
    from awspar.testing.dynamodb_server import DynamoDBServer

    dynamodb = DynamoDBServer(tables={table: "pk"}, generated={table: items}, behaviour=dynamodb_behaviour,
                              verify=not no_verify, port=port_dynamodb)
    _serve(bucket, contents, s3_behaviour, bedrock_behaviour, answer, not no_verify, port_s3, port_bedrock, as_json,
           dynamodb, f"table {table!r}: {plural(items, 'item')}")


def _serve(bucket: str, contents: Any, s3_behaviour: Any, bedrock_behaviour: Any, answer: str, verify: bool,
           port_s3: int, port_bedrock: int, as_json: bool, dynamodb: Any, table: str) -> None:
    from awspar.testing.bedrock_server import BedrockServer
    from awspar.testing.environment import local_env
    from awspar.testing.object_server import ObjectServer

    stopping: list[int] = []  # a plain list: a signal handler must not take a lock the main thread may hold
    previous = {sig: signal.signal(sig, lambda signum, _frame: stopping.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    s3 = ObjectServer({bucket: contents}, behaviour=s3_behaviour, verify=verify, port=port_s3)
    bedrock = BedrockServer(answer=answer, behaviour=bedrock_behaviour, verify=verify, port=port_bedrock)
    try:
        try:
            s3.start()
            bedrock.start()
            dynamodb.start()
        except OSError as exc:
            fail(str(exc), EXIT_FAILED)
        env = local_env(s3.url, bedrock.url, dynamodb_url=dynamodb.url)
        if as_json:
            print(json.dumps(env))
        else:
            for name, value in env.items():
                print(f"export {name}={shlex.quote(value)}")
        sys.stdout.flush()
        print(f"awspar local: S3 at {s3.url} (bucket {bucket!r}: {plural(contents.count, 'object')} of {plural(contents.size, 'byte')}), "
              f"Bedrock runtime at {bedrock.url}, DynamoDB at {dynamodb.url} ({table}); signatures {'checked' if verify else 'NOT checked'}. "
              "Ctrl-C to stop.", file=sys.stderr, flush=True)
        while not stopping:
            time.sleep(0.1)
    finally:
        dynamodb.stop()
        bedrock.stop()
        s3.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("awspar local: stopped.", file=sys.stderr, flush=True)
