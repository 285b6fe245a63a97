"""Builds the typer app from one module per command.

Each module in :data:`COMMAND_MODULES` defines ``register(app: typer.Typer) -> None``.
"""

from __future__ import annotations

import importlib

import typer

# One module per command; add a line here when a command lands.
COMMAND_MODULES = (
    "awspar.cli.sign",
    "awspar.cli.bedrock",
    "awspar.cli.s3_get",
    "awspar.cli.local",
    "awspar.cli.bench",
)


def build_app() -> typer.Typer:
    """The ``awspar`` app with every command registered."""
    app = typer.Typer(
        name="awspar",
        help="Sign AWS requests in one place, send them anywhere: parallel S3 and Bedrock I/O.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    # With a callback, `awspar COMMAND ...` stays a command group even with a single command.
    app.callback()(lambda: None)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(app)
    return app
