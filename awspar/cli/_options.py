"""The connection options every AWS-facing command shares, declared once.

Each is an ``Annotated`` type to use as a parameter's annotation, with ``None`` as the default
(the standard AWS settings then apply, as for boto3); each ``--help`` line says what that default is.

    def command(region: Region = None, endpoint_url: S3EndpointUrl = None, profile: Profile = None): ...
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["BedrockEndpointUrl", "Concurrency", "EndpointUrl", "MaxConcurrency", "Profile", "Region", "S3EndpointUrl", "concurrency_value"]


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
