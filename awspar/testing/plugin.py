"""pytest fixtures for testing awspar code offline (registered as the ``awspar`` pytest plugin).

Every fixture starts a real server on 127.0.0.1 and stops it at the end of its scope.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from awspar.testing.moto_server import MotoServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto's server with signature checks on, for the whole test session.

    Use ``moto_server.session()`` / ``moto_server.client("s3")`` for clients that it accepts and
    ``moto_server.create_bucket(name, [(key, body), ...])`` to seed data.
    """
    with MotoServer() as server:
        yield server
