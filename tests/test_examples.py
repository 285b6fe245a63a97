"""Every program in examples/ runs as a user runs it, against the local endpoints.

Each example is the unchanged file, run in a subprocess (the shell script with bash), pointed at
the local S3 endpoint and Bedrock simulator only through the standard variables
(``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, the test credentials, ``AWS_REGION``).
The Lambda handlers are run by ``examples/invoke_locally.py``, which imports the module once and
calls ``handler(event, None-like context)`` twice, as Lambda does across warm invocations.
"""

# ruff: noqa: F401, F811 - fixtures imported from _local_examples: used as, and shadowed by, test parameters

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import boto3
import pytest
from _local_examples import (  # the fixtures s3_endpoint, bedrock_endpoint, quiet_bedrock too
    BUCKET,
    EXAMPLES,
    OUTSIDE,
    PREFIX,
    SEEDED,
    answer_template,
    bedrock_endpoint,
    broken_json_first,
    json_lines,
    quiet_bedrock,
    run,
    s3_endpoint,
    sha256,
)

from awspar.testing.bedrock_server import BedrockServer
from awspar.testing.credentials import TEST_CREDENTIALS
from awspar.testing.environment import local_env
from awspar.testing.faults import EndpointBehaviour, FaultRates
from awspar.testing.object_server import ObjectServer

PYTHON = sys.executable
PREFIX_BYTES = sum(len(body) for body in SEEDED.values())


@pytest.fixture
def env(s3_endpoint: ObjectServer, bedrock_endpoint: BedrockServer) -> dict[str, str]:
    """This process's (AWS-free) environment, pointed at the local endpoints; ``awspar`` on PATH."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment.update(local_env(s3_endpoint.url, bedrock_endpoint.url))
    environment["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{environment.get('PATH', '')}"
    environment["AWS_CONFIG_FILE"] = environment["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return environment


def invoke(handler: str, event: dict, env: dict[str, str], times: int = 2) -> list[dict]:
    """Run ``handler`` through examples/invoke_locally.py; one JSON line per invocation."""
    proc = run([PYTHON, str(EXAMPLES / "invoke_locally.py"), handler, json.dumps(event), "--times", str(times)], env)
    lines = json_lines(proc.stdout)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert [line["invocation"] for line in lines] == list(range(1, times + 1))
    return lines


def assert_warm_reuse(lines: list[dict]) -> None:
    """The signer and the engine made at import serve every invocation (same objects)."""
    held = [line["awspar_objects"] for line in lines]
    assert {"SIGNER", "ENGINE"} <= set(held[0])
    assert all(objects == held[0] for objects in held)


# -- the Lambda handlers -----------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_lambda_s3_fanout_fetches_a_prefix_and_keys_with_checksums_and_reuses_its_engine(env) -> None:
    event = {"bucket": BUCKET, "prefix": PREFIX, "keys": ["missing.bin"]}
    lines = invoke("lambda_s3_fanout.handler", event, env)
    assert "init_s" in lines[0] and "init_s" not in lines[1]
    for line in lines:
        summary = line["result"]
        assert summary["count"] == len(SEEDED) and summary["bytes"] == PREFIX_BYTES
        assert {o["key"]: o["sha256"] for o in summary["objects"]} == {k: sha256(b) for k, b in SEEDED.items()}
        assert {o["key"]: o["size"] for o in summary["objects"]} == {k: len(b) for k, b in SEEDED.items()}
        assert all("length" in o["verified"] for o in summary["objects"])
        assert not set(OUTSIDE) & {o["key"] for o in summary["objects"]}
        assert summary["failed"] == 1
        (failure,) = summary["failures"]
        assert failure["key"] == "missing.bin" and failure["code"] == "NoSuchKey"
        assert (summary["engine"], summary["concurrency"]) == ("threads", 64)
        assert summary["seconds"] > 0
    assert_warm_reuse(lines)


@pytest.mark.timeout(60)
def test_lambda_s3_fanout_refuses_an_event_without_keys_or_prefix(env) -> None:
    proc = run([PYTHON, str(EXAMPLES / "invoke_locally.py"), "lambda_s3_fanout.handler",
                json.dumps({"bucket": BUCKET})], env)
    (line,) = json_lines(proc.stdout)
    assert proc.returncode == 1
    assert line["error"] == {"type": "ValueError", "message": "give 'keys' (a list) or 'prefix' (a string), or both"}


@pytest.mark.timeout(60)
def test_lambda_bedrock_race_returns_the_first_valid_json_skipping_broken_ones(env, quiet_bedrock) -> None:
    quiet_bedrock.configure(broken_json_first(invocations=2, n=3))
    prompt = "Reply with a JSON object for France."
    lines = invoke("lambda_bedrock_race.handler", {"prompt": prompt}, env)
    for line in lines:
        result = line["result"]
        assert result["ok"] is True
        assert result["answer"] == json.loads(answer_template(prompt))
        outcomes = [call["outcome"] for call in result["calls"]]
        assert outcomes.count("won") == 1 and outcomes.index("won") == result["winner"]
        rejected = [call for call in result["calls"] if call["outcome"] == "rejected"]
        assert rejected and all(call["reason"].startswith("not JSON") for call in rejected)
        assert result["winner_latency_s"] > 0 and result["elapsed_s"] >= result["winner_latency_s"]
    assert quiet_bedrock.stats()["faults"]["invalid_json"] >= 2
    assert_warm_reuse(lines)


@pytest.mark.timeout(60)
def test_lambda_bedrock_race_says_when_no_answer_is_valid_json(env, quiet_bedrock) -> None:
    quiet_bedrock.configure(EndpointBehaviour(faults=FaultRates(invalid_json=1.0)))
    (line,) = invoke("lambda_bedrock_race.handler", {"prompt": "json please", "n": 2}, env, times=1)
    result = line["result"]
    assert result["ok"] is False and "no answer passed the validator" in result["error"]
    assert [call["outcome"] for call in result["calls"]] == ["rejected", "rejected"]


# -- the scripts --------------------------------------------------------------------------------------

def downloaded(out: Path) -> dict[str, bytes]:
    return {path.relative_to(out).as_posix(): path.read_bytes() for path in out.rglob("*") if path.is_file()}


@pytest.mark.timeout(60)
def test_bulk_download_writes_the_prefix_then_skips_what_is_there(env, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run([PYTHON, str(EXAMPLES / "bulk_download.py"), BUCKET, PREFIX, str(out), "--mode", "threads"], env)
    assert proc.returncode == 0, proc.stderr
    assert re.match(rf"{len(SEEDED)} objects, {PREFIX_BYTES} bytes in [\d.]+ s .* with threads; 0 skipped, 0 failed",
                    proc.stdout)
    assert downloaded(out) == SEEDED  # same keys, same bytes, no temporary file left

    again = run([PYTHON, str(EXAMPLES / "bulk_download.py"), BUCKET, PREFIX, str(out), "--mode", "async",
                 "--skip-existing"], env)
    assert again.returncode == 0, again.stderr
    assert re.match(rf"0 objects, 0 bytes in .* with async; {len(SEEDED)} skipped, 0 failed", again.stdout)


@pytest.mark.timeout(60)
def test_bulk_download_of_a_missing_bucket_fails_in_one_line(env, tmp_path: Path) -> None:
    proc = run([PYTHON, str(EXAMPLES / "bulk_download.py"), "no-such-bucket", "", str(tmp_path / "out")], env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "bulk_download: NoSuchBucket (s3.ListObjectsV2): The specified bucket does not exist [HTTP 404]"
    ]
    assert not downloaded(tmp_path)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("options", [["--mode", "threads"], ["--json"]], ids=["race-threads", "first-valid-json"])
def test_bedrock_race_prints_the_winner_and_a_row_per_call(env, quiet_bedrock, options: list[str]) -> None:
    if "--json" in options:
        quiet_bedrock.configure(broken_json_first(invocations=1, n=3))
    prompt = "Which city is the capital of France?"
    proc = run([PYTHON, str(EXAMPLES / "bedrock_race.py"), prompt, "--n", "3", *options], env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert json.loads(lines[0]) == json.loads(answer_template(prompt))
    winner = re.fullmatch(r"call (\d) won in [\d.]+ s \(3 calls, (race|first-valid), anthropic\.\S+\)", lines[2])
    assert winner is not None and winner.group(2) == ("first-valid" if "--json" in options else "race")
    rows = [line.split() for line in lines[4:]]
    assert [row[0] for row in rows] == ["0", "1", "2"]
    assert [row[1] for row in rows].count("won") == 1 and rows[int(winner.group(1))][1] == "won"
    if "--json" in options:
        assert any(row[1] == "rejected" and "not JSON" in " ".join(row) for row in rows)


@pytest.mark.timeout(60)
def test_sign_and_curl_puts_and_gets_back_with_curl(env, s3_endpoint: ObjectServer) -> None:
    key = "curl/hello from curl.txt"
    proc = run(["bash", str(EXAMPLES / "sign_and_curl.sh"), BUCKET, key], env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("HTTP 200") == 3
    assert proc.stdout.count("hello from curl, signed by awspar") == 2
    assert proc.stdout.rstrip().endswith("both GETs returned the bytes the PUT sent")
    s3 = boto3.client("s3", endpoint_url=s3_endpoint.url, **TEST_CREDENTIALS.boto3_kwargs())
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"hello from curl, signed by awspar\n"


@pytest.mark.timeout(60)
def test_sign_and_curl_refuses_to_send_off_this_machine(env) -> None:
    # 127.0.0.2 is still loopback: nothing could leave the machine even if the guard failed
    proc = run(["bash", str(EXAMPLES / "sign_and_curl.sh"), BUCKET, "k"], {**env, "AWS_ENDPOINT_URL_S3": "http://127.0.0.2:9"})
    assert proc.returncode == 1
    assert "refusing to send to http://127.0.0.2:9" in proc.stderr
    assert "HTTP" not in proc.stdout


@pytest.mark.timeout(60)
def test_sign_centrally_send_from_workers_without_credentials(env) -> None:
    proc = run([PYTHON, str(EXAMPLES / "sign_centrally_send_anywhere.py"), BUCKET, "--prefix", PREFIX,
                "--workers", "2"], env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    workers = [re.fullmatch(r"worker (\d) \(pid (\d+)\): AWS variables none, botocore not loaded", line)
               for line in lines[:2]]
    assert all(workers)
    pids = {match.group(2) for match in workers if match}
    assert lines[2].startswith(f"listed {len(SEEDED)} objects under '{PREFIX}' (signed here, sent by pid ")
    rows = [re.fullmatch(r"(.+)  (\d+) bytes  sha256 ([0-9a-f]{64})  [\d.]+ s  pid (\d+)", line) for line in lines[3:-1]]
    assert all(rows)
    got = {m.group(1): (int(m.group(2)), m.group(3)) for m in rows if m}
    assert got == {key: (len(body), sha256(body)) for key, body in SEEDED.items()}
    assert {m.group(4) for m in rows if m} == pids  # both workers sent some
    assert lines[-1].endswith("sent by 2 workers; no worker held credentials or loaded botocore")
