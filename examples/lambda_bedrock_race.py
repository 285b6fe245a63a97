"""AWS Lambda handler: race N Bedrock calls and return the first answer that is valid JSON.

Event::

    {"prompt": "Reply with a JSON object {\"capital\": ...} for France."}
    {"prompt": "...", "n": 5, "max_tokens": 256, "alternate_model": true}

A model asked for JSON sometimes answers with broken JSON. Instead of calling, checking and calling
again, the handler sends ``n`` calls at once (default ``AWSPAR_RACE_N``) and keeps the first answer
that parses as JSON; the other calls are cancelled at that moment (their connections closed, so
they stop generating). It returns the parsed answer, which call won and when, and every call's
outcome and timings.

Environment (infra/template.yaml sets them): ``AWSPAR_MODEL_ID``, ``AWSPAR_ALTERNATE_MODEL_ID``
(used when the event says ``"alternate_model": true``), ``AWSPAR_RACE_N``, ``AWSPAR_CONCURRENCY``
(calls in flight at most), ``AWSPAR_ENGINE`` (default ``threads``: boto3, botocore and urllib3 are
all it needs, and Lambda's runtime ships them). Credentials, region and endpoint come from the
standard AWS settings (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` for an offline run)::

    python examples/invoke_locally.py lambda_bedrock_race.handler '{"prompt": "JSON please"}'
"""

from __future__ import annotations

import json
import os
from typing import Any

from awspar import NoWinnerError, Signer, bedrock, get_engine

MODEL_ID = os.environ.get("AWSPAR_MODEL_ID", bedrock.DEFAULT_MODEL)
ALTERNATE_MODEL_ID = os.environ.get("AWSPAR_ALTERNATE_MODEL_ID", "amazon.nova-micro-v1:0")
RACE_N = int(os.environ.get("AWSPAR_RACE_N", "3"))
MAX_N = 10
SYSTEM = "Answer with one JSON object and nothing else: no prose, no code fences."

# Made at cold start, reused by warm invocations: the signer (credentials from the Lambda
# environment) and the engine's connection pool. BEDROCK_CONFIG: long read timeout, patient
# retries of throttling (never for a race's losers).
SIGNER = Signer("bedrock-runtime")
ENGINE = get_engine(
    os.environ.get("AWSPAR_ENGINE", "threads"),
    bedrock.BEDROCK_CONFIG.with_(concurrency=int(os.environ.get("AWSPAR_CONCURRENCY", str(RACE_N)))),
)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    prompt = event.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("give a non-empty 'prompt' in the event")
    n = int(event.get("n", RACE_N))
    if not 1 <= n <= MAX_N:
        raise ValueError(f"'n' must be from 1 to {MAX_N}, not {n}")
    model = ALTERNATE_MODEL_ID if event.get("alternate_model") else MODEL_ID

    try:
        run = bedrock.invoke(
            prompt, n=n, model=model, system=SYSTEM, max_tokens=int(event.get("max_tokens", 512)),
            strategy="first-valid", validator="json", engine=ENGINE, signer=SIGNER,
        )
    except NoWinnerError as exc:  # every answer was broken JSON, or every call failed
        return {"ok": False, "model": model, "error": str(exc), "calls": _calls(exc.run)}

    assert run.winner is not None  # first-valid returns a run only when a call won
    return {
        "ok": True,
        "model": model,
        "answer": json.loads(run.winner.text),
        "winner": run.winner.index,
        "winner_latency_s": _rounded(run.winner.latency),
        "elapsed_s": _rounded(run.elapsed),  # until the winner was known
        "calls": _calls(run),
    }


def _calls(run: Any) -> list[dict[str, Any]]:
    """Each call: won, rejected (not JSON: why), failed, cancelled, or ok (finished after the winner)."""
    if run is None:
        return []
    return [
        {"index": call.index, "outcome": call.outcome, "latency_s": _rounded(call.latency),
         "attempts": call.attempts, "reason": call.reason}
        for call in run.calls
    ]


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 4)
