"""``awspar call`` as a user runs it: a subprocess against moto's server with signature checks on."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest

TABLE = "awspar-call-cli"


@pytest.fixture(scope="module")
def aws(moto_server):
    ddb = moto_server.client("dynamodb")
    ddb.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    for i in range(7):
        ddb.put_item(TableName=TABLE, Item={"pk": {"S": f"k{i}"}, "n": {"N": str(i)}, "b": {"B": bytes([i, 255])}})
    return moto_server


def _run(aws, *args: str, stdin: str | None = None, env: dict[str, str] | None = None,
         **kwargs) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **aws.env(), **(env or {})}
    kwargs.setdefault("capture_output", True)
    return subprocess.run([sys.executable, "-c", "from awspar.cli import main; main()", "call", *args],
                          check=False, env=full_env, text=True, input=stdin, timeout=90, **kwargs)


def _lines(done: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in done.stdout.splitlines()]


def _key(i: int) -> str:
    return json.dumps({"Key": {"pk": {"S": f"k{i}"}}})


@pytest.mark.timeout(90)
def test_json_lines_in_input_order_with_blobs_as_base64(aws) -> None:
    stdin = "\n".join(_key(i) for i in (3, 1, 6, 0)) + "\n\n"
    done = _run(aws, "dynamodb", "GetItem", "--params-from", "-", "--param", f"TableName={TABLE}", stdin=stdin)
    assert done.returncode == 0, done.stderr
    results = _lines(done)
    assert [(r["index"], r["line"]) for r in results] == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert [r["response"]["Item"]["n"]["N"] for r in results] == ["3", "1", "6", "0"]
    assert base64.b64decode(results[0]["response"]["Item"]["b"]["B"]) == bytes([3, 255])
    assert all(r["request_id"] and "ResponseMetadata" not in r["response"] for r in results)
    assert "4 ok, 0 failed; 4 calls in" in done.stderr


@pytest.mark.timeout(90)
def test_some_failed_exit_1_and_each_error_is_on_its_line(aws) -> None:
    done = _run(aws, "dynamodb", "GetItem", "--params-from", "-", "--mode", "threads", "--unordered", "--json",
                "--concurrency", "4", "--retries", "2", "--timeout", "30",
                stdin=json.dumps({"TableName": TABLE, **json.loads(_key(2))}) + "\n"
                + json.dumps({"TableName": "missing", **json.loads(_key(2))}) + "\n")
    assert done.returncode == 1
    by_index = {r["index"]: r for r in _lines(done)}
    assert by_index[0]["ok"] and not by_index[1]["ok"]
    error = by_index[1]["error"]
    assert error["code"] == "ResourceNotFoundException" and error["status"] == 400 and error["request_id"]
    summary = json.loads(done.stderr)
    assert summary["ok"] == 1 and summary["failed"] == 1 and summary["exit_code"] == 1
    assert summary["error_codes"] == {"ResourceNotFoundException": 1}


@pytest.mark.timeout(90)
def test_param_repeated_n_times_and_kms_blobs_both_ways(aws) -> None:
    key_id = aws.client("kms").create_key()["KeyMetadata"]["KeyId"]
    secret = bytes(range(32))
    done = _run(aws, "kms", "Encrypt", "--param", f"KeyId={key_id}", "--param",
                f"Plaintext={base64.b64encode(secret).decode()}", "--n", "3")
    assert done.returncode == 0, done.stderr
    blobs = [r["response"]["CiphertextBlob"] for r in _lines(done)]
    assert len(blobs) == 3
    decrypted = _run(aws, "kms", "Decrypt", "--params-from", "-",
                     stdin="".join(json.dumps({"CiphertextBlob": b}) + "\n" for b in blobs))
    assert [base64.b64decode(r["response"]["Plaintext"]) for r in _lines(decrypted)] == [secret] * 3
    raw = _run(aws, "kms", "Encrypt", "--param", f"KeyId={key_id}", "--param", "Plaintext=plain text",
               "--binary", "raw-in-base64-out")
    [encrypted] = _lines(raw)
    plain = aws.client("kms").decrypt(CiphertextBlob=base64.b64decode(encrypted["response"]["CiphertextBlob"]))
    assert plain["Plaintext"] == b"plain text"


@pytest.mark.timeout(90)
def test_bad_lines_end_the_input_after_what_was_read_is_answered(aws) -> None:
    good = json.dumps({"TableName": TABLE, **json.loads(_key(1))})
    for bad, said in [("not json", "line 3 is not JSON"), ("[1, 2]", "line 3 is a JSON list, not an object"),
                      (json.dumps({"TableName": TABLE, "Kee": 1}), "line 3: Parameter validation failed"),
                      (json.dumps({"TableName": TABLE, "Key": {"pk": {"B": "*not base64*"}}}),
                       "line 3: Key.pk.B is a blob: give it as base64")]:
        done = _run(aws, "dynamodb", "GetItem", "--params-from", "-", stdin=f"{good}\n{good}\n{bad}\n{good}\n")
        assert done.returncode == 2, (bad, done.stderr)
        assert done.stderr.strip().splitlines()[-1].startswith(f"awspar: --params-from standard input: {said}")
        assert [r["index"] for r in _lines(done)] == [0, 1]  # the lines before it were sent and answered


@pytest.mark.timeout(90)
def test_not_utf8_and_missing_file_are_one_line(aws, tmp_path) -> None:
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"TableName": "caf\xe9"}\n')
    done = _run(aws, "dynamodb", "GetItem", "--params-from", str(latin))
    assert done.returncode == 2 and "line 1 is not UTF-8 text" in done.stderr
    missing = _run(aws, "dynamodb", "GetItem", "--params-from", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "No such file" in missing.stderr and len(missing.stderr.splitlines()) == 1


@pytest.mark.timeout(90)
@pytest.mark.parametrize(("args", "said"), [
    (["dynamdb", "GetItem"], "unknown service 'dynamdb'; did you mean: dynamodb"),
    (["dynamodb", "GetItme"], "dynamodb has no operation 'GetItme'; did you mean: GetItem"),
    (["bedrock-runtime", "ConverseStream"], "streams events"),
    (["dynamodb", "GetItem", "--params-from", "-", "--n", "2"], "not with --params-from"),
    (["dynamodb", "GetItem", "--mode", "fast"], "--mode 'fast' is not one of"),
    (["dynamodb", "GetItem", "--paginate"], "does not paginate"),
    (["dynamodb", "GetItem", "--concurrency", "lots"], "--concurrency must be auto or a whole number"),
])
def test_bad_usage_is_one_line_and_exit_2(aws, args, said) -> None:
    done = _run(aws, *args)
    assert done.returncode == 2, done.stderr
    assert said in done.stderr and len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""


@pytest.mark.timeout(90)
def test_paginate_merges_each_inputs_pages(aws) -> None:
    done = _run(aws, "dynamodb", "Scan", "--param", f"TableName={TABLE}", "--param", "Limit=2", "--paginate",
                "--n", "2", "--mode", "threads")
    assert done.returncode == 0, done.stderr
    for result in _lines(done):
        assert result["pages"] == 4 and result["attempts"] == 4
        assert sorted(item["pk"]["S"] for item in result["response"]["Items"]) == [f"k{i}" for i in range(7)]


@pytest.mark.timeout(90)
def test_nothing_reachable_exits_3(aws) -> None:
    done = _run(aws, "sts", "GetCallerIdentity", "--n", "2", env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert done.returncode == 3
    assert {r["error"]["code"] for r in _lines(done)} == {"ConnectError"}
    wrong = _run(aws, "sts", "GetCallerIdentity", env={"AWS_SECRET_ACCESS_KEY": "wrong-secret-value"})
    assert wrong.returncode == 3 and "wrong-secret-value" not in wrong.stdout + wrong.stderr


@pytest.mark.timeout(90)
def test_service_endpoint_variable_wins(aws) -> None:
    """AWS_ENDPOINT_URL_STS points at moto while AWS_ENDPOINT_URL points nowhere."""
    done = _run(aws, "sts", "GetCallerIdentity", env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9",
                                                      "AWS_ENDPOINT_URL_STS": aws.url})
    assert done.returncode == 0, done.stderr
    assert _lines(done)[0]["response"]["Arn"].endswith("user/awspar-test")


@pytest.mark.timeout(90)
def test_progress_bar_only_on_a_terminal(aws) -> None:
    import pty

    leader, follower = pty.openpty()
    try:
        done = _run(aws, "sts", "GetCallerIdentity", "--n", "3", stderr=follower, capture_output=False,
                    stdout=subprocess.PIPE, env={"COLUMNS": "100"})
        os.close(follower)
        follower = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert done.returncode == 0
    assert b"calls" in drawn and b"3/3" in drawn
    assert len(_lines(done)) == 3


@pytest.mark.timeout(90)
def test_profile_from_the_config_files(aws, tmp_path) -> None:
    (tmp_path / "credentials").write_text(f"[other]\naws_access_key_id = {aws.credentials.access_key}\n"
                                          f"aws_secret_access_key = {aws.credentials.secret_key}\n")
    (tmp_path / "config").write_text("[profile other]\nregion = us-east-1\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
           "AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
           "AWS_ENDPOINT_URL": aws.url}
    done = subprocess.run([sys.executable, "-c", "from awspar.cli import main; main()", "call", "sts",
                           "GetCallerIdentity", "--profile", "other"], env=env, capture_output=True, text=True,
                          timeout=90, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["response"]["Arn"].endswith("user/awspar-test")
    missing = subprocess.run([sys.executable, "-c", "from awspar.cli import main; main()", "call", "sts",
                              "GetCallerIdentity", "--profile", "nope"], env=env, capture_output=True, text=True,
                             timeout=90, check=False)
    assert missing.returncode == 2 and "nope" in missing.stderr and len(missing.stderr.splitlines()) == 1
