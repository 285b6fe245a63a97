"""Bedrock in parallel vs boto3 serially, on the local Bedrock simulator with log-normal latency.

Three questions, each answered side by side in one run, on the same latency draws for every
contender (the simulator is re-seeded before each contender's turn, so the k-th call of each sees
the same latency and the same fault; the order of contenders alternates between trials):

1. **all**: 3 InvokeModel calls with ``awspar.bedrock.invoke(strategy="all")`` vs 3 boto3
   ``invoke_model`` calls one after another. Target: <= 0.40x.
2. **race**: ``strategy="race"`` (3 calls, the first answer wins) vs the fastest of the same three
   calls measured in the ``all`` run. Target: <= 1.05x.
3. **first-valid**: at a 30 % rate of broken-JSON answers, ``strategy="first-valid"`` with the
   ``json`` validator (a new batch if none passes) vs "call, validate, retry" with boto3
   serially, over 20 trials. Target: >= 2x faster on average.

The latency is log-normal with a median of 1 s; its spread (sigma) decides what parallelism can
win: max-of-3 over sum-of-3 grows with sigma (``all`` gains less) while min-of-N shrinks
(``race`` and ``first-valid`` gain more). Each sigma in ``--sigmas`` is run in full.

    /work/venv13/bin/python benchmarks/bench_bedrock.py [--sigmas 0.2,0.5] [--trials 10]
        [--fv-trials 20] [--fv-n 3,5] [--out benchmarks/results/bench_bedrock.json]

Prints the ratios per sigma against the targets and writes every measured second to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from awspar import bedrock
from awspar._errors import NoWinnerError
from awspar.engines import get_engine
from awspar.signer import Signer
from awspar.testing import TEST_CREDENTIALS
from awspar.testing.bedrock_server import BedrockServer
from awspar.testing.faults import EndpointBehaviour, FaultRates, Latency

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL = bedrock.DEFAULT_MODEL
PROMPT = "Reply with a JSON object that summarises the quarterly report."
MEDIAN_MS = 1000.0
INVALID_RATE = 0.30
TARGETS = {"all": ("<=", 0.40), "race": ("<=", 1.05), "first_valid": (">=", 2.0)}


def _boto3_text(client: Any) -> str:
    """One boto3 InvokeModel call with the Anthropic body; the answer's text."""
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
    }
    response = client.invoke_model(
        modelId=MODEL, body=json.dumps(body), contentType="application/json", accept="application/json"
    )
    return str(json.loads(response["body"].read())["content"][0]["text"])


def _timed(server: BedrockServer, behaviour: EndpointBehaviour, work: Callable[[], Any]) -> tuple[float, Any]:
    """Re-seed the simulator (fresh, identical draws) and time ``work``."""
    server.configure(behaviour)
    began = time.perf_counter()
    result = work()
    return time.perf_counter() - began, result


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def bench_all_and_race(
    server: BedrockServer, client: Any, options: dict[str, Any], sigma: float, trials: int
) -> list[dict[str, Any]]:
    """Per trial: boto3 serial x3, awspar all x3, awspar race x3, all on the same draws."""
    rows = []
    for trial in range(trials):
        behaviour = EndpointBehaviour(latency=Latency(MEDIAN_MS, sigma), seed=1000 + trial)
        contenders: dict[str, Callable[[], Any]] = {
            "boto3_serial": lambda: [_boto3_text(client) for _ in range(3)],
            "awspar_all": lambda: bedrock.invoke(PROMPT, n=3, strategy="all", api="invoke", **options),
            "awspar_race": lambda: bedrock.invoke(PROMPT, n=3, strategy="race", api="invoke", **options),
        }
        names = list(contenders) if trial % 2 == 0 else list(reversed(contenders))
        row: dict[str, Any] = {"trial": trial}
        for name in names:
            seconds, result = _timed(server, behaviour, contenders[name])
            row[name] = seconds
            if name == "awspar_all":
                row["call_latencies"] = [call.latency for call in result.calls]
        row["fastest_call"] = min(row["call_latencies"])
        rows.append(row)
        print(
            f"  sigma {sigma} trial {trial}: serial {row['boto3_serial']:.2f}s  all {row['awspar_all']:.2f}s  "
            f"race {row['awspar_race']:.2f}s  fastest {row['fastest_call']:.2f}s",
            flush=True,
        )
    return rows


def bench_first_valid(
    server: BedrockServer,
    client: Any,
    options: dict[str, Any],
    sigma: float,
    trials: int,
    n_values: list[int],
) -> list[dict[str, Any]]:
    """Per trial: boto3 call-validate-retry serially vs awspar first-valid (a new batch if none passes)."""

    def serial() -> int:
        calls = 0
        while True:
            calls += 1
            if _is_json(_boto3_text(client)):
                return calls

    def first_valid(n: int) -> Callable[[], int]:
        def run() -> int:
            batches = 0
            while True:
                batches += 1
                try:
                    bedrock.invoke(
                        PROMPT, n=n, strategy="first-valid", validator="json", api="invoke", **options
                    )
                    return batches
                except NoWinnerError:
                    continue

        return run

    rows = []
    for trial in range(trials):
        behaviour = EndpointBehaviour(
            latency=Latency(MEDIAN_MS, sigma), faults=FaultRates(invalid_json=INVALID_RATE), seed=5000 + trial
        )
        contenders = {
            "boto3_serial_retry": serial,
            **{f"awspar_first_valid_{n}": first_valid(n) for n in n_values},
        }
        names = list(contenders) if trial % 2 == 0 else list(reversed(contenders))
        row: dict[str, Any] = {"trial": trial}
        for name in names:
            seconds, rounds = _timed(server, behaviour, contenders[name])
            row[name] = seconds
            row[f"{name}_rounds"] = rounds
        rows.append(row)
        shown = "  ".join(f"{name} {row[name]:.2f}s" for name in contenders)
        print(f"  sigma {sigma} trial {trial}: {shown}", flush=True)
    return rows


def _verdict(name: str, ratio: float) -> str:
    op, target = TARGETS[name]
    ok = ratio <= target if op == "<=" else ratio >= target
    return f"{'PASS' if ok else 'MISS'} (target {op} {target})"


def summarise(
    sigma: float, all_rows: list[dict[str, Any]], fv_rows: list[dict[str, Any]], n_values: list[int]
) -> dict[str, Any]:
    mean = statistics.fmean
    summary: dict[str, Any] = {
        "sigma": sigma,
        "all_vs_boto3_serial": mean(r["awspar_all"] for r in all_rows)
        / mean(r["boto3_serial"] for r in all_rows),
        "race_vs_fastest_call": mean(r["awspar_race"] for r in all_rows)
        / mean(r["fastest_call"] for r in all_rows),
        "race_vs_boto3_single_mean": mean(r["awspar_race"] for r in all_rows)
        / (mean(r["boto3_serial"] for r in all_rows) / 3),
        "median_per_trial_all_ratio": statistics.median(
            r["awspar_all"] / r["boto3_serial"] for r in all_rows
        ),
        "median_per_trial_race_ratio": statistics.median(
            r["awspar_race"] / r["fastest_call"] for r in all_rows
        ),
    }
    for n in n_values:
        name = f"awspar_first_valid_{n}"
        summary[f"boto3_retry_vs_first_valid_{n}"] = mean(r["boto3_serial_retry"] for r in fv_rows) / mean(
            r[name] for r in fv_rows
        )
    print(f"\nsigma {sigma} (log-normal, median {MEDIAN_MS / 1000:g} s)")
    print(
        f"  all (3 calls) / boto3 serial x3      {summary['all_vs_boto3_serial']:.3f}x  "
        f"{_verdict('all', summary['all_vs_boto3_serial'])}"
    )
    print(
        f"  race (3 calls) / fastest of the 3    {summary['race_vs_fastest_call']:.3f}x  "
        f"{_verdict('race', summary['race_vs_fastest_call'])}"
    )
    for n in n_values:
        ratio = summary[f"boto3_retry_vs_first_valid_{n}"]
        print(
            f"  boto3 call-validate-retry / first-valid n={n}   {ratio:.2f}x faster  "
            f"{_verdict('first_valid', ratio)}"
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigmas", default="0.2,0.5", help="log-normal sigmas to run (default 0.2,0.5)")
    parser.add_argument("--trials", type=int, default=10, help="trials of all/race per sigma (default 10)")
    parser.add_argument(
        "--fv-trials", type=int, default=20, help="trials of first-valid per sigma (default 20)"
    )
    parser.add_argument("--fv-n", default="3,5", help="calls per first-valid batch to compare (default 3,5)")
    parser.add_argument("--mode", default="async", help="awspar engine (default async)")
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "benchmarks" / "results" / "bench_bedrock.json",
        help="where the raw numbers go (default benchmarks/results/bench_bedrock.json)",
    )
    args = parser.parse_args()
    sigmas = [float(s) for s in args.sigmas.split(",")]
    n_values = [int(n) for n in args.fv_n.split(",")]
    warnings.simplefilter("ignore", bedrock.LargeRaceWarning)  # n > 5 is asked for on purpose

    report: dict[str, Any] = {
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "settings": {
            "median_ms": MEDIAN_MS,
            "invalid_json_rate": INVALID_RATE,
            "mode": args.mode,
            "model": MODEL,
            "api": "invoke",
            "targets": TARGETS,
        },
        "runs": [],
    }
    with BedrockServer(answer="json") as server:
        session = boto3.Session(**TEST_CREDENTIALS.boto3_kwargs())
        client = session.client("bedrock-runtime", endpoint_url=server.url)
        signer = Signer("bedrock-runtime", session=session, endpoint_url=server.url)
        with get_engine(args.mode, bedrock.BEDROCK_CONFIG) as engine:
            options = {"signer": signer, "engine": engine}
            bedrock.invoke(PROMPT, n=3, api="invoke", **options)  # warm both sides' models and pools
            _boto3_text(client)
            for sigma in sigmas:
                print(f"sigma {sigma}: all/race, {args.trials} trials", flush=True)
                all_rows = bench_all_and_race(server, client, options, sigma, args.trials)
                print(f"sigma {sigma}: first-valid, {args.fv_trials} trials", flush=True)
                fv_rows = bench_first_valid(server, client, options, sigma, args.fv_trials, n_values)
                summary = summarise(sigma, all_rows, fv_rows, n_values)
                report["runs"].append({"summary": summary, "all_and_race": all_rows, "first_valid": fv_rows})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"\nraw numbers: {args.out}")


if __name__ == "__main__":
    main()
