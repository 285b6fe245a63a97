"""Test-suite setup: no test may reach AWS or read the developer's own AWS configuration."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test sees no real credentials, profiles or endpoints of the machine it runs on."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    empty = tmp_path_factory.getbasetemp() / "no-aws-config"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="module")
def signer(server):  # type: ignore[no-untyped-def]
    """An S3 signer holding the local endpoints' test credentials, aimed at the module's own
    ``server`` fixture (an ``ObjectServer``); modules that sign for another service define their own."""
    import boto3

    from awspar.signer import Signer
    from awspar.testing.credentials import TEST_CREDENTIALS

    return Signer("s3", session=boto3.Session(**TEST_CREDENTIALS.boto3_kwargs()), endpoint_url=server.url)
