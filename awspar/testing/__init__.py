"""Local AWS endpoints for offline tests, examples, the benchmark and ``awspar local``.

Nothing here talks to AWS: every server binds 127.0.0.1 on a free port and stops when asked
(each is a context manager). The servers need the ``local`` extra (moto, aiohttp); importing this
package does not import them.

- :data:`TEST_CREDENTIALS` (and :data:`TEST_SESSION_CREDENTIALS`, which carries a session token):
  the fixed, public keys the local endpoints accept.
- :class:`~awspar.testing.object_server.ObjectServer`: a fast S3-compatible endpoint with SigV4
  checks, generated buckets, latency and faults.
- :class:`~awspar.testing.bedrock_server.BedrockServer`: a Bedrock runtime simulator.
- :class:`~awspar.testing.dynamodb_server.DynamoDBServer`: a DynamoDB-style JSON-protocol endpoint
  (GetItem, PutItem, DeleteItem in memory) with SigV4 checks, latency and faults.
- :mod:`awspar.testing.faults`: latency, fault and quota settings shared by both.
- :mod:`awspar.testing.capacity`: their capacity model (N requests/s or N in flight per prefix or
  model, then the service's throttling answer); :mod:`awspar.testing.scripted`, the same on a
  fake clock, for the adaptive limiter's tests.
- :class:`~awspar.testing.moto_server.MotoServer`: moto's server, for S3 semantics beyond the above.
- :mod:`awspar.testing.plugin`: pytest fixtures (``object_server``, ``bedrock_server``,
  ``dynamodb_server``, ``local_aws_env``, ``moto_server`` ...).
"""

from __future__ import annotations

import importlib
from typing import Any

from awspar.testing.credentials import (
    TEST_CREDENTIALS,
    TEST_REGION,
    TEST_SESSION_CREDENTIALS,
    TestCredentials,
)

# public name -> module, imported on first use (aiohttp is only needed once a server starts)
_LAZY = {
    "ObjectServer": "awspar.testing.object_server",
    "GeneratedBucket": "awspar.testing.object_server",
    "BedrockServer": "awspar.testing.bedrock_server",
    "DynamoDBServer": "awspar.testing.dynamodb_server",
    "MotoServer": "awspar.testing.moto_server",
    "EndpointBehaviour": "awspar.testing.faults",
    "Latency": "awspar.testing.faults",
    "FaultRates": "awspar.testing.faults",
    "Quota": "awspar.testing.faults",
    "Capacity": "awspar.testing.capacity",
}

__all__ = [  # noqa: RUF022 - the eager names first, then the lazy ones
    "TEST_CREDENTIALS",
    "TEST_REGION",
    "TEST_SESSION_CREDENTIALS",
    "TestCredentials",
    "BedrockServer",
    "Capacity",
    "DynamoDBServer",
    "EndpointBehaviour",
    "FaultRates",
    "GeneratedBucket",
    "Latency",
    "MotoServer",
    "ObjectServer",
    "Quota",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'awspar.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
