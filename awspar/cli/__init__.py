"""The ``awspar`` command line. Thin: parse arguments, call the library, print.

typer and rich come with the ``cli`` extra; without them ``awspar`` says so in one line.
"""

from __future__ import annotations

import gc
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``awspar`` console script."""
    try:
        from awspar.cli.app import build_app
    except ImportError as exc:  # typer or rich missing
        print(f"awspar: the command line needs the 'cli' extra ({exc.name} is missing): "
              "pip install 'awspar[cli]'", file=sys.stderr)
        raise SystemExit(2) from None
    args = sys.argv[1:] if argv is None else argv
    _widen_help_off_a_terminal(args)
    # Only the command asked for (the first word that is not an option), when it is known.
    app = build_app(next((arg for arg in args if not arg.startswith("-")), None))
    try:
        app(args=args, prog_name="awspar")
    finally:
        # On the way out the interpreter runs full garbage collections over every object still
        # alive (botocore's models and client among them) only to free memory that exiting frees
        # anyway: 65-115 ms of a ~0.55 s `awspar s3-get` here. Frozen objects are skipped.
        gc.freeze()


#: Columns of ``--help`` written to a file or a pipe (``awspar s3-get --help | less``).
HELP_COLUMNS = 140


def _widen_help_off_a_terminal(args: list[str]) -> None:
    """``--help`` into a file or a pipe: rich would lay it out for 80 columns and cut long words
    (``AWS_ENDPOINT_URL_BEDROC…``); give it :data:`HELP_COLUMNS` instead, through rich's own
    ``COLUMNS`` setting. Only for help (a run's progress bar keeps the terminal's width), and
    not when the user set ``COLUMNS``."""
    import os

    if ("--help" in args or "-h" in args) and "COLUMNS" not in os.environ and not sys.stdout.isatty():
        os.environ["COLUMNS"] = str(HELP_COLUMNS)
