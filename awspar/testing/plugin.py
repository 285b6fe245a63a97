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


@pytest.fixture
def frozen_signing_clock(monkeypatch: pytest.MonkeyPatch):
    """Call it with an epoch second to freeze the clock botocore and awspar sign with, so that
    signatures made at "the same instant" by boto3 and awspar can be compared byte for byte."""
    import datetime

    from awspar._botocore_compat import CLOCK_TARGET

    def freeze(epoch: int) -> None:
        instant = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).replace(tzinfo=None)
        monkeypatch.setattr(CLOCK_TARGET, lambda *args, **kwargs: instant)
        monkeypatch.setattr("awspar._s3presign.wall_clock", lambda: float(epoch))

    return freeze
