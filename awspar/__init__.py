"""awspar: sign AWS requests in one place, send them anywhere, in parallel.

The public names are loaded lazily (PEP 562) so that ``import awspar`` stays cheap, in AWS Lambda
above all, and so that a worker subinterpreter can import ``awspar._models`` without botocore.
"""

from __future__ import annotations

import importlib

# Not ``typing.TYPE_CHECKING``: importing typing is most of what ``import awspar`` would cost.
TYPE_CHECKING = False

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "SignedRequest": "awspar._models",
    "RawResponse": "awspar._models",
    "Span": "awspar._models",
    "FileSink": "awspar._models",
    "EngineConfig": "awspar._config",
    "RetryPolicy": "awspar._config",
    "DEFAULT_CONFIG": "awspar._config",
    "AwsparError": "awspar._errors",
    "ConfigurationError": "awspar._errors",
    "NoCredentialsError": "awspar._errors",
    "UnknownServiceError": "awspar._errors",
    "UnknownOperationError": "awspar._errors",
    "ParamValidationError": "awspar._errors",
    "EngineUnavailableError": "awspar._errors",
    "TransportError": "awspar._errors",
    "ConnectError": "awspar._errors",
    "IncompleteBodyError": "awspar._errors",
    "CancelledError": "awspar._errors",
    "ServiceError": "awspar._errors",
    "LocalFileError": "awspar._errors",
    "DiskFull": "awspar._errors",
    "WorkerCrashedError": "awspar._errors",
    "NoWinnerError": "awspar._errors",
    "Signer": "awspar.signer",
    "get_engine": "awspar.engines",
    "ENGINE_NAMES": "awspar.engines",
    "Engine": "awspar.engines.base",
    "RaceResult": "awspar.engines.base",
    "parse": "awspar.parsing",
    "parse_response": "awspar.parsing",
    "get_objects": "awspar.s3",
    "aget_objects": "awspar.s3",
    "ObjectResult": "awspar.s3",
    "call_many": "awspar.call",
    "acall_many": "awspar.call",
    "CallResult": "awspar.call",
    "BedrockAnswer": "awspar.bedrock",
    "BedrockCall": "awspar.bedrock",
    "BedrockRun": "awspar.bedrock",
    "LargeRaceWarning": "awspar.bedrock",
}

__all__ = sorted([*_EXPORTS, "__version__"])
#: Subpackages and modules reachable as attributes (``awspar.s3.get_objects``), imported on first use.
_SUBMODULES = frozenset({"bedrock", "bench", "call", "cli", "engines", "parsing", "s3", "signer", "testing"})

if TYPE_CHECKING:  # pragma: no cover
    from awspar import bedrock, bench, call, cli, engines, parsing, s3, signer, testing
    from awspar._config import DEFAULT_CONFIG, EngineConfig, RetryPolicy
    from awspar._errors import (
        AwsparError,
        CancelledError,
        ConfigurationError,
        ConnectError,
        DiskFull,
        EngineUnavailableError,
        IncompleteBodyError,
        LocalFileError,
        NoCredentialsError,
        NoWinnerError,
        ParamValidationError,
        ServiceError,
        TransportError,
        UnknownOperationError,
        UnknownServiceError,
        WorkerCrashedError,
    )
    from awspar._models import FileSink, RawResponse, SignedRequest, Span
    from awspar.bedrock import BedrockAnswer, BedrockCall, BedrockRun, LargeRaceWarning
    from awspar.call import CallResult, acall_many, call_many
    from awspar.engines import ENGINE_NAMES, get_engine
    from awspar.engines.base import Engine, RaceResult
    from awspar.parsing import parse, parse_response
    from awspar.s3 import ObjectResult, aget_objects, get_objects
    from awspar.signer import Signer


def __getattr__(name: str) -> object:
    if name in _SUBMODULES:
        return importlib.import_module(f"awspar.{name}")  # which also sets it as an attribute here
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'awspar' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])
