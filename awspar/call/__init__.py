"""Any AWS operation in parallel: :func:`call_many` and its awaitable twin :func:`acall_many`.

One operation of one service, called once per parameter dict, through any engine; per input a
:class:`CallResult` with the dict boto3 would return or the error, at the input's position.

>>> from awspar import call_many
>>> keys = ({"TableName": "users", "Key": {"id": {"S": f"u{i}"}}} for i in range(10_000))
>>> for result in call_many("dynamodb", "GetItem", keys, mode="async", concurrency=100):  # doctest: +SKIP
...     print(result.index, result.ok and result.response.get("Item"))

How it runs: each input is a *plan* (:mod:`awspar.engines.plan`): sign it (a parameter that
does not fit the operation comes back as that input's :class:`~awspar.ParamValidationError`,
and the others go on), send it through the engine's retry policy (backoff, throttling,
re-signing of stale requests), parse the answer with :mod:`awspar.parsing`; with
``paginate=True``, the next page's request after each page, sequential within one input as the
service requires, parallel across inputs. The plans run where the engine's work is: as tasks
on the event loop for ``async``, inside ``concurrency`` worker threads for the blocking engines
(``threads``, ``processes``, ``subinterpreters``, ``dask``, ``boto3``), inline for
``sequential``. Signing always happens here: processes, interpreters and Dask workers only ever
see signed requests, never credentials. The input is pulled lazily, at most about
``concurrency`` plus 64 ahead of what the caller has taken, so a million parameter dicts never
sit in memory.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from awspar._config import DEFAULT_CONFIG, EngineConfig
from awspar._errors import ConfigurationError, ParamValidationError
from awspar.call.result import CallResult
from awspar.engines.plan import Blocking, Plan, Send, arun_plans, closing, on_loop_thread, run_plans
from awspar.parsing import parse_response

if TYPE_CHECKING:  # pragma: no cover
    from awspar.call.pages import Pages
    from awspar.engines.base import Engine
    from awspar.signer import Signer

__all__ = ["CallResult", "acall_many", "call_many", "check_callable"]

# Results waiting for the caller at most (the run pauses past that).
_HANDOFF = 64


def check_callable(operation_model: Any) -> None:
    """Refuse what cannot go out as one plain request and come back as one dict: event streams
    (Bedrock's ConverseStream, S3 SelectObjectContent, Transcribe streaming)."""
    service = operation_model.service_model.service_name
    if operation_model.has_event_stream_output or operation_model.has_event_stream_input:
        raise ConfigurationError(
            f"{service}.{operation_model.name} streams events, which call_many cannot send or parse "
            "(use the service's own streaming client)",
            service=service, operation=operation_model.name,
        )


class _Caller:
    """The plan of one input, and what every input shares: the signer, the operation, paging."""

    def __init__(self, signer: Signer, operation: str, pages: Pages | None, sign_off_loop: bool) -> None:
        self.signer = signer
        self.operation = operation
        self._pages = pages
        self._off_loop = sign_off_loop

    def plan(self, index: int, params: Any) -> Plan[CallResult]:
        began = time.perf_counter()
        attempts = 0
        fetched: list[dict[str, Any]] = []
        first = params
        while True:
            try:
                request = self._sign_fast(params) if self._off_loop else self._sign(params)
                if request is None:  # botocore's pipeline: hundreds of microseconds, off the loop
                    request = yield Blocking(lambda: self._sign(params))
            except ParamValidationError as exc:
                return CallResult(index, first, error=exc, attempts=attempts, pages=len(fetched),
                                  elapsed=time.perf_counter() - began if fetched else 0.0)
            raw = yield Send(request)
            attempts += raw.attempts
            try:
                page = parse_response(raw)
                if self._pages is None:
                    return CallResult(index, first, page, attempts=attempts, elapsed=time.perf_counter() - began,
                                      pages=1)
                fetched.append(page)
                following = self._pages.next_params(params, page)
                if following is None:
                    merged = self._pages.merge(first, fetched)
                    return CallResult(index, first, merged, attempts=attempts,
                                      elapsed=time.perf_counter() - began, pages=len(fetched))
            except Exception as exc:  # noqa: BLE001 - this input's own failure: AWS's error, a transport
                # failure after the retries, a body botocore cannot parse, a token repeated by the service
                return CallResult(index, first, error=exc, attempts=attempts, pages=len(fetched),
                                  elapsed=time.perf_counter() - began)
            params = following

    def _sign_fast(self, params: Any) -> Any:
        self._check(params)
        return self.signer.sign_fast(self.operation, params)

    def _sign(self, params: Any) -> Any:
        self._check(params)
        return self.signer.sign(self.operation, params)

    def _check(self, params: Any) -> None:
        if not isinstance(params, Mapping):
            raise ParamValidationError(
                f"{self.signer.service}.{self.operation}: parameters must be an object (a dict), "
                f"not {type(params).__name__}",
                service=self.signer.service, operation=self.operation,
            )


def _prepare(
    service: str, operation: str, *, mode: str, concurrency: int | None, config: EngineConfig | None,
    engine: Engine | None, signer: Signer | None, session: Any, region: str | None, endpoint_url: str | None,
    profile: str | None, paginate: bool, sign_off_loop: bool,
) -> tuple[_Caller, Engine, bool]:
    """Check everything that is the same for every input, before anything is sent: the caller,
    the engine, and whether this call made it (and closes it)."""
    config = config or DEFAULT_CONFIG
    if concurrency is not None:
        config = config.with_(concurrency=concurrency)
    if mode == "sequential":
        config = config.with_(concurrency=1)
    if signer is None:
        from awspar.signer import Signer, botocore_session

        if session is None:  # botocore's own: no boto3 to import (~40 ms), the same requests
            signer = Signer(service, session=botocore_session(profile), region=region, endpoint_url=endpoint_url)
        else:
            signer = Signer(service, session=session, region=region, endpoint_url=endpoint_url, profile=profile)
    elif signer.service != service:
        raise ConfigurationError(f"the signer is for {signer.service!r}, not {service!r}")
    model = signer.operation_model(operation)  # an unknown operation: one line with the closest names
    check_callable(model)
    pages = None
    if paginate:
        from awspar.call.pages import Pages

        pages = Pages.of(service, model)
    from awspar.engines import engine_for_run

    engine, own_engine = engine_for_run(mode, config, engine, session=session, region=region,
                                        endpoint_url=endpoint_url, profile=profile)
    return _Caller(signer, model.name, pages, sign_off_loop), engine, own_engine


def call_many(
    service: str,
    operation: str,
    params_iterable: Iterable[Mapping[str, Any]],
    *,
    mode: str = "threads",
    concurrency: int | None = None,
    ordered: bool = True,
    paginate: bool = False,
    config: EngineConfig | None = None,
    engine: Engine | None = None,
    signer: Signer | None = None,
    session: Any = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
) -> Iterator[CallResult]:
    """Call ``service.operation`` once per parameter dict of ``params_iterable``, in parallel;
    yield a :class:`CallResult` per input, in input order (``ordered=False``: as they finish;
    ``result.index`` says which).

    - ``operation``: PascalCase (``"GetItem"``) or boto3's snake_case (``"get_item"``).
    - ``mode``: the engine (``sequential``, ``threads``, ``async``, ``subinterpreters``,
      ``processes``, ``dask``, ``boto3``), made with ``config`` / ``concurrency`` and closed at
      the end; or pass a ready ``engine`` (shared, not closed; this call's requests are re-signed
      by this call's signer when stale).
    - ``signer`` (a :class:`~awspar.Signer` for ``service``) or ``session`` / ``profile`` /
      ``region`` / ``endpoint_url``: whose credentials and where; the standard AWS settings
      (``AWS_PROFILE``, ``AWS_REGION``, ``AWS_ENDPOINT_URL_<SERVICE>``...) apply as for boto3.
    - ``paginate``: follow each input's pages (botocore's paginator model), sequentially within
      one input, in parallel across inputs; ``response`` is every page merged.

    Errors of one input (AWS's answer, a parameter that does not fit, a transport failure after
    the retries) are that input's result; the others go on. An unknown service or operation,
    an event-stream operation, missing credentials or region raise
    :class:`~awspar.ConfigurationError` (the first two before anything is sent). Stopping the
    iteration early cancels what is in flight.
    """
    caller, engine, own_engine = _prepare(
        service, operation, mode=mode, concurrency=concurrency, config=config, engine=engine, signer=signer,
        session=session, region=region, endpoint_url=endpoint_url, profile=profile, paginate=paginate,
        sign_off_loop=False,
    )
    if engine.native_async:
        results = on_loop_thread(lambda: _arun_on_loop(caller, engine, params_iterable, ordered), engine,
                                 name="awspar-call", handoff=_HANDOFF)
    else:
        results = _run_in_threads(caller, engine, params_iterable, ordered)
    return closing(results, engine if own_engine else None)


async def acall_many(
    service: str,
    operation: str,
    params_iterable: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]],
    *,
    mode: str = "async",
    concurrency: int | None = None,
    ordered: bool = True,
    paginate: bool = False,
    config: EngineConfig | None = None,
    engine: Engine | None = None,
    signer: Signer | None = None,
    session: Any = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
) -> AsyncIterator[CallResult]:
    """Awaitable twin of :func:`call_many` (same arguments; ``mode`` defaults to ``"async"``, and
    ``params_iterable`` may be an async iterable). Never blocks the event loop: the signer is
    built in a helper thread, a request is signed on the loop only when the signer's fast path
    serves it (tens of microseconds, :meth:`~awspar.Signer.sign_fast`) and in a helper thread
    otherwise; blocking engines run in threads of their own.

    >>> async for result in acall_many("sqs", "SendMessage", messages, concurrency=50):  # doctest: +SKIP
    ...     print(result.index, result.ok)
    """
    import asyncio

    caller, engine, own_engine = await asyncio.to_thread(
        _prepare, service, operation, mode=mode, concurrency=concurrency, config=config, engine=engine,
        signer=signer, session=session, region=region, endpoint_url=endpoint_url, profile=profile,
        paginate=paginate, sign_off_loop=True,
    )
    try:
        if engine.native_async:
            async for result in _arun_on_loop(caller, engine, params_iterable, ordered):
                yield result
        else:  # the blocking engines run their plans in threads of their own: one hand-off per result
            from awspar.engines.base import _iterate_in_thread

            def in_threads(sync_params: Iterable[Mapping[str, Any]]) -> Iterator[CallResult]:
                return _run_in_threads(caller, engine, sync_params, ordered)

            async for result in _iterate_in_thread(in_threads, params_iterable, _HANDOFF):  # type: ignore[arg-type]
                yield result
    finally:
        if own_engine:
            await engine.aclose()


def _run_in_threads(caller: _Caller, engine: Engine, params_iterable: Iterable[Any], ordered: bool) -> Iterator[CallResult]:
    """Every input's plan run whole inside ``concurrency`` threads (inline for one): no event loop."""
    sender = engine.plan_sender(caller.signer.resign)
    plans = (caller.plan(index, params) for index, params in enumerate(params_iterable))
    yield from run_plans(plans, sender, workers=engine.config.max_in_flight, handoff=_HANDOFF, ordered=ordered)


async def _arun_on_loop(
    caller: _Caller, engine: Any, params_iterable: Iterable[Any] | AsyncIterable[Any], ordered: bool
) -> AsyncIterator[CallResult]:
    """Every input's plan run whole as a task on the running loop, ``concurrency`` at a time."""
    async with engine.aplan_sender(caller.signer.resign) as sender:
        async def plans() -> AsyncIterator[Plan[CallResult]]:
            index = 0
            if isinstance(params_iterable, AsyncIterable):
                async for params in params_iterable:
                    yield caller.plan(index, params)
                    index += 1
            else:
                for params in params_iterable:
                    yield caller.plan(index, params)
                    index += 1

        async for result in arun_plans(plans(), sender, workers=engine.config.max_in_flight, handoff=_HANDOFF,
                                       ordered=ordered):
            yield result
