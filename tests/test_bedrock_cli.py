"""``awspar bedrock``: bad input fails in one line before anything is sent; runs against the local
Bedrock simulator print the answer, the timing table, JSON, and exit with meaningful codes."""

from __future__ import annotations

import json

import pytest

typer_testing = pytest.importorskip("typer.testing", reason="the CLI needs the 'cli' extra")

from awspar.cli.app import build_app  # noqa: E402


def run_cli(*args: str, input: str | None = None):
    runner = typer_testing.CliRunner()
    return runner.invoke(build_app(), ["bedrock", *args], input=input)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no prompt"),
        (("  ",), "the prompt is empty"),
        (("hi", "--race", "--all"), "choose one of --race, --all"),
        (("hi", "--first-valid", "xml"), "unknown validator 'xml'"),
        (("hi", "--first-valid", "regex:("), "bad regular expression"),
        (("hi", "--api", "invoke", "--model", "meta.llama3-8b-instruct-v1:0"), "supported families"),
        (("hi", "--api", "chat"), "api must be 'converse' or 'invoke'"),
        (("hi", "--mode", "warp"), "unknown engine 'warp'"),
        (("--prompt-file", "/no/such/prompt.txt"), "cannot read the prompt file"),
        (("hi", "--prompt-file", "p.txt"), "not both"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = run_cli(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("awspar: ") and message in lines[0]
    assert result.stdout == ""


def test_empty_stdin_prompt_is_refused():
    result = run_cli("-", input="\n")
    assert result.exit_code == 2 and "the prompt is empty" in result.stderr
