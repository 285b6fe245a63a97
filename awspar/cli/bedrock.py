"""``awspar bedrock``: one prompt to a Bedrock model N times in parallel; all answers, a race, or the
first valid one. The answer goes to stdout (as it arrives with ``--stream``), the per-call timing
table to stderr, or everything as JSON with ``--json``.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from awspar import bedrock
from awspar._errors import NoWinnerError
from awspar.cli._dask_scheduler import SCHEDULER_HELP, dask_scheduler
from awspar.cli._options import (
    BedrockEndpointUrl,
    Concurrency,
    MaxConcurrency,
    Profile,
    Region,
    Timeout,
    concurrency_value,
    retries_option,
    with_retry_options,
)
from awspar.cli._output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PARTIAL, fail

__all__ = ["bedrock_command", "read_prompt", "register", "timing_table"]

_DEFAULT_READ_TIMEOUT = bedrock.BEDROCK_CONFIG.read_timeout


def register(app: typer.Typer) -> None:
    """Add ``awspar bedrock`` to the app."""
    app.command("bedrock")(bedrock_command)


def bedrock_command(
    prompt: Annotated[
        str | None, typer.Argument(metavar="[PROMPT]", help="The prompt; '-' reads it from stdin (or use --prompt-file).")
    ] = None,
    prompt_file: Annotated[
        Path | None, typer.Option("--prompt-file", help="Read the prompt from this file.")
    ] = None,
    model: Annotated[
        str, typer.Option("--model", help="Model id or inference profile, sent unchanged.")
    ] = bedrock.DEFAULT_MODEL,
    n: Annotated[int, typer.Option("--n", min=1, help="How many calls to send in parallel.")] = 3,
    race: Annotated[
        bool, typer.Option("--race", help="Keep the first successful answer; cancel the other calls.")
    ] = False,
    keep_all: Annotated[bool, typer.Option("--all", help="Keep every answer (the default).")] = False,
    first_valid: Annotated[
        str | None,
        typer.Option(
            "--first-valid",
            metavar="VALIDATOR",
            help="Keep the first answer that passes VALIDATOR: json, regex:PATTERN, schema:FILE or "
            "schema:{...}; cancel the others once one passes.",
        ),
    ] = None,
    api: Annotated[
        str, typer.Option("--api", help="converse (any model) or invoke (the Anthropic or Nova body).")
    ] = "converse",
    stream: Annotated[
        bool,
        typer.Option(
            "--stream",
            help="Stream the answer (ConverseStream / InvokeModelWithResponseStream); with --mode async "
            "the tokens print as they arrive and a race is won on the first token.",
        ),
    ] = False,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Most tokens per answer.")] = 512,
    temperature: Annotated[
        float | None,
        typer.Option("--temperature", min=0.0, max=1.0, help="Sampling temperature (default: the model's)."),
    ] = None,
    system: Annotated[str | None, typer.Option("--system", help="System prompt.")] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            help="Engine: async, threads, sequential, processes, subinterpreters or dask "
            "(default: async when aiohttp is installed, else threads).",
        ),
    ] = None,
    scheduler: Annotated[str | None, typer.Option("--scheduler", metavar="ADDRESS", help=SCHEDULER_HELP)] = None,
    concurrency: Concurrency = "auto",
    max_concurrency: MaxConcurrency = 256,
    read_timeout: Annotated[
        float, typer.Option("--read-timeout", min=1.0, help="Seconds to wait for data from the model.")
    ] = _DEFAULT_READ_TIMEOUT,
    retries: retries_option(bedrock.BEDROCK_CONFIG.retry) = None,
    timeout: Timeout = None,
    region: Region = None,
    endpoint_url: BedrockEndpointUrl = None,
    profile: Profile = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole run (every call, timings, answers) as JSON.")
    ] = False,
) -> None:
    """Send PROMPT to a Bedrock model N times in parallel and print the answer.

    The answer goes to stdout, then a table of every call (which won, latency, time to first
    token, tokens) to stderr. Exit status: 0 answered; 1 some calls failed (--all); 2 bad input;
    3 no answer (every call failed, none passed the validator, access denied, model not enabled
    or unknown, throttled to the end).

    Example: awspar bedrock --n 3 --race "Summarise: ..."
    """
    chosen = [
        name for name, on in (("--race", race), ("--all", keep_all), ("--first-valid", first_valid)) if on
    ]
    if len(chosen) > 1:
        fail(f"choose one of {', '.join(chosen)}")
    strategy = "race" if race else "first-valid" if first_valid else "all"
    text = read_prompt(prompt, prompt_file)
    live = stream and not as_json
    on_token = _print_token if live and strategy != "all" else None
    config = with_retry_options(
        bedrock.BEDROCK_CONFIG.with_(read_timeout=read_timeout, concurrency=concurrency_value(concurrency),
                                     max_concurrency=max_concurrency),
        retries, timeout)
    cluster = dask_scheduler(mode, scheduler)
    try:
        with warnings.catch_warnings(record=True) as caught, cluster:
            warnings.simplefilter("always", bedrock.LargeRaceWarning)
            run = bedrock.invoke(
                text,
                model=model,
                n=n,
                strategy=strategy,  # type: ignore[arg-type]
                validator=first_valid,
                api=api,  # type: ignore[arg-type]
                stream=stream,
                system=system,
                max_tokens=max_tokens,
                temperature=temperature,
                mode=mode,
                config=config,
                region=region,
                endpoint_url=endpoint_url,
                profile=profile,
                on_token=on_token,
            )
            _warn(caught)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)
    except NoWinnerError as exc:
        _warn(caught)
        failed_run = getattr(exc, "run", None)
        if as_json and failed_run is not None:
            typer.echo(json.dumps(failed_run.to_dict(), indent=2, ensure_ascii=False))
        elif failed_run is not None:
            timing_table(failed_run)
        fail(str(exc), EXIT_FAILED)
    if as_json:
        typer.echo(json.dumps(run.to_dict(), indent=2, ensure_ascii=False))
    else:
        if on_token is not None:
            sys.stdout.write("\n")
            sys.stdout.flush()
        else:
            typer.echo(_answers_text(run))
        timing_table(run)
    if run.failures:
        raise SystemExit(EXIT_PARTIAL)


def read_prompt(prompt: str | None, prompt_file: Path | None) -> str:
    """The prompt from the argument, ``-`` (stdin) or ``--prompt-file``; one-line error if none."""
    if prompt is not None and prompt_file is not None:
        fail("give the prompt as an argument or with --prompt-file, not both")
    if prompt_file is not None:
        try:
            text = prompt_file.expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read the prompt file {str(prompt_file)!r}: {getattr(exc, 'strerror', None) or exc}")
    elif prompt == "-":
        text = sys.stdin.read()
    elif prompt is not None:
        text = prompt
    else:
        fail("no prompt: give it as an argument, '-' for stdin, or --prompt-file FILE")
    if not text.strip():
        fail("the prompt is empty")
    return text


def _print_token(token: str) -> None:
    sys.stdout.write(token)
    sys.stdout.flush()


def _warn(caught: list[warnings.WarningMessage]) -> None:
    for warning in caught:
        print(f"awspar: warning: {warning.message}", file=sys.stderr)
    caught.clear()


def _answers_text(run: Any) -> str:
    if run.winner is not None:
        return str(run.winner.text)
    answers = [a for a in run.answers if a is not None]
    if len(answers) == 1:
        return str(answers[0].text)
    return "\n\n".join(f"--- call {a.index} ---\n{a.text}" for a in answers)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def timing_table(run: Any) -> None:
    """Every call of ``run`` on stderr: outcome, latency, first token, tokens, attempts, note."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{run.strategy} · {run.model} · {run.api}{' stream' if run.stream else ''}",
        title_justify="left",
    )
    for column, justify in (
        ("call", "right"),
        ("outcome", "left"),
        ("latency s", "right"),
        ("first token s", "right"),
        ("tokens in/out", "right"),
        ("tries", "right"),
        ("note", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    styles = {"won": "bold green", "ok": "green", "rejected": "yellow", "failed": "red", "cancelled": "dim"}
    for call in run.calls:
        tokens = "-" if call.answer is None else f"{call.input_tokens or '-'}/{call.output_tokens or '-'}"
        note = (call.reason or "")[:80] if call.outcome in ("failed", "rejected") else ""
        table.add_row(
            str(call.index),
            f"[{styles[call.outcome]}]{call.outcome}[/]",
            _seconds(call.latency),
            _seconds(call.first_token),
            tokens,
            str(call.attempts),
            note,
        )
    console = Console(stderr=True, highlight=False)
    if not console.is_terminal:  # a file or a pipe: the whole table, not the first 80 columns of it
        natural = Console(stderr=True, width=10_000).measure(table).maximum
        console = Console(stderr=True, highlight=False, width=max(console.width, natural))
    console.print(table)
