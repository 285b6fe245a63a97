"""The four workloads of the seed's experiment, each with its modes and what it needs to run.

- ``cpu``: N Fibonacci computations (pure CPU, holds the GIL);
- ``sleep``: N ``sleep(s)`` (pure waiting);
- ``s3``: GetObject of N objects of S bytes (offline: awspar's local S3 endpoint in a child
  process, with the injected time to first byte; on AWS: ``--bucket``);
- ``bedrock``: N InvokeModel calls of one prompt, kept all or raced (offline: awspar's Bedrock
  simulator with log-normal latency; on AWS: ``--region`` and ``--model``).

A workload is opened once per benchmark (endpoints started, a signer made, outside every clock)
and closed at the end; its context hands each mode what it needs.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from awspar._config import EngineConfig
from awspar._errors import ConfigurationError
from awspar.bench.modes import Mode, PoolRun, Prepared, module_missing, needs_313, seed_modes
from awspar.bench.records import TaskRecord, records_from_spans
from awspar.bench.settings import BenchSettings, WorkloadParams
from awspar.bench.tasks import TaskSpec, boto3_client, one_line

__all__ = ["WORKLOADS", "Context", "Workload", "modes_of"]

ENGINES = ("sequential", "threads", "async", "subinterpreters", "processes")
_ENGINE_MISSING: dict[str, Callable[[], str | None]] = {
    "async": module_missing("aiohttp", "async"),
    "subinterpreters": needs_313,
}
_BUCKET = "awspar-bench"
_PROMPT = "Summarise in one sentence why signing once and sending in parallel is faster."


class Context:
    """What the modes of one workload share for the whole benchmark."""

    def __init__(self, settings: BenchSettings, name: str) -> None:
        self.settings = settings
        self.params: WorkloadParams = settings.params(name)
        self.n = self.params.n
        self.concurrency = settings.concurrency_for(name)
        self.specs: list[TaskSpec] = []

    def describe(self) -> dict[str, Any]:
        """The parameters worth printing and keeping (chart titles, JSON)."""
        return {"n": self.n}

    def before_run(self, round_number: int) -> None:
        """Called before each timed run (a random latency is re-seeded per round here)."""

    def close(self) -> None:
        """Stop whatever :meth:`open` started."""


class CpuContext(Context):
    def __init__(self, settings: BenchSettings) -> None:
        super().__init__(settings, "cpu")
        self.specs = [("fib", {"n": self.params.fib})] * self.n

    def describe(self) -> dict[str, Any]:
        return {"n": self.n, "fib": self.params.fib}


class SleepContext(Context):
    def __init__(self, settings: BenchSettings) -> None:
        super().__init__(settings, "sleep")
        self.specs = [("sleep", {"seconds": self.params.sleep_s})] * self.n

    def describe(self) -> dict[str, Any]:
        return {"n": self.n, "sleep_s": self.params.sleep_s}


class AwsContext(Context):
    """An I/O workload: where to send (a local endpoint or AWS), as whom, and a signer."""

    service = ""

    def __init__(self, settings: BenchSettings, name: str) -> None:
        super().__init__(settings, name)
        self.server: Any = None
        self.local = not settings.on_aws
        self.endpoint_url: str | None = None
        self.region = settings.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        self.signer: Any = None

    def serve(self, server: Any) -> None:
        """Start a local endpoint with this workload's latency; a random latency keeps the server
        in this process, re-seeded before every run so every mode of a round meets the same draws."""
        from awspar.testing.credentials import TEST_REGION

        self.server = server.start()
        self.endpoint_url = server.url
        self.region = TEST_REGION

    def make_signer(self) -> None:
        from awspar.signer import Signer

        self.signer = Signer(self.service, session=self.boto3_session(), region=self.region,
                             endpoint_url=self.endpoint_url)

    def boto3_session(self) -> Any:
        import boto3

        if self.local:
            from awspar.testing.credentials import TEST_CREDENTIALS

            return boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())
        return boto3.Session(region_name=self.region)

    def target(self) -> dict[str, Any]:
        """The plain-data part of every boto3 task: endpoint, region, local test keys or not."""
        return {"endpoint_url": self.endpoint_url, "region": self.region, "local": self.local}

    def make_engine(self, kind: str, resign: Any = None) -> Any:
        """An awspar engine of ``kind`` at this workload's concurrency, its workers started."""
        from awspar.engines import get_engine

        options: dict[str, Any] = {}
        if kind == "boto3":
            options = {"session": self.boto3_session(), "endpoint_url": self.endpoint_url}
        engine = get_engine(kind, EngineConfig(concurrency=self.concurrency), resign=resign, **options)
        start = getattr(engine, "start", None)
        if callable(start):
            start()
        return engine

    def before_run(self, round_number: int) -> None:
        behaviour = getattr(self.server, "behaviour", None)
        if behaviour is not None and behaviour.latency.sigma > 0 and not self.server.process:
            self.server.configure(dataclasses.replace(behaviour, seed=round_number))

    def describe(self) -> dict[str, Any]:
        latency = self.params.latency
        where = "aws" if not self.local else ("local, server in a child process" if self.server.process
                                             else "local, server in this process")
        return {"n": self.n, "concurrency": self.concurrency, "target": where,
                "latency_ms": None if not self.local else latency.median_ms,
                "latency_sigma": None if not self.local else latency.sigma}

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


class S3Context(AwsContext):
    service = "s3"

    def __init__(self, settings: BenchSettings) -> None:
        super().__init__(settings, "s3")
        if self.local:
            from awspar.testing.faults import EndpointBehaviour
            from awspar.testing.object_server import GeneratedBucket, ObjectServer

            generated = GeneratedBucket(self.n, self.params.size)
            self.bucket = _BUCKET
            self.keys = list(generated.keys())
            latency = self.params.latency
            self.serve(ObjectServer({self.bucket: generated}, behaviour=EndpointBehaviour(latency=latency),
                                    process=latency.sigma == 0))
        else:
            if settings.bucket is None:
                raise ConfigurationError("the s3 workload on AWS needs --bucket (objects written by infra/seed_bucket.py)")
            self.bucket = settings.bucket
            self.keys = [f"{settings.prefix}{i:06d}.bin" for i in range(self.n)]
        self.index = {key: i for i, key in enumerate(self.keys)}
        self.make_signer()
        target = self.target()
        self.specs = [("s3-get", {"bucket": self.bucket, "key": key, **target}) for key in self.keys]

    def describe(self) -> dict[str, Any]:
        size = self.params.size if self.local else None
        return {**super().describe(), "size": size, "bucket": None if self.local else self.bucket}


class S3EngineRun:
    """awspar's S3 front-end (:func:`awspar.s3.get_objects`, presigned GETs, verified) on a
    ready engine; ``boto3`` is the baseline engine (one shared client in a thread pool)."""

    def __init__(self, context: S3Context, kind: str) -> None:
        self.context = context
        self.engine = context.make_engine(kind, resign=context.signer.resign)

    def run(self) -> list[TaskRecord]:
        from awspar.s3 import get_objects

        context = self.context
        records = {}
        for result in get_objects(context.bucket, context.keys, engine=self.engine, signer=context.signer):
            index = context.index[result.key]
            error = None if result.ok else f"{result.error_code}: {result.error}"
            records[index] = records_from_spans(index, result.spans, error)
        return [records[i] for i in sorted(records)]

    def close(self) -> None:
        self.engine.close()


class AiobotocoreRun:
    """aiobotocore's ``get_object`` for every key in asyncio tasks, one client made before the
    clock on an event loop of its own (a peer: only when installed)."""

    def __init__(self, context: S3Context) -> None:
        import asyncio
        import contextlib

        from aiobotocore.session import get_session

        self.context = context
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.AsyncExitStack()
        options = self.context.boto3_session().get_credentials().get_frozen_credentials()
        maker = get_session().create_client(
            "s3", region_name=context.region, endpoint_url=context.endpoint_url,
            aws_access_key_id=options.access_key, aws_secret_access_key=options.secret_key,
            aws_session_token=options.token,
        )
        self.client = self.loop.run_until_complete(self.stack.enter_async_context(maker))

    def run(self) -> list[TaskRecord]:
        import asyncio

        async def get(key: str) -> None:
            response = await self.client.get_object(Bucket=self.context.bucket, Key=key)
            async with response["Body"] as body:
                await body.read()

        async def everything() -> list[TaskRecord]:
            return list(await asyncio.gather(*(_timed(i, get(k)) for i, k in enumerate(self.context.keys))))

        return self.loop.run_until_complete(everything())

    def close(self) -> None:
        self.loop.run_until_complete(self.stack.aclose())
        self.loop.close()


class ObstoreRun:
    """obstore's ``get_async`` (a Rust S3 client on tokio, signing each request itself) for every
    key, from ``concurrency`` asyncio workers on an event loop of its own; the store is made before
    the clock (a peer: only when installed)."""

    def __init__(self, context: S3Context) -> None:
        import asyncio

        from obstore.store import S3Store

        self.context = context
        self.loop = asyncio.new_event_loop()
        credentials = context.boto3_session().get_credentials().get_frozen_credentials()
        options: dict[str, Any] = {"access_key_id": credentials.access_key,
                                   "secret_access_key": credentials.secret_key}
        if credentials.token is not None:
            options["session_token"] = credentials.token
        if context.region:
            options["region"] = context.region
        if context.local:  # awspar's endpoint: plain HTTP, the bucket in the path
            options.update(endpoint=context.endpoint_url, virtual_hosted_style_request=False)
        self.store = S3Store(context.bucket, client_options={"allow_http": context.local}, **options)

    def run(self) -> list[TaskRecord]:
        import asyncio

        import obstore

        keys = self.context.keys
        records: dict[int, TaskRecord] = {}
        pending = iter(enumerate(keys))

        async def get(key: str) -> None:
            result = await obstore.get_async(self.store, key)  # raises on an error status
            await result.bytes_async()

        async def worker() -> None:
            for index, key in pending:
                records[index] = await _timed(index, get(key))

        async def everything() -> None:
            await asyncio.gather(*(worker() for _ in range(self.context.concurrency)))

        self.loop.run_until_complete(everything())
        return [records[i] for i in range(len(keys))]

    def close(self) -> None:
        self.loop.close()


async def _timed(index: int, request: Awaitable[None]) -> TaskRecord:
    """Await one peer's request as task ``index``: one ``request`` segment, or an ``error`` one
    with the failure kept in the record."""
    import time

    from awspar.bench.records import Segment

    start = time.perf_counter()
    try:
        await request
    except Exception as exc:  # noqa: BLE001 - one task's failure, kept in its record
        return TaskRecord(index, (Segment("error", start, time.perf_counter()),), one_line(exc))
    return TaskRecord(index, (Segment("request", start, time.perf_counter()),))


class BedrockContext(AwsContext):
    service = "bedrock-runtime"

    def __init__(self, settings: BenchSettings) -> None:
        super().__init__(settings, "bedrock")
        from awspar.bedrock import DEFAULT_MODEL
        from awspar.bedrock.bodies import Generation, request_params

        self.model = settings.model or DEFAULT_MODEL
        if self.local:
            from awspar.testing.bedrock_server import BedrockServer
            from awspar.testing.faults import EndpointBehaviour

            latency = self.params.latency
            self.serve(BedrockServer(behaviour=EndpointBehaviour(latency=latency), process=latency.sigma == 0))
        elif not self.region:
            raise ConfigurationError("the bedrock workload on AWS needs --region (or AWS_REGION)")
        self.make_signer()
        self.call = request_params("invoke", self.model, _PROMPT, Generation(max_tokens=64))
        body = self.call["body"]
        self.specs = [("bedrock-invoke", {"model": self.model, "body": body, **self.target()})] * self.n

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "model": self.model}


def _raw_error(raw: Any) -> str | None:
    if raw.ok:
        return None
    return one_line(raw.error) if raw.error is not None else f"HTTP {raw.status}"


class BedrockEngineRun:
    """N InvokeModel calls signed by awspar (inside the clock), sent by an engine: all kept
    (``map``) or raced (the first answer wins, the others are cancelled)."""

    def __init__(self, context: BedrockContext, kind: str, race: bool) -> None:
        self.context, self.kind, self.race = context, kind, race
        self.engine = context.make_engine(kind)

    def run(self) -> list[TaskRecord]:
        context = self.context
        request = context.signer.sign("InvokeModel", context.call)
        if self.kind == "boto3":  # the baseline calls boto3 itself, from the parameters
            request = dataclasses.replace(request, params=context.call)
        requests = [request] * context.n
        raws = self.engine.race(requests).results if self.race else list(self.engine.map(requests))
        return [records_from_spans(raw.index, raw.spans, _raw_error(raw)) for raw in raws]

    def close(self) -> None:
        self.engine.close()


@dataclass(frozen=True)
class Workload:
    """A workload: how to open its context, its modes, and the ones ``--quick`` runs."""

    name: str
    description: str
    open_context: Callable[[BenchSettings], Context]
    modes: tuple[Mode, ...]
    quick_modes: tuple[str, ...]

    def mode(self, name: str) -> Mode | None:
        return next((m for m in self.modes if m.name == name), None)

    def default_modes(self, quick: bool) -> list[str]:
        return list(self.quick_modes) if quick else [m.name for m in self.modes]

    @contextmanager
    def open(self, settings: BenchSettings) -> Iterator[Context]:
        context = self.open_context(settings)
        try:
            yield context
        finally:
            context.close()


def _specs(context: Context) -> Sequence[TaskSpec]:
    return context.specs


def _first_client(context: Context) -> Any:
    return boto3_client(context.specs[0])


def _engine_modes(run: Callable[[Any, str], Prepared], what: str, kinds: Sequence[str] = ENGINES,
                  suffix: str = "") -> list[Mode]:
    """One mode per awspar engine ``kind``: ``awspar-<kind><suffix>``, prepared by ``run(context, kind)``."""

    def prepare(kind: str) -> Callable[[Any], Prepared]:
        return lambda context: run(context, kind)

    return [
        Mode(f"awspar-{kind}{suffix}", "awspar", f"awspar {kind} engine, {what}", prepare(kind),
             _ENGINE_MISSING.get(kind, _always_available))
        for kind in kinds
    ]


def _always_available() -> str | None:
    return None


def _cpu_pool(context: Context) -> Prepared:
    return PoolRun(context.specs, workers=os.cpu_count() or 1)


_SEED_IO = ("SINGLE", "ASYNC", "THREADS")

WORKLOADS: dict[str, Workload] = {
    "cpu": Workload(
        "cpu", "CPU-bound recursive Fibonacci, one task each", CpuContext,
        (*seed_modes(_specs),
         Mode("awspar-subinterpreters", "awspar",
              "awspar's interpreter pool: one subinterpreter per CPU, made once, driven from threads",
              _cpu_pool, needs_313)),
        ("SINGLE", "ASYNC", "SUBPROCESS", "THREADS", "SUBINTERPRETER", "SUBINTERPRETER_THREADS",
         "SUBINTERPRETER_SUBPROC", "awspar-subinterpreters"),
    ),
    "sleep": Workload(
        "sleep", "sleep(s), one task each", SleepContext, tuple(seed_modes(_specs)),
        ("SINGLE", "ASYNC", "THREADS", "SUBINTERPRETER_THREADS"),
    ),
    "s3": Workload(
        "s3", "S3 GetObject of N objects", S3Context,
        (*seed_modes(_specs, _first_client, " (boto3 GetObject)"),
         *_engine_modes(lambda context, kind: S3EngineRun(context, kind), "presigned GETs via awspar.s3.get_objects"),
         Mode("boto3-threads", "boto3", "boto3 GetObject, one shared client in a thread pool",
              lambda context: S3EngineRun(context, "boto3")),
         Mode("aiobotocore", "peer", "aiobotocore get_object in asyncio tasks, one client", AiobotocoreRun,
              module_missing("aiobotocore", "peer-aiobotocore")),
         Mode("obstore", "peer", "obstore get_async (Rust, tokio) from asyncio workers, one store", ObstoreRun,
              module_missing("obstore", "peer-obstore"))),
        (*_SEED_IO, "boto3-threads", *(f"awspar-{kind}" for kind in ENGINES), "aiobotocore", "obstore"),
    ),
    "bedrock": Workload(
        "bedrock", "Bedrock InvokeModel, N calls of one prompt", BedrockContext,
        (*seed_modes(_specs, _first_client, " (boto3 InvokeModel)"),
         *_engine_modes(lambda context, kind: BedrockEngineRun(context, kind, race=False), "every answer kept"),
         *_engine_modes(lambda context, kind: BedrockEngineRun(context, kind, race=True),
                        "race: first answer wins, the rest cancelled", ("async", "threads"), "-race"),
         Mode("boto3-threads", "boto3", "boto3 InvokeModel, one shared client in a thread pool",
              lambda context: BedrockEngineRun(context, "boto3", race=False))),
        (*_SEED_IO, "boto3-threads", "awspar-sequential", "awspar-threads", "awspar-async",
         "awspar-async-race", "awspar-threads-race"),
    ),
}


def modes_of(workload: str) -> list[str]:
    """Every mode name of ``workload``."""
    return [m.name for m in WORKLOADS[workload].modes]
