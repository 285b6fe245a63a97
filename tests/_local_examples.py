"""What tests/test_examples.py and tests/test_lambda_runtime.py share: the local endpoints the
examples run against, the objects seeded in them, and how to run an example as a user would.

The servers run in the test process (threads on 127.0.0.1); each example runs in a subprocess
pointed at them only through the standard AWS variables.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp", reason="the local endpoints need aiohttp: pip install 'awspar[local]'")

from awspar.bedrock import DEFAULT_MODEL
from awspar.testing.bedrock_server import BedrockServer
from awspar.testing.faults import EndpointBehaviour, FaultPlanner, FaultRates, Latency
from awspar.testing.object_server import ObjectServer

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples"
BUCKET = "examples"
PREFIX = "data/"


def _bytes(key: str, size: int) -> bytes:
    """Deterministic, incompressible bytes for ``key``."""
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{key}|{counter}".encode()).digest()
        counter += 1
    return out[:size]


#: Under PREFIX: odd sizes, an empty object, a key with a space and non-ASCII letters, a nested key.
SEEDED: dict[str, bytes] = {
    **{f"{PREFIX}{i:03d}.bin": _bytes(f"obj{i}", 1000 + 4099 * i) for i in range(10)},
    f"{PREFIX}empty.bin": b"",
    f"{PREFIX}ünï code/spaced name.txt": "naïve café\n".encode(),
    f"{PREFIX}nested/deeper/leaf.json": b'{"leaf": true}',
}
#: Outside PREFIX: must never be fetched by a prefix run.
OUTSIDE = {"elsewhere/not-me.bin": b"x" * 100}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def answer_template(prompt: str) -> str:
    """The simulated model's answer: a JSON object (the template the race examples must get back)."""
    return json.dumps({"capital": "Paris", "country": "France", "prompt": prompt})


def converse_key(model: str = DEFAULT_MODEL) -> str:
    """How the simulator keys its draws for a Converse call (method and decoded path)."""
    return f"POST /model/{model}/converse"


def broken_json_first(invocations: int, n: int, gap: float = 0.12) -> EndpointBehaviour:
    """A seeded behaviour under which, in each of ``invocations`` runs of ``n`` parallel calls, the
    fastest answer is broken JSON and a valid one arrives at least ``gap`` seconds later.

    The simulator draws each call's latency and fault from the seed, the request and how many times
    that request was seen; runs are sequential, so run ``k`` gets draws ``k*n .. k*n+n-1``.
    """
    for seed in range(2000):
        behaviour = EndpointBehaviour(latency=Latency(120, 0.7), faults=FaultRates(invalid_json=0.5), seed=seed)
        planner = FaultPlanner(behaviour)
        draws = [planner.decide(converse_key()) for _ in range(invocations * n)]
        groups = [sorted(draws[k * n:(k + 1) * n], key=lambda d: d.delay_s) for k in range(invocations)]
        if all(
            group[0].fault == "invalid_json"
            and any(d.fault is None and d.delay_s - group[0].delay_s > gap for d in group)
            and all(d.fault in (None, "invalid_json") for d in group)
            for group in groups
        ):
            return behaviour
    raise AssertionError("no seed gives a broken answer first")  # pragma: no cover


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[ObjectServer]:
    """The local S3 endpoint, signatures checked, with SEEDED and OUTSIDE in bucket ``examples``."""
    with ObjectServer({BUCKET: {**SEEDED, **OUTSIDE}}) as server:
        yield server


@pytest.fixture(scope="module")
def bedrock_endpoint() -> Iterator[BedrockServer]:
    """The Bedrock simulator, signatures checked, answering :func:`answer_template`."""
    with BedrockServer(answer=answer_template) as server:
        yield server


@pytest.fixture
def quiet_bedrock(bedrock_endpoint: BedrockServer) -> Iterator[BedrockServer]:
    """The simulator with no latency or faults, counters zeroed; configure it per test."""
    bedrock_endpoint.reset()
    yield bedrock_endpoint
    bedrock_endpoint.reset()


def run(command: Sequence[str], env: Mapping[str, str], *, timeout: float = 60,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to its end; its output as text."""
    return subprocess.run(list(command), env=dict(env), capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, check=False)


def json_lines(output: str) -> list[dict[str, Any]]:
    """Every line of ``output`` that is a JSON object."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]
