"""Engines: send signed requests in parallel, each in its own way, all under one contract.

==================  =====================================================  =================
name                how                                                    needs
==================  =====================================================  =================
``sequential``      one after another (the reference answer)               urllib3
``threads``         urllib3, one shared pool, a bounded thread pool         urllib3
``async``           aiohttp on an event loop (also natively awaitable)      aiohttp
``subinterpreters`` isolated interpreters with their own GIL, urllib3       Python 3.13+
``processes``       worker processes, each with its own urllib3 pool        urllib3
``boto3``           the plain boto3 call, in threads (a baseline)           boto3
``dask``            batches sent from the workers of a Dask cluster         distributed
==================  =====================================================  =================

>>> from awspar.engines import get_engine
>>> with get_engine("async", EngineConfig(concurrency=64), resign=signer.resign) as engine:  # doctest: +SKIP
...     for response in engine.map(requests):
...         ...

Engine modules are imported only when asked for, so that ``import awspar.engines`` costs nothing
and loads in a subinterpreter.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from awspar._config import DEFAULT_CONFIG, EngineConfig
from awspar._errors import ConfigurationError

if TYPE_CHECKING:  # pragma: no cover
    from awspar.engines._attempts import Resign
    from awspar.engines.base import Engine

__all__ = ["ENGINE_NAMES", "engine_class", "engine_for_run", "get_engine"]

ENGINE_NAMES = ("sequential", "threads", "async", "subinterpreters", "processes", "boto3", "dask")

# mode -> (module, class)
_ENGINES = {
    "sequential": ("awspar.engines.sequential", "SequentialEngine"),
    "threads": ("awspar.engines.threads", "ThreadsEngine"),
    "async": ("awspar.engines.aio", "AsyncEngine"),
    "subinterpreters": ("awspar.engines.interpreters", "InterpreterEngine"),
    "processes": ("awspar.engines.processes", "ProcessEngine"),
    "boto3": ("awspar.engines.boto3_baseline", "Boto3Engine"),
    "dask": ("awspar.engines.dask_engine", "DaskEngine"),
}


def engine_class(mode: str) -> type[Engine]:
    """The engine class for ``mode``, imported on demand.

    Raises :class:`~awspar.ConfigurationError` for an unknown name and
    :class:`~awspar.EngineUnavailableError` when this Python cannot run it.
    """
    if mode not in _ENGINES:
        raise ConfigurationError(f"unknown engine {mode!r}; choose one of: {', '.join(ENGINE_NAMES)}")
    if mode == "subinterpreters":
        from awspar.engines._interp_pool import require_subinterpreters

        require_subinterpreters()
    module_name, class_name = _ENGINES[mode]
    cls: type[Engine] = getattr(importlib.import_module(module_name), class_name)
    return cls


def get_engine(
    mode: str, config: EngineConfig = DEFAULT_CONFIG, *, resign: Resign | None = None, **options: Any
) -> Engine:
    """A ready engine of kind ``mode`` (one of :data:`ENGINE_NAMES`).

    ``resign`` re-signs requests whose signature would be stale when sent (pass the signer's
    ``resign``); ``options`` are the engine's own (e.g. ``threads=`` for ``threads``,
    ``loop="uvloop"`` for ``async``, ``session=``/``endpoint_url=``/``client_factory=`` for
    ``boto3``, ``client=``/``scheduler=``/
    ``batch_size=``/``max_batches=`` for ``dask``).
    """
    return engine_class(mode)(config, resign=resign, **options)


def engine_for_run(
    mode: str, config: EngineConfig, engine: Engine | None, *, session: Any = None, region: str | None = None,
    endpoint_url: str | None = None, profile: str | None = None,
) -> tuple[Engine, bool]:
    """A front-end's engine for one run: ``engine`` when the caller gave one, else a new one of
    ``mode``; and whether the run made it (and so closes it). Re-signing is per run
    (``plan_sender(resign)``), not the engine's. The ``boto3`` baseline calls boto3 itself, so it
    gets the credentials (``session`` when it is a boto3 Session, else one for ``profile`` and
    ``region``) and the endpoint."""
    if engine is not None:
        return engine, False
    options: dict[str, Any] = {}
    if mode == "boto3":
        import boto3

        if not isinstance(session, boto3.Session):
            session = boto3.Session(profile_name=profile, region_name=region)
        options = {"session": session, "endpoint_url": endpoint_url}
    return get_engine(mode, config, **options), True
