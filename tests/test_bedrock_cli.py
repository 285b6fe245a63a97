"""``awspar bedrock``: bad input fails in one line before anything is sent; runs against the local
Bedrock simulator print the answer, the timing table, JSON, and exit with meaningful codes."""

from __future__ import annotations

import json

import pytest

typer_testing = pytest.importorskip("typer.testing", reason="the CLI needs the 'cli' extra")

from awspar.cli.app import build_app


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
        (("hi", "--mode", "boto3"), "the boto3 engine re-sends each request"),
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


@pytest.fixture(scope="module")
def server():
    pytest.importorskip("aiohttp", reason="the Bedrock simulator needs aiohttp")
    from awspar.testing.bedrock_server import BedrockServer

    with BedrockServer() as endpoint:
        yield endpoint


@pytest.fixture
def local_env(server, monkeypatch):
    """Credentials, region and endpoint from the standard AWS environment variables."""
    from awspar.testing.credentials import TEST_CREDENTIALS

    for name, value in TEST_CREDENTIALS.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.url)
    server.answer = "echo"
    server.reset()
    yield server
    server.reset()


def test_race_prints_the_answer_and_the_timing_table(local_env):
    from awspar.testing.faults import EndpointBehaviour, Latency

    local_env.configure(EndpointBehaviour(latency=Latency(150, 0.8), seed=3))  # 0.09, 0.36, 0.24 s
    result = run_cli("--n", "3", "--race", "hello from the cli")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "hello from the cli\n"
    table = result.stderr
    assert "race" in table and "won" in table and table.count("cancelled") == 2
    assert "latency s" in table and "first token s" in table


def test_stream_prints_tokens_as_they_come(local_env):
    from awspar.testing.faults import EndpointBehaviour

    local_env.configure(EndpointBehaviour(tokens_per_s=200))
    result = run_cli("--race", "--stream", "--api", "invoke", "tick tock clock")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "tick tock clock\n"
    assert local_env.stats()["operations"] == {"InvokeModelWithResponseStream": 3}


def test_json_output_holds_every_call(local_env, tmp_path):
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("from a file")
    result = run_cli("--prompt-file", str(prompt), "--n", "2", "--json", "--mode", "threads")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["strategy"] == "all" and data["model"] == "anthropic.claude-3-haiku-20240307-v1:0"
    assert [c["text"] for c in data["calls"]] == ["from a file"] * 2
    assert all(c["outcome"] == "ok" and c["latency_s"] > 0 for c in data["calls"])


def test_stdin_prompt_and_all_answers(local_env):
    result = run_cli("-", "--n", "2", input="piped prompt")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "--- call 0 ---\npiped prompt\n\n--- call 1 ---\npiped prompt\n"


def test_no_valid_answer_exits_3_with_one_clear_line(local_env):
    from awspar.testing.faults import EndpointBehaviour, FaultRates

    local_env.answer = "json"
    local_env.configure(EndpointBehaviour(faults=FaultRates(invalid_json=1.0)))
    result = run_cli("--first-valid", "json", "reply in JSON")
    assert result.exit_code == 3
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("awspar: no answer passed the validator: 3 of 3 rejected")
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("anthropic.claude-3-opus-20240229-v1:0", "AccessDeniedException"),
        ("mistral.unknown-v1:0", "model identifier is invalid"),
    ],
)
def test_model_errors_exit_3(local_env, model, expected):
    result = run_cli("--model", model, "hi")
    assert result.exit_code == 3
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("awspar: every call failed (3 of 3)") and expected in last


def test_large_race_warns_on_stderr(local_env):
    result = run_cli("--race", "--n", "6", "--max-tokens", "10", "many")
    assert result.exit_code == 0
    assert "awspar: warning: racing 6 calls reserves 6 x 10 = 60 tokens" in result.stderr


def test_concurrency_auto_keeps_to_a_quota_of_three_calls(local_env):
    """Ten calls against a model that serves 3 at once (429 ThrottlingException above it): the
    default ``--concurrency auto`` backs off to the quota and every call is answered."""
    from awspar.testing import Capacity, EndpointBehaviour, Latency

    local_env.configure(EndpointBehaviour(latency=Latency(200), capacity=Capacity(concurrent=3)))
    result = run_cli("hi", "--n", "10", "--all", "--json")
    assert result.exit_code == 0, result.output
    calls = json.loads(result.stdout)["calls"]
    stats = local_env.stats()
    assert [c["outcome"] for c in calls] == ["ok"] * 10
    assert stats["statuses"].get("200") == 10
    # the first window (8 at once) finds the quota; after it, about one probe per round trip
    assert 0 < stats["faults"]["capacity"] <= 10 and sum(c["attempts"] for c in calls) == stats["requests"]
