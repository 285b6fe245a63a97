"""Builds the typer app from one module per command.

Each module in :data:`COMMAND_MODULES` defines ``register(app: typer.Typer) -> None``.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import click
import typer
from typer.core import TyperCommand, TyperGroup

from awspar._errors import AwsparError
from awspar.cli._output import fail_for, start_debugging

# One module per command; add a line here when a command lands.
COMMAND_MODULES = (
    "awspar.cli.sign",
    "awspar.cli.bedrock",
    "awspar.cli.s3_get",
    "awspar.cli.s3_put",
    "awspar.cli.call",
    "awspar.cli.local",
    "awspar.cli.bench",
)


def command_module(name: str) -> str | None:
    """The module of command ``name`` (``s3-get`` is ``awspar.cli.s3_get``), or None."""
    module = f"awspar.cli.{name.replace('-', '_')}"
    return module if not name.startswith("_") and module in COMMAND_MODULES else None


class _App(TyperGroup):
    """The boundary: a library error that a command lets through is one line and an exit code
    (see :func:`~awspar.cli._output.fail_for`), never a traceback unless ``--debug`` asks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AwsparError as exc:
            fail_for(exc, ctx)


class _Command(TyperCommand):
    """A command whose usage line names its arguments as its help does: ``BUCKET [KEYS]...``
    (typer marks required ones ``{BUCKET}``, a notation no other tool uses)."""

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [piece.replace("{", "").replace("}", "") for piece in super().collect_usage_pieces(ctx)]


def _print_version(value: bool) -> None:
    if value:
        from awspar import __version__

        typer.echo(f"awspar {__version__}")
        raise typer.Exit()


def _global_options(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback with an error, and log at DEBUG on stderr "
                                            "(signatures and session tokens hidden).")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit.")
    ] = False,
) -> None:
    """Sign AWS requests in one place, send them anywhere: parallel S3 and Bedrock I/O."""
    if debug:
        start_debugging(ctx)


def build_app(command: str | None = None) -> typer.Typer:
    """The ``awspar`` app with every command registered, or only ``command`` when given and known.

    Registering one command spares a run the imports of the others (``awspar.bedrock`` for
    ``awspar bedrock``...) and typer the work of building their parameters.
    """
    app = typer.Typer(
        name="awspar",
        cls=_App,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    # With a callback, `awspar COMMAND ...` stays a command group even with a single command.
    app.callback()(_global_options)
    only = command_module(command) if command is not None else None
    for module_name in (only,) if only is not None else COMMAND_MODULES:
        importlib.import_module(module_name).register(app)
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = _Command
    return app
