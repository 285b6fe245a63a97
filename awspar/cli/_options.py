"""The connection options every AWS-facing command shares, declared once.

Each is an ``Annotated`` type to use as a parameter's annotation, with ``None`` as the default
(the standard AWS settings then apply, as for boto3); each ``--help`` line says what that default is.

    def command(region: Region = None, endpoint_url: S3EndpointUrl = None, profile: Profile = None): ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # pragma: no cover
    from awspar._config import EngineConfig, RetryPolicy

__all__ = [
    "BedrockEndpointUrl", "Concurrency", "EndpointUrl", "HedgeAfter", "MaxConcurrency", "Profile", "Region",
    "S3EndpointUrl", "Timeout", "concurrency_value", "parse_hedge_after", "retries_option", "with_retry_options",
]


def _endpoint_option(variable: str) -> typer.models.OptionInfo:
    return typer.Option(
        "--endpoint-url", help=f"Endpoint URL (default: {variable}, else AWS_ENDPOINT_URL, else AWS's own endpoint)."
    )


Region = Annotated[
    str | None,
    typer.Option("--region", help="Region (default: AWS_REGION, else AWS_DEFAULT_REGION, else the profile's region)."),
]
Profile = Annotated[
    str | None, typer.Option("--profile", help="Profile from ~/.aws/config (default: AWS_PROFILE, else 'default').")
]
#: ``--endpoint-url`` for any service (``awspar sign``).
EndpointUrl = Annotated[str | None, _endpoint_option("AWS_ENDPOINT_URL_<SERVICE>")]
S3EndpointUrl = Annotated[str | None, _endpoint_option("AWS_ENDPOINT_URL_S3")]
BedrockEndpointUrl = Annotated[str | None, _endpoint_option("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")]

#: ``--concurrency auto`` (the default) or a fixed number of requests in flight.
Concurrency = Annotated[
    str,
    typer.Option(
        "--concurrency",
        metavar="auto|N",
        help="Requests in flight: auto (the default) grows while answers succeed and backs off on throttling "
        "(503 SlowDown, 429), up to --max-concurrency; a number fixes it.",
    ),
]
MaxConcurrency = Annotated[
    int, typer.Option("--max-concurrency", min=1, help="The most requests in flight --concurrency auto may reach.")
]


def concurrency_value(text: str) -> int | str:
    """``"auto"`` or a whole number of at least 1; a one-line error (exit 2) otherwise."""
    from awspar.cli._output import fail

    value = text.strip().lower()
    if value == "auto":
        return "auto"
    if not value.isdigit() or int(value) < 1:
        fail(f"--concurrency must be auto or a whole number of at least 1, not {text!r}")
    return int(value)

def retries_option(policy: RetryPolicy) -> Any:
    """``--retries N`` for a command whose default retry policy is ``policy``."""
    return Annotated[
        int | None,
        typer.Option("--retries", min=0, help=f"Retries of one request after its first try, at most (default: "
                                             f"{policy.max_attempts - 1}). Throttling (503 SlowDown, 429...) is "
                                             "retried with backoff within --timeout; other failures (connection "
                                             f"errors, timeouts, 500) {policy.max_transient_attempts - 1} times "
                                             "at most."),
    ]


#: ``--timeout SECONDS``: the time budget of one request.
Timeout = Annotated[
    float | None,
    typer.Option("--timeout", min=0.1, help="Seconds one request may take, its retries and backoff included, "
                                            "before it fails (default: 120); also caps the connect and read "
                                            "timeouts."),
]


def with_retry_options(config: EngineConfig, retries: int | None, timeout: float | None) -> EngineConfig:
    """``config`` with what ``--retries`` and ``--timeout`` ask for (``None``: unchanged)."""
    import dataclasses

    retry = config.retry
    if retries is not None:
        retry = dataclasses.replace(retry, max_attempts=retries + 1,
                                    max_transient_attempts=min(retry.max_transient_attempts, retries + 1))
    if timeout is not None:
        retry = dataclasses.replace(retry, max_elapsed=timeout)
        config = config.with_(connect_timeout=min(config.connect_timeout, timeout),
                              read_timeout=min(config.read_timeout, timeout))
    return config.with_(retry=retry)


#: ``--hedge-after 100ms|0.5s|p95``: when to send a second copy of a slow request.
HedgeAfter = Annotated[
    str | None,
    typer.Option("--hedge-after", metavar="DELAY|pNN",
                 help="Send a second copy of a request still unanswered after DELAY (100ms, 0.5s, 2) or after "
                      "the run's NNth percentile latency (p95: once ten latencies are known); the first answer "
                      "wins, the other is hung up on. Default: never. Not with --mode sequential."),
]


def parse_hedge_after(text: str | None) -> float | str | None:
    """``"100ms"`` -> 0.1, ``"0.5s"`` / ``"0.5"`` -> 0.5, ``"p95"`` -> ``"p95"`` (as
    :class:`~awspar.EngineConfig` takes it); :class:`~awspar.ConfigurationError` if it is neither."""
    if text is None:
        return None
    from awspar._errors import ConfigurationError

    value = text.strip().lower()
    if value.startswith("p"):
        number = value[1:]
        if number.replace(".", "", 1).isdigit() and 0 < float(number) < 100:
            return value
    else:
        scale = 0.001 if value.endswith("ms") else 1.0
        number = value.removesuffix("ms").removesuffix("s").strip()
        try:
            seconds = float(number) * scale
        except ValueError:
            seconds = -1.0
        if seconds > 0 and seconds != float("inf"):
            return seconds
    raise ConfigurationError(f"--hedge-after {text!r} is not a delay (100ms, 0.5s, 2) or a percentile (p95)")
