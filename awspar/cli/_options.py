"""The connection options every AWS-facing command shares, declared once.

Each is an ``Annotated`` type to use as a parameter's annotation, with ``None`` as the default
(the standard AWS settings then apply, as for boto3); each ``--help`` line says what that default is.

    def command(region: Region = None, endpoint_url: S3EndpointUrl = None, profile: Profile = None): ...
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["BedrockEndpointUrl", "EndpointUrl", "Profile", "Region", "S3EndpointUrl"]


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
