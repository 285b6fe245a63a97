"""The environment variables that point boto3 (and awspar) at the local endpoints.

>>> local_env("http://127.0.0.1:9000", "http://127.0.0.1:9001")["AWS_ENDPOINT_URL_S3"]
'http://127.0.0.1:9000'
"""

from __future__ import annotations

from awspar.testing.credentials import TEST_CREDENTIALS, TestCredentials

__all__ = ["local_env"]


def local_env(
    s3_url: str | None = None,
    bedrock_url: str | None = None,
    credentials: TestCredentials = TEST_CREDENTIALS,
    dynamodb_url: str | None = None,
) -> dict[str, str]:
    """``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` / ``AWS_ENDPOINT_URL_DYNAMODB``
    (for the URLs given), the test credentials and the region, as the standard ``AWS_*`` variables."""
    env: dict[str, str] = {}
    if s3_url is not None:
        env["AWS_ENDPOINT_URL_S3"] = s3_url
    if bedrock_url is not None:
        env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = bedrock_url
    if dynamodb_url is not None:
        env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_url
    env.update(credentials.env())
    return env
