"""The fixed, public test credentials that awspar's local endpoints accept.

They are not secrets: they only open the servers in :mod:`awspar.testing`, which bind 127.0.0.1.
``TEST_CREDENTIALS`` is a long-term key; ``TEST_SESSION_CREDENTIALS`` is a temporary key that is
only accepted together with its session token (like credentials from STS or SSO).

>>> import boto3
>>> from awspar.testing import TEST_CREDENTIALS
>>> s3 = boto3.client("s3", endpoint_url=url, **TEST_CREDENTIALS.boto3_kwargs())  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["KNOWN_KEYS", "TEST_CREDENTIALS", "TEST_REGION", "TEST_SESSION_CREDENTIALS", "TestCredentials"]

TEST_REGION = "us-east-1"


@dataclass(frozen=True)
class TestCredentials:
    """An access key the local endpoints accept, with its secret and optional session token."""

    __test__ = False  # not a pytest test class, despite the name

    access_key: str
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str = TEST_REGION

    def boto3_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``boto3.client()`` / ``boto3.Session()``: keys and region."""
        kwargs = {
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": self.region,
        }
        if self.session_token is not None:
            kwargs["aws_session_token"] = self.session_token
        return kwargs

    def env(self) -> dict[str, str]:
        """The standard ``AWS_*`` environment variables holding these credentials and region."""
        env = {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }
        if self.session_token is not None:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


TEST_CREDENTIALS = TestCredentials("AKIAAWSPARLOCALTEST1", "awspar-local-test-secret-key-0000000000")
TEST_SESSION_CREDENTIALS = TestCredentials(
    "ASIAAWSPARLOCALTEST2",
    "awspar-local-session-secret-key-000000",
    session_token="awspar-local-session-token",
)

# access key id -> credentials, what the signature verifier looks keys up in
KNOWN_KEYS: dict[str, TestCredentials] = {
    c.access_key: c for c in (TEST_CREDENTIALS, TEST_SESSION_CREDENTIALS)
}
