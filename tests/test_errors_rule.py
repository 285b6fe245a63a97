"""The one rule for bad arguments: ConfigurationError (also a ValueError), raised before anything is sent."""

from __future__ import annotations

import pytest

from awspar import ConfigurationError, EngineConfig, RetryPolicy


@pytest.mark.parametrize(
    "make",
    [
        lambda: EngineConfig(concurrency=0),
        lambda: EngineConfig(read_timeout=0),
        lambda: EngineConfig(hedge_after="p100"),
        lambda: RetryPolicy(max_attempts=0),
        lambda: RetryPolicy(max_elapsed=0),
    ],
)
def test_a_bad_setting_is_a_configuration_error(make) -> None:
    """These raised a plain ValueError before (the CLI then showed no clean line for them)."""
    with pytest.raises(ConfigurationError) as raised:
        make()
    assert isinstance(raised.value, ValueError)  # `except ValueError` still catches it


@pytest.mark.parametrize(
    "kwargs", [{"part_size": 0}, {"multipart_threshold": 0}, {"skip_existing": True, "overwrite": True}],
)
def test_bad_get_objects_arguments_are_configuration_errors(kwargs, tmp_path) -> None:
    import botocore.session

    from awspar.s3 import get_objects
    from awspar.testing import TEST_CREDENTIALS

    session = botocore.session.get_session()
    session.set_credentials(TEST_CREDENTIALS.access_key, TEST_CREDENTIALS.secret_key)
    with pytest.raises(ConfigurationError):
        get_objects("b", ["k"], out_dir=tmp_path, session=session, region="us-east-1",
                    endpoint_url="http://127.0.0.1:9", **kwargs)
