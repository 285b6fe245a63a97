"""Bad input is one line on stderr and exit 2 in every command, mapped at the app's one boundary;
``--debug`` shows the traceback instead; the app answers ``--version`` and ``-h``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from awspar.cli.app import build_app
from awspar.testing import TEST_CREDENTIALS

# Each command up to the point where it signs; nothing is sent before the error.
COMMANDS = {
    "s3-get": ["s3-get", "demo", "a.txt"],
    "bedrock": ["bedrock", "hi", "--n", "1"],
    "sign": ["sign", "s3", "GetObject", "-p", "Bucket=demo", "-p", "Key=a.txt"],
}
ENDPOINT_VARIABLE = {"s3-get": "AWS_ENDPOINT_URL_S3", "bedrock": "AWS_ENDPOINT_URL", "sign": "AWS_ENDPOINT_URL_S3"}
BAD_ENDPOINTS = {
    "notaurl": "no scheme",
    "localhost:9000": "no scheme",
    "ftp://example.com": "scheme is 'ftp'",
    "http://[::1": "Invalid IPv6 URL",
}


def _invoke(args: list[str], tmp_path: Path, env: dict[str, str] | None = None, stdin: bytes | None = None):
    """``awspar ARGS`` in-process, in ``tmp_path``, with the test credentials."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        return CliRunner().invoke(build_app(), args, env={**TEST_CREDENTIALS.env(), **(env or {})}, input=stdin)
    finally:
        os.chdir(cwd)


def _assert_one_line(result, *expected: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert result.stderr.startswith("awspar: ") and result.stderr.count("\n") == 1, result.stderr
    for text in expected:
        assert text in result.stderr


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("endpoint", list(BAD_ENDPOINTS))
def test_a_bad_endpoint_url_option_is_one_line_and_exit_2(command, endpoint, tmp_path) -> None:
    result = _invoke([*COMMANDS[command], "--endpoint-url", endpoint], tmp_path)
    _assert_one_line(result, f"invalid endpoint URL {endpoint!r}", BAD_ENDPOINTS[endpoint])
    assert not list(tmp_path.iterdir())  # nothing was written


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("endpoint", ["localhost:9000", "ftp://example.com"])
def test_a_bad_endpoint_url_in_the_environment_names_the_variable(command, endpoint, tmp_path) -> None:
    variable = ENDPOINT_VARIABLE[command]
    result = _invoke(COMMANDS[command], tmp_path, env={variable: endpoint})
    _assert_one_line(result, f"invalid endpoint URL {endpoint!r} (from {variable})")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_config_file_that_does_not_parse_is_one_line_and_exit_2(command, tmp_path) -> None:
    config = tmp_path / "broken-config"
    config.write_text("[default\nregion = us-east-1\n")
    result = _invoke(COMMANDS[command], tmp_path, env={"AWS_CONFIG_FILE": str(config)})
    _assert_one_line(result, f"Unable to parse config file: {config}")


@pytest.mark.parametrize("from_stdin", [False, True])
def test_a_keys_file_that_is_not_utf8_names_the_line_and_byte(from_stdin, tmp_path) -> None:
    data = "a.txt\ncaf\u00e9.txt\n".encode("latin-1")  # é is 0xe9 at byte 9
    keys = tmp_path / "keys.txt"
    keys.write_bytes(data)
    source = "-" if from_stdin else str(keys)
    result = _invoke(["s3-get", "demo", "--keys-from", source, "--out", str(tmp_path / "out"),
                      "--endpoint-url", "http://127.0.0.1:9"], tmp_path, stdin=data if from_stdin else None)
    _assert_one_line(result, "line 2 is not UTF-8 text (byte 0xe9 at offset 9)")


def test_overwrite_and_skip_existing_together_are_refused(tmp_path) -> None:
    for args in (["--overwrite", "--skip-existing"], ["--skip-existing", "--overwrite"]):
        result = _invoke([*COMMANDS["s3-get"], "--out", str(tmp_path / "out"), *args], tmp_path)
        _assert_one_line(result, "choose one of --overwrite and --skip-existing")


def test_no_credentials_hint_names_no_python_argument(tmp_path, monkeypatch) -> None:
    result = CliRunner().invoke(build_app(), COMMANDS["sign"], env={"AWS_REGION": "us-east-1"})
    _assert_one_line(result, "no AWS credentials")
    assert "session=" not in result.stderr and "AWS_PROFILE" in result.stderr


def test_version_and_short_help() -> None:
    from awspar import __version__

    version = CliRunner().invoke(build_app(), ["--version"])
    assert version.exit_code == 0 and version.stdout == f"awspar {__version__}\n"
    for args in (["-h"], ["s3-get", "-h"], ["sign", "-h"]):
        result = CliRunner().invoke(build_app(), args, env={"COLUMNS": "200"})
        assert result.exit_code == 0 and "Usage: awspar" in result.stdout, (args, result.stdout)
    assert "--debug" in CliRunner().invoke(build_app(), ["-h"], env={"COLUMNS": "200"}).stdout


@pytest.mark.timeout(60)
def test_debug_shows_the_traceback_and_the_one_line(tmp_path) -> None:
    """As a user runs it (``main()``, the command named after the global option)."""
    env = {**os.environ, **TEST_CREDENTIALS.env()}
    args = [sys.executable, "-c", "from awspar.cli import main; main()"]
    plain = subprocess.run([*args, *COMMANDS["sign"], "--endpoint-url", "notaurl"],
                           env=env, capture_output=True, text=True, timeout=60, check=False)
    debug = subprocess.run([*args, "--debug", *COMMANDS["sign"], "--endpoint-url", "notaurl"],
                           env=env, capture_output=True, text=True, timeout=60, check=False)
    assert plain.returncode == debug.returncode == 2
    assert "Traceback" not in plain.stderr and plain.stderr.count("\n") == 1
    assert "Traceback (most recent call last)" in debug.stderr and "ConfigurationError" in debug.stderr
    assert debug.stderr.splitlines()[-1] == plain.stderr.strip()


def test_plural() -> None:
    from awspar.cli._output import plural

    assert (plural(0, "object"), plural(1, "object"), plural(2, "byte")) == ("0 objects", "1 object", "2 bytes")


@pytest.mark.parametrize(
    ("command", "usage"),
    [("s3-get", "awspar s3-get [OPTIONS] BUCKET [KEYS]..."), ("s3-put", "awspar s3-put [OPTIONS] BUCKET PATHS..."),
     ("sign", "awspar sign [OPTIONS] SERVICE OPERATION"), ("call", "awspar call [OPTIONS] SERVICE OPERATION"),
     ("bedrock", "awspar bedrock [OPTIONS] [PROMPT]"), ("bench", "awspar bench [OPTIONS] [WORKLOADS]...")],
)
def test_usage_names_the_arguments_as_their_help_does(command, usage) -> None:
    """The old usage line read ``awspar s3-get [OPTIONS] {bucket} [keys]...``."""
    result = CliRunner().invoke(build_app(command), [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert usage in result.stdout, result.stdout[:300]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("command", "word"), [("bedrock", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"),
                                               ("local", "lognormal:MEDIAN_MS,SIGMA"), ("s3-get", "AWS_ENDPOINT_URL_S3")])
def test_help_into_a_pipe_is_not_cut_at_80_columns(command, word) -> None:
    """The old help, piped, was laid out for 80 columns with long words cut ('AWS_ENDPOINT_URL_BEDROC…')."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERMINAL_WIDTH")}
    done = subprocess.run([sys.executable, "-c", "from awspar.cli import main; main()", command, "--help"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout and word in done.stdout
