"""Sign in one place, send anywhere: worker processes that hold no credentials do the I/O.

    python examples/sign_centrally_send_anywhere.py BUCKET [--prefix PREFIX] [--workers 2]

The central process holds the credentials and signs: a ListObjectsV2 of the prefix (its first
page: up to 1,000 keys), then a presigned GetObject per key. Each signed request is plain data (method, URL, headers, body), so it
travels to the workers as one JSON line over a pipe, as it could over a queue or to another
machine. The workers are started with every ``AWS_*`` variable removed from their environment and
never load botocore: they cannot sign anything, only send what they are given, with awspar's
threads engine. The raw responses come back, and the central process parses them into the dicts
boto3 returns (``awspar.parse``), which needs no credentials either.

The signatures are time-limited (presigned URLs here live 1 hour; header-signed requests 5
minutes), and a worker never sees a secret key: at worst it holds permission to repeat those exact
requests until they expire. The workers here send the bodies back for the demo; real ones would
write them where they are needed and send back a summary.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from typing import IO, Any

# -- the worker side: no credentials, no botocore ---------------------------------------------------


def worker() -> int:
    """Read a JSON list of signed requests per line; send them in parallel; answer one line each."""
    from awspar import SignedRequest, get_engine

    with get_engine("threads") as engine:  # no resign=: a worker cannot sign
        say({"pid": os.getpid(), **what_i_hold()})
        for line in sys.stdin:
            requests = [SignedRequest.from_dict(item) for item in json.loads(line)]
            responses = [
                {"index": raw.index, "status": raw.status, "headers": dict(raw.headers),
                 "body": base64.b64encode(raw.body).decode(), "seconds": round(raw.elapsed, 4),
                 "error": None if raw.error is None else str(raw.error)}
                for raw in engine.map(requests)
            ]
            say({"responses": responses, **what_i_hold()})
    return 0


def what_i_hold() -> dict[str, Any]:
    """What would let this process sign: AWS variables, and botocore (the signer) loaded."""
    return {"aws_variables": sorted(n for n in os.environ if n.startswith("AWS_")),
            "botocore_loaded": "botocore" in sys.modules}


def say(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


# -- the central side: credentials, signing, parsing --------------------------------------------


class Worker:
    """A worker process and the pipe to it."""

    def __init__(self) -> None:
        environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment, text=True,
        )
        self.holds: dict[str, Any] = {}
        hello = self.receive()
        self.pid: int = hello["pid"]

    def submit(self, requests: list[Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps([request.to_dict() for request in requests]) + "\n")
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.process.pid} exited with code {self.process.wait()}")
        message: dict[str, Any] = json.loads(line)
        self.holds = {"aws_variables": message["aws_variables"], "botocore_loaded": message["botocore_loaded"]}
        return message

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()  # end of input: the worker exits
        self.process.wait(timeout=30)


def send_through(workers: list[Worker], requests: list[Any]) -> list[tuple[dict[str, Any], Worker]]:
    """Spread ``requests`` over the workers (all at once) and collect the responses in order."""
    shares = [requests[i::len(workers)] for i in range(len(workers))]
    for worker_, share in zip(workers, shares):
        if share:
            worker_.submit(share)
    answers: list[tuple[dict[str, Any], Worker]] = [({}, workers[0])] * len(requests)
    for position, (worker_, share) in enumerate(zip(workers, shares)):
        if not share:
            continue
        reply = worker_.receive()
        for response in reply["responses"]:
            answers[position + response["index"] * len(workers)] = (response, worker_)
    return answers


def parsed(request: Any, response: dict[str, Any]) -> dict[str, Any]:
    """The dict boto3 would return (raises ServiceError for an error response)."""
    from awspar import TransportError, parse

    if response["error"] is not None:
        raise TransportError(response["error"])
    return parse(request, response["status"], response["headers"], base64.b64decode(response["body"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sign here, send from worker processes that hold no credentials.")
    parser.add_argument("bucket")
    parser.add_argument("--prefix", default="", help="fetch the objects under this prefix (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args(argv)

    from awspar import AwsparError, Signer

    try:
        signer = Signer("s3")  # the only place that holds credentials
    except AwsparError as exc:
        print(f"sign_centrally_send_anywhere: {exc}", file=sys.stderr)
        return 2
    workers = [Worker() for _ in range(args.workers)]
    try:
        for number, worker_ in enumerate(workers, 1):
            print(f"worker {number} (pid {worker_.pid}): AWS variables {worker_.holds['aws_variables'] or 'none'}, "
                  f"botocore {'loaded' if worker_.holds['botocore_loaded'] else 'not loaded'}")
        started = time.perf_counter()
        listing_request = signer.sign("ListObjectsV2", {"Bucket": args.bucket, "Prefix": args.prefix})
        (listing_response, sender), = send_through(workers[:1], [listing_request])
        try:
            listing = parsed(listing_request, listing_response)
        except AwsparError as exc:
            print(f"sign_centrally_send_anywhere: {exc}", file=sys.stderr)
            return 2
        keys = [item["Key"] for item in listing.get("Contents", [])]
        print(f"listed {len(keys)} objects under {args.prefix!r} (signed here, sent by pid {sender.pid})")

        requests = [signer.presign("GetObject", {"Bucket": args.bucket, "Key": key}) for key in keys]
        failed = total = 0
        for key, request, (response, sender) in zip(keys, requests, send_through(workers, requests)):
            try:
                body = parsed(request, response)["Body"].read()
            except AwsparError as exc:
                failed += 1
                print(f"failed {key}: {exc}", file=sys.stderr)
                continue
            total += len(body)
            print(f"{key}  {len(body)} bytes  sha256 {hashlib.sha256(body).hexdigest()}  "
                  f"{response['seconds']:.3f} s  pid {sender.pid}")
        seconds = time.perf_counter() - started
        # what each worker said it held with its last answer, after sending
        clean = all(not w.holds["aws_variables"] and not w.holds["botocore_loaded"] for w in workers)
        print(f"{len(keys) - failed} objects, {total} bytes in {seconds:.2f} s, sent by {len(workers)} workers; "
              f"{'no worker held credentials or loaded botocore' if clean else 'A WORKER COULD SIGN'}")
        return 1 if failed or not clean else 0
    finally:
        for worker_ in workers:
            worker_.close()


if __name__ == "__main__":
    sys.exit(worker() if sys.argv[1:] == ["--worker"] else main())
