"""``awspar s3-get`` as a user runs it: a subprocess against the project's S3 endpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from awspar.testing import TEST_CREDENTIALS, EndpointBehaviour, GeneratedBucket, ObjectServer

BODIES = {"a.txt": b"alpha", "dir/b c.txt": b"beta" * 100, "../escape": b"no"}
#: Objects large enough to stream into temporary files (small ones are held in memory until written).
BIG = GeneratedBucket(8, 3 * 1024 * 1024)


@pytest.fixture(scope="module")
def server():
    with ObjectServer({"demo": BODIES, "gen": GeneratedBucket(200, 1024), "big": BIG}) as srv:
        yield srv


def _run(server, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": server.url, **(env or {})}
    return subprocess.run([sys.executable, "-c", "from awspar.cli import main; main()", "s3-get", *args],
                          check=False, env=full_env, capture_output=True, text=True, input=stdin, timeout=60)


def _tmp_files(root) -> list[str]:
    return [f for _, _, files in os.walk(root) for f in files if f.startswith(".awspar-")]


@pytest.mark.timeout(60)
def test_all_ok_exits_0_with_a_summary(server, tmp_path) -> None:
    done = _run(server, "demo", "a.txt", "dir/b c.txt", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "2 ok, 0 failed" in done.stdout and "requests/s" in done.stdout
    assert (tmp_path / "dir" / "b c.txt").read_bytes() == BODIES["dir/b c.txt"]
    assert done.stderr == ""  # not a terminal: no progress bar


@pytest.mark.timeout(60)
def test_missing_and_unsafe_keys_exit_1_and_are_listed(server, tmp_path) -> None:
    done = _run(server, "demo", "--prefix", "", "missing-key", "--out", str(tmp_path), "--mode", "threads")
    assert done.returncode == 1
    assert "NoSuchKey" in done.stderr and "UnsafeKey" in done.stderr
    assert (tmp_path / "a.txt").read_bytes() == b"alpha"
    assert not (tmp_path.parent / "escape").exists()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("listed", [False, True], ids=["named keys (HeadObject)", "--prefix (the listing)"])
def test_skip_existing_skips_only_a_file_that_is_the_object(server, tmp_path, listed) -> None:
    """A file of the object's size and MD5 is skipped (and reported with its size); a truncated
    one, or one of the right size but other bytes, is fetched again. The old code skipped any
    file that existed, a truncated one included."""
    (tmp_path / "a.txt").write_bytes(b"alpha")  # the object itself
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "b c.txt").write_bytes(BODIES["dir/b c.txt"][:17])  # truncated
    (tmp_path / "dir" / "c.txt").write_bytes(b"gamma")  # the right size, other bytes
    bucket = "skip-listed" if listed else "skip-named"
    server.create_bucket(bucket, {"a.txt": b"alpha", "dir/b c.txt": BODIES["dir/b c.txt"], "dir/c.txt": b"delta"})
    source = ["--prefix", ""] if listed else ["--keys-from", "-"]
    done = _run(server, bucket, *source, "--out", str(tmp_path), "--json", "--skip-existing",
                stdin=None if listed else "a.txt\ndir/b c.txt\ndir/c.txt\n")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    objects = {o["key"]: o for o in report["objects"]}
    assert objects["a.txt"]["skipped"] and objects["a.txt"]["size"] == 5
    assert {"length", "md5"} <= set(objects["a.txt"]["verified"])
    assert not objects["dir/b c.txt"]["skipped"] and objects["dir/b c.txt"]["ok"]
    assert not objects["dir/c.txt"]["skipped"] and objects["dir/c.txt"]["ok"]
    assert (tmp_path / "a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "dir" / "b c.txt").read_bytes() == BODIES["dir/b c.txt"]
    assert (tmp_path / "dir" / "c.txt").read_bytes() == b"delta"
    assert report["skipped"] == 1 and report["skipped_bytes"] == 5


@pytest.mark.timeout(60)
def test_auto_mode_takes_threads_for_one_wave_of_named_keys_or_without_aiohttp_else_async(server, tmp_path) -> None:
    """One wave of named keys is over in a round trip: start-up is what the user waits for."""
    env = {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": server.url}
    program = ("import sys\nfrom awspar.cli import main\ntry:\n    main()\n"
               "finally:\n    print('aiohttp loaded:', 'aiohttp' in sys.modules, file=sys.stderr)")
    few = subprocess.run([sys.executable, "-c", program, "s3-get", "demo", "a.txt", "dir/b c.txt", "--json",
                          "--out", str(tmp_path / "few")], env=env, capture_output=True, text=True, timeout=60)
    assert few.returncode == 0, few.stderr
    assert json.loads(few.stdout)["mode"] == "threads" and "aiohttp loaded: False" in few.stderr
    listed = _run(server, "demo", "--prefix", "dir/", "--json", "--out", str(tmp_path / "listed"))
    assert listed.returncode == 0 and json.loads(listed.stdout)["mode"] == "async"
    many = _run(server, "demo", "a.txt", "dir/b c.txt", "--concurrency", "1", "--json", "--out", str(tmp_path / "many"))
    assert many.returncode == 0 and json.loads(many.stdout)["mode"] == "async"  # more keys than one wave
    without_aiohttp = ("import sys\nsys.modules['aiohttp'] = None  # as if the async extra were not installed\n"
                       "from awspar.cli import main\nmain()")
    plain = subprocess.run([sys.executable, "-c", without_aiohttp, "s3-get", "demo", "--prefix", "dir/", "--json",
                            "--out", str(tmp_path / "plain")], env=env, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["mode"] == "threads"


@pytest.mark.timeout(60)
def test_a_byte_order_mark_at_the_start_of_a_keys_file_is_not_part_of_the_first_key(server, tmp_path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_bytes("\ufeffa.txt\r\ndir/b c.txt\r\n".encode())
    done = _run(server, "demo", "--keys-from", str(keys), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"alpha"


@pytest.mark.timeout(60)
def test_the_summary_counts_agree_with_their_nouns(server, tmp_path) -> None:
    missing = "".join(f"missing-{i}\n" for i in range(21))  # one more than are listed
    done = _run(server, "demo", "--keys-from", "-", "--out", str(tmp_path), stdin=missing)
    assert done.returncode == 1
    assert "... and 1 more failure\n" in done.stderr


@pytest.mark.timeout(60)
def test_debug_logs_the_requests_without_a_signature_or_a_session_token(server, tmp_path) -> None:
    from awspar.testing.credentials import TEST_SESSION_CREDENTIALS as SESSION

    env = {**os.environ, **SESSION.env(), "AWS_ENDPOINT_URL": server.url}
    done = subprocess.run([sys.executable, "-c", "from awspar.cli import main; main()", "--debug", "s3-get", "demo",
                           "a.txt", "--mode", "threads", "--out", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "urllib3.connectionpool [DEBUG]" in done.stderr and "X-Amz-Signature=***" in done.stderr
    assert SESSION.session_token and SESSION.session_token not in done.stderr
    assert SESSION.access_key not in done.stderr and "Signature=" not in done.stderr.replace("Signature=***", "")


@pytest.mark.timeout(60)
def test_stdout_writes_the_bytes(server) -> None:
    done = _run(server, "demo", "dir/b c.txt", "--stdout")
    assert done.returncode == 0 and done.stdout == BODIES["dir/b c.txt"].decode()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("args", "env", "code", "says"),
    [
        (["demo"], {}, 2, "nothing to fetch"),
        (["demo", "a", "b", "--stdout"], {}, 2, "exactly one object"),
        (["demo", "a", "--mode", "warp"], {}, 2, "--mode"),
        (["no-such-bucket", "--prefix", "x"], {}, 3, "does not exist"),
        (["demo", "a.txt"], {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, 3, "cannot reach"),
        (["demo", "a.txt"], {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_CONFIG_FILE": "/nonexistent",
                             "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}, 2, "credentials"),
    ],
)
def test_errors_are_one_line_with_meaningful_exit_codes(server, tmp_path, args, env, code, says) -> None:
    done = _run(server, *args, "--out", str(tmp_path), env=env) if "--stdout" not in args else _run(server, *args)
    assert done.returncode == code, done.stderr
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert TEST_CREDENTIALS.secret_key not in done.stderr + done.stdout


@pytest.mark.timeout(60)
def test_ctrl_c_exits_130_and_leaves_no_partial_files(server, tmp_path) -> None:
    server.configure(EndpointBehaviour(body_rate=1_000_000))  # each body takes ~3 s to arrive
    try:
        env = {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": server.url}
        keys = [BIG.key(i) for i in range(BIG.count)]
        proc = subprocess.Popen([sys.executable, "-c", "from awspar.cli import main; main()", "s3-get", "big", *keys,
                                 "--out", str(tmp_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.monotonic() + 30
        while not _tmp_files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _tmp_files(tmp_path), "the fetch never started"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        server.configure(EndpointBehaviour())
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert _tmp_files(tmp_path) == []
    assert not any(f for _, _, files in os.walk(tmp_path) for f in files)


@pytest.mark.parametrize("command", ["sign", "s3-get", "bedrock"])
def test_connection_options_state_their_defaults(command) -> None:
    from typer.testing import CliRunner

    from awspar.cli.app import build_app

    result = CliRunner().invoke(build_app(command), [command, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for option, default in (("--region", "default: AWS_REGION"), ("--endpoint-url", "default: AWS_ENDPOINT_URL"),
                            ("--profile", "default: AWS_PROFILE")):
        assert option in text and default in text, (option, text)


@pytest.mark.timeout(60)
def test_a_command_run_imports_only_its_own_module() -> None:
    import subprocess
    import sys

    code = ("import sys\nfrom awspar.cli import main\ntry:\n    main(['s3-get', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('awspar.cli.') or m == 'awspar.bedrock'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.strip().splitlines()[-1]
    assert "awspar.cli.s3_get" in loaded and "awspar.cli.bedrock" not in loaded and "awspar.bedrock'" not in loaded


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["threads", "async"])
@pytest.mark.parametrize("skip_existing", [False, True])
def test_a_key_named_twice_or_also_listed_is_fetched_once(server, tmp_path, mode, skip_existing) -> None:
    """The old code fetched it twice: the second copy failed with FileExists (exit 1), even
    with --skip-existing (both copies started before either file existed)."""
    done = _run(server, "demo", "a.txt", "a.txt", "--keys-from", "-", "--prefix", "dir/", "--mode", mode,
                "--json", "--out", str(tmp_path), *(["--skip-existing"] if skip_existing else []),
                stdin="dir/b c.txt\na.txt\ndir/b c.txt\n")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert sorted(o["key"] for o in report["objects"]) == ["a.txt", "dir/b c.txt"]
    assert (report["ok"], report["failed"], report["requests"]) == (2, 0, 2)
    assert (tmp_path / "dir" / "b c.txt").read_bytes() == BODIES["dir/b c.txt"]


@pytest.mark.timeout(90)
def test_concurrency_auto_backs_off_under_slowdown_and_reports_its_limit(tmp_path) -> None:
    """The default ``--concurrency auto`` against a prefix that serves 4 requests in flight (503
    SlowDown above it): every object arrives, and the JSON report says what limit it found, how
    much was throttled, and the limit's history."""
    from awspar.testing import Capacity, Latency

    behaviour = EndpointBehaviour(latency=Latency(median_ms=20), capacity=Capacity(concurrent=4))
    with ObjectServer({"gen": GeneratedBucket(120, 1024)}, behaviour=behaviour) as srv:
        done = _run(srv, "gen", "--prefix", "obj-", "--json", "--out", str(tmp_path), "--mode", "threads")
        faults = srv.stats()["faults"]
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] == 120 and faults.get("capacity", 0) > 0
    concurrency = report["concurrency"]
    assert concurrency["mode"] == "auto" and concurrency["max"] == 256
    assert 1 <= concurrency["limit"] <= 6 and concurrency["throttled"] == faults["capacity"]  # 4, and a probe or two
    assert 0 < concurrency["throttled_share"] < 0.5
    (history,) = concurrency["history"].values()
    assert all(len(sample) == 3 for sample in history)
    with ObjectServer({"gen": GeneratedBucket(5, 16)}) as srv:
        fixed = _run(srv, "gen", "--prefix", "obj-", "--json", "--concurrency", "3", "--out", str(tmp_path / "fixed"))
    assert fixed.returncode == 0 and "concurrency" not in json.loads(fixed.stdout)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("value", ["0", "many", "-3", "2.5"])
def test_bad_concurrency_is_one_line_and_exit_2(server, tmp_path, value) -> None:
    done = _run(server, "demo", "a.txt", "--concurrency", value, "--out", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--concurrency must be auto or a whole number" in done.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.timeout(60)
def test_quiet_prints_only_failures(server, tmp_path) -> None:
    done = _run(server, "demo", "a.txt", "--out", str(tmp_path / "ok"), "--quiet")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    failed = _run(server, "demo", "a.txt", "missing-key", "--out", str(tmp_path / "some"), "-q", "--no-progress")
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith("failed: ") and "NoSuchKey" in failed.stderr and failed.stderr.count("\n") == 1


@pytest.mark.timeout(60)
def test_a_keys_file_is_counted_up_front_as_named_keys_are(server, tmp_path) -> None:
    """The old code knew no total for --keys-from FILE (the progress bar showed '?'), so auto
    mode took async even for two keys; a file is counted (stdin cannot be)."""
    from awspar.cli._keys_file import count_keys

    keys = tmp_path / "keys.txt"
    keys.write_bytes(b"\xef\xbb\xbfa.txt\r\n\r\ndir/b c.txt\n\n")
    assert count_keys(str(keys)) == 2 and count_keys("-") is None
    done = _run(server, "demo", "--keys-from", str(keys), "--json", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["mode"] == "threads"  # one wave of two keys, as when named
