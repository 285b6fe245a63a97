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


def command_module(name: str) -> str | None:
    """The module of command ``name`` (``s3-get`` is ``awspar.cli.s3_get``), or None."""
    module = f"awspar.cli.{name.replace('-', '_')}"
    return module if not name.startswith("_") and module in COMMAND_MODULES else None


def build_app(command: str | None = None) -> typer.Typer:
    """The ``awspar`` app with every command registered, or only ``command`` when given and known.

    Registering one command spares a run the imports of the others (``awspar.bedrock`` for
    ``awspar bedrock``...) and typer the work of building their parameters.
    """
    app = typer.Typer(
        name="awspar",
        help="Sign AWS requests in one place, send them anywhere: parallel S3 and Bedrock I/O.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    # With a callback, `awspar COMMAND ...` stays a command group even with a single command.
    app.callback()(lambda: None)
    only = command_module(command) if command is not None else None
    for module_name in (only,) if only is not None else COMMAND_MODULES:
        importlib.import_module(module_name).register(app)
    return app
