"""pytest fixtures for testing awspar code offline (registered as the ``awspar`` pytest plugin).

Every fixture starts a real server on 127.0.0.1 and stops it at the end of its scope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from awspar.testing.moto_server import MotoServer

if TYPE_CHECKING:  # the servers need aiohttp, imported only when a fixture runs
    from awspar.testing._endpoint import LocalEndpoint
    from awspar.testing.bedrock_server import BedrockServer
    from awspar.testing.dynamodb_server import DynamoDBServer
    from awspar.testing.object_server import ObjectServer

_Server = TypeVar("_Server", bound="LocalEndpoint")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto's server with signature checks on, for the whole test session.

    Use ``moto_server.session()`` / ``moto_server.client("s3")`` for clients that it accepts and
    ``moto_server.create_bucket(name, [(key, body), ...])`` to seed data.
    """
    with MotoServer() as server:
        yield server


@pytest.fixture
def frozen_signing_clock(monkeypatch: pytest.MonkeyPatch):
    """Call it with an epoch second to freeze the clock botocore and awspar sign with, so that
    signatures made at "the same instant" by boto3 and awspar can be compared byte for byte."""
    import datetime

    from awspar._botocore_compat import CLOCK_TARGET

    def freeze(epoch: int) -> None:
        instant = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).replace(tzinfo=None)
        monkeypatch.setattr(CLOCK_TARGET, lambda *args, **kwargs: instant)
        monkeypatch.setattr("awspar.signer.sigv4.wall_clock", lambda: float(epoch))

    return freeze


def _server_factory(cls: type[_Server]) -> Iterator[Callable[..., _Server]]:
    """Yield ``make(*args, **kwargs)``, which starts a ``cls``; stop every one afterwards."""
    started: list[_Server] = []

    def make(*args: Any, **kwargs: Any) -> _Server:
        server = cls(*args, **kwargs).start()
        started.append(server)
        return server

    try:
        yield make
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def make_object_server() -> Iterator[Callable[..., ObjectServer]]:
    """Factory of started :class:`~awspar.testing.ObjectServer` s, all stopped after the test.

    ``make_object_server({"b": {"k": b"v"}, "big": GeneratedBucket(1000, 1024)},
    behaviour=EndpointBehaviour(faults=parse_faults("slowdown=0.1"), seed=1), verify=False)``;
    ``behaviour=EndpointBehaviour(capacity=Capacity(rate=1500))`` answers 503 SlowDown above 1,500
    requests a second per prefix, and ``server.set_capacity(...)`` steps it mid-test.
    """
    from awspar.testing.object_server import ObjectServer

    yield from _server_factory(ObjectServer)


@pytest.fixture
def object_server(make_object_server: Callable[..., ObjectServer]) -> ObjectServer:
    """The local S3 endpoint with an empty bucket ``test``, signatures checked, for one test.

    Seed it with ``object_server.put("test", key, body)``; clients use ``object_server.url`` and
    :data:`awspar.testing.TEST_CREDENTIALS`; ``object_server.stats()`` gives its counters.
    """
    return make_object_server({"test": {}})


@pytest.fixture
def make_bedrock_server() -> Iterator[Callable[..., BedrockServer]]:
    """Factory of started :class:`~awspar.testing.BedrockServer` s, all stopped after the test.

    ``make_bedrock_server(answer="json", behaviour=EndpointBehaviour(quota=Quota(max_concurrent=2)))``;
    ``EndpointBehaviour(capacity=Capacity(concurrent=3))`` is a quota per model id.
    """
    from awspar.testing.bedrock_server import BedrockServer

    yield from _server_factory(BedrockServer)


@pytest.fixture
def bedrock_server(make_bedrock_server: Callable[..., BedrockServer]) -> BedrockServer:
    """The Bedrock runtime simulator (echo answers, signatures checked), for one test."""
    return make_bedrock_server()


@pytest.fixture
def make_dynamodb_server() -> Iterator[Callable[..., DynamoDBServer]]:
    """Factory of started :class:`~awspar.testing.DynamoDBServer` s, all stopped after the test.

    ``make_dynamodb_server(tables={"users": ("pk", "sk")}, behaviour=EndpointBehaviour(latency=Latency(20)))``
    """
    from awspar.testing.dynamodb_server import DynamoDBServer

    yield from _server_factory(DynamoDBServer)


@pytest.fixture
def dynamodb_server(make_dynamodb_server: Callable[..., DynamoDBServer]) -> DynamoDBServer:
    """The DynamoDB-style endpoint with a table ``test`` keyed ``pk`` holding 100 generated items
    (``item-000001``...), signatures checked, for one test."""
    return make_dynamodb_server(tables={"test": "pk"}, generated={"test": 100})


@pytest.fixture
def local_aws_env(
    object_server: ObjectServer, bedrock_server: BedrockServer, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point boto3 and awspar at ``object_server`` and ``bedrock_server`` through the standard
    variables (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_BEDROCK_RUNTIME, test credentials, region);
    returns them. ``boto3.client("s3")`` then talks to the local endpoint."""
    from awspar.testing.environment import local_env

    env = local_env(object_server.url, bedrock_server.url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
