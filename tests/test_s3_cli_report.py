"""How an ``awspar s3-get`` run ends: its output checked, its report kept when the listing fails,
its bookkeeping flat however many objects go by, empty work said out loud."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc

import pytest

from awspar.testing import TEST_CREDENTIALS, GeneratedBucket, ObjectServer

BIG = 3 * 1024 * 1024  # more than a pipe holds: the writer meets the closed pipe mid-object
LISTED = GeneratedBucket(2500, 16)  # three pages of ListObjectsV2


class _ListingFailsOnPageTwo(ObjectServer):
    """The project's endpoint, except that asking for a second page of a listing is refused
    (AccessDenied: not retried), as when a credential is revoked part-way through a run."""

    def _list_objects_v2(self, request, name, bucket, query):  # noqa: ANN001, ANN202 - the server's signature
        if "continuation-token" in query:
            self.count("ListObjectsV2")
            return self._error(request, "AccessDenied", "Access Denied (revoked mid-run)")
        return super()._list_objects_v2(request, name, bucket, query)


@pytest.fixture(scope="module")
def server():
    with _ListingFailsOnPageTwo({"demo": {"big.bin": b"x" * BIG, "a.txt": b"alpha"}, "gen": LISTED,
                                 "empty": {}}) as srv:
        yield srv


def _command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from awspar.cli import main; main()", "s3-get", *args]


def _env(server) -> dict[str, str]:
    return {**os.environ, **TEST_CREDENTIALS.env(), "AWS_ENDPOINT_URL": server.url}


def _run(server, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(_command(*args), env=_env(server), capture_output=True, text=True, timeout=60,
                          check=False, input=stdin)


# -- 18.1: every write of the output is checked --------------------------------------------------

@pytest.mark.timeout(60)
def test_stdout_on_a_full_disk_is_a_failed_object_and_exit_1() -> None:
    with ObjectServer({"demo": {"big.bin": b"x" * BIG}}) as srv, open("/dev/full", "wb") as full:
        done = subprocess.run(_command("demo", "big.bin", "--stdout"), env=_env(srv), stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert "OutputError" in done.stderr and "No space left on device" in done.stderr
    assert "1 ok" not in done.stderr and "0 ok, 1 failed" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("as_json", [False, True])
def test_stdout_into_a_pipe_closed_after_100_bytes_is_a_failure_not_1_ok(server, as_json) -> None:
    """``awspar s3-get B K --stdout | head -c 100``: the old code wrote 64 KiB, was told so by
    ``BufferedWriter.write`` (a short count, no error), and said "1 ok", exit 0."""
    with subprocess.Popen(_command("demo", "big.bin", "--stdout", *(["--json"] if as_json else [])),
                          env=_env(server), stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert len(proc.stdout.read(100)) == 100
        proc.stdout.close()  # as head does once it has its 100 bytes
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 1, stderr
    assert "Broken pipe" in stderr and "Traceback" not in stderr and "Exception ignored" not in stderr
    if as_json:  # the report (on stderr with --stdout) says which object and why
        report = json.loads(stderr)
        assert (report["ok"], report["failed"], report["exit_code"]) == (0, 1, 1)
        assert report["objects"][0]["error_code"] == "OutputError"
    else:
        assert "1 ok" not in stderr and "0 ok, 1 failed (1 OutputError)" in stderr


@pytest.mark.timeout(60)
def test_a_json_report_into_a_closed_pipe_is_exit_1_with_one_line(server, tmp_path) -> None:
    with subprocess.Popen(_command("gen", "--prefix", "obj-0001", "--json", "--out", str(tmp_path)),
                          env=_env(server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(10)
        proc.stdout.close()
        stderr = proc.stderr.read()
        assert proc.wait(timeout=60) == 1, stderr
    assert stderr == "awspar: cannot write the report: standard output: Broken pipe\n"


# -- 19.3: a listing failure mid-run keeps the report --------------------------------------------

@pytest.mark.timeout(60)
def test_a_listing_that_fails_part_way_still_reports_what_arrived_and_exits_1(server, tmp_path) -> None:
    """The old code exited 3 ("nothing could be reached") and printed nothing after writing 1,000 files."""
    done = _run(server, "gen", "--prefix", "", "--out", str(tmp_path), "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] == 1000 and report["failed"] == 0 and report["exit_code"] == 1
    assert report["stopped"]["error_code"] == "AccessDenied" and "revoked" in report["stopped"]["error"]
    assert len(report["objects"]) == 1000 and all(o["ok"] for o in report["objects"])
    assert len(os.listdir(tmp_path)) == 1000
    assert "the run stopped after 1000 objects" in done.stderr and "revoked" in done.stderr

    text = _run(server, "gen", "--prefix", "", "--out", str(tmp_path / "again"))
    assert text.returncode == 1, text.stderr
    assert text.stdout.startswith("1000 ok, 0 failed, 0 skipped;")
    assert text.stderr.strip().splitlines()[-1].startswith("awspar: the run stopped after 1000 objects: ")


@pytest.mark.timeout(60)
def test_a_listing_that_fails_before_anything_arrived_is_exit_3_with_its_report(server, tmp_path) -> None:
    done = _run(server, "no-such-bucket", "--prefix", "x", "--out", str(tmp_path), "--json")
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert report["objects"] == [] and report["stopped"]["error_code"] == "NoSuchBucket"
    assert "does not exist" in done.stderr


# -- 19.4: the run keeps counts, not objects -----------------------------------------------------

def _results(count: int):
    from awspar.s3 import ObjectResult

    for i in range(count):
        yield ObjectResult(f"prefix/obj-{i:07d}", True, 16, path=f"/data/prefix/obj-{i:07d}", verified=("length", "md5"))


@pytest.mark.parametrize("as_json", [False, True])
def test_the_run_keeps_nothing_per_ok_object(as_json) -> None:
    """Memory after 20,000 ok objects is what it was after 1,000 (the old run kept every
    object's dict, ~0.75 KB each: 15 MB here)."""
    from awspar.cli._s3_run import S3Run
    from awspar.cli._stream import CheckedStream

    with open(os.devnull, "wb") as sink:
        run = S3Run("b", "async", total=None, show_progress=False, as_json=as_json, report_stream=CheckedStream(sink))
        results = _results(20_000)
        tracemalloc.start()
        try:
            for result in (next(results) for _ in range(1_000)):
                run.add(result)
            after_1000 = tracemalloc.get_traced_memory()[0]
            for result in results:
                run.add(result)
            after_20000 = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    assert run.ok == 20_000 and run.bytes == 20_000 * 16
    assert after_20000 - after_1000 < 16 * 1024, (after_1000, after_20000)


def test_the_run_lists_the_first_failures_and_counts_the_rest() -> None:
    from awspar.cli._s3_run import FAILURES_LISTED, S3Run
    from awspar.cli._stream import CheckedStream
    from awspar.s3 import ObjectResult

    with open(os.devnull, "wb") as sink:
        run = S3Run("b", "async", total=None, show_progress=False, as_json=False, report_stream=CheckedStream(sink))
        for i in range(5_000):
            run.add(ObjectResult(f"k{i}", False, error_code="NoSuchKey", error=f"'k{i}': gone"))
    assert run.failed == 5_000 and run.codes == {"NoSuchKey": 5_000}
    assert len(run.failures) == FAILURES_LISTED


# -- 18.7: empty work says so --------------------------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["demo", "--keys-from", "-"], "", "nothing to fetch: standard input has no key"),
        (["demo", "--keys-from", "-"], "\n\n", "nothing to fetch: standard input has no key"),
        (["demo", "--prefix", "nothing-here/"], None, "nothing to fetch: no key starts with 'nothing-here/'"),
        (["empty", "--prefix", ""], None, "nothing to fetch: no key starts with ''"),
    ],
)
def test_empty_work_says_so_on_stderr_and_exits_0(server, tmp_path, args, stdin, says) -> None:
    done = _run(server, *args, "--out", str(tmp_path), stdin=stdin)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"awspar: {says}\n"
    assert done.stdout.startswith("0 ok, 0 failed, 0 skipped;")
    as_json = _run(server, *args, "--out", str(tmp_path), "--json", stdin=stdin)
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["objects"] == []
    assert as_json.stderr == f"awspar: {says}\n"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["threads", "async"])
def test_get_objects_fetches_every_key_listed_before_a_listing_error_then_raises_it(server, mode) -> None:
    """The library side of 19.3: the old code cancelled the keys in flight when the listing
    failed (the async engine, which lists ahead, had fetched only ~970 of the first 1,000)."""
    import botocore.session

    from awspar import ServiceError
    from awspar.s3 import get_objects

    session = botocore.session.get_session()
    session.set_credentials(TEST_CREDENTIALS.access_key, TEST_CREDENTIALS.secret_key)
    results = get_objects("gen", prefix="", mode=mode, session=session, region="us-east-1", endpoint_url=server.url)
    seen = []
    with pytest.raises(ServiceError) as raised:
        for result in results:
            seen.append(result)
    assert raised.value.code == "AccessDenied"
    assert sorted(r.key for r in seen) == [LISTED.key(i) for i in range(1000)] and all(r.ok for r in seen)


def test_the_progress_line_shows_the_adaptive_limit_and_throttled_share() -> None:
    """With ``--concurrency auto`` the objects row ends with the limit now and the share of
    answers that were throttled, as the run goes."""
    import io
    import types

    from rich.console import Console

    from awspar.cli._s3_run import S3Run
    from awspar.cli._stream import CheckedStream
    from awspar.engines._limiter import ScopedLimits
    from awspar.signer import SignedRequest

    limits = ScopedLimits(256)
    limit = limits.for_request(SignedRequest("GET", "http://127.0.0.1:1/demo/a", operation="s3.GetObject"))
    for answer in ("ok", "ok", "ok", "throttled"):
        limit.release(limit.try_acquire(), answer)  # type: ignore[arg-type]
    run = S3Run("demo", "async", total=3, show_progress=True, as_json=False, report_stream=CheckedStream(io.BytesIO()))
    run.limits = limits
    run.add(types.SimpleNamespace(key="a", requests=1, skipped=False, ok=True, size=5))
    console = Console(file=io.StringIO(), width=200, force_terminal=False)
    console.print(run._progress._objects)  # the objects row as it would be drawn
    assert f"limit {limit.limit}, 25% throttled" in console.file.getvalue()
