"""Race N Bedrock calls with the same prompt: print the winner and every call's timing.

    python examples/bedrock_race.py "Name three rivers of France." --n 3
    python examples/bedrock_race.py "Reply in JSON: {\"river\": ...}" --n 3 --json

A model's latency varies from call to call. Sending the same prompt N times at once and keeping
the first answer cuts the tail (and, with ``--json``, keeps the first answer that parses as JSON
instead of retrying after a broken one). The losers are cancelled as soon as a winner is known:
their connections are closed, so they stop generating. Throttling (429) is retried with backoff,
except for a race's losers.

Credentials, region and endpoint come from the standard AWS settings (``AWS_PROFILE``,
``AWS_REGION``, ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``...). The ``awspar bedrock`` command does the
same with more options; this is the library call behind it.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from awspar import AwsparError, NoWinnerError, bedrock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Race N Bedrock calls; print the winner and the timings.")
    parser.add_argument("prompt")
    parser.add_argument("--n", type=int, default=3, help="calls to race (default 3)")
    parser.add_argument("--model", default=bedrock.DEFAULT_MODEL, help=f"model id or inference profile "
                        f"(default {bedrock.DEFAULT_MODEL})")
    parser.add_argument("--json", action="store_true", help="keep the first answer that is valid JSON")
    parser.add_argument("--mode", default=None, help="the engine (default: async with aiohttp, else threads)")
    parser.add_argument("--max-tokens", type=int, default=512, help="per call (default 512)")
    args = parser.parse_args(argv)

    try:
        run = bedrock.invoke(
            args.prompt, n=args.n, model=args.model, mode=args.mode, max_tokens=args.max_tokens,
            strategy="first-valid" if args.json else "race", validator="json" if args.json else None,
        )
    except NoWinnerError as exc:  # every call failed, or no answer was valid JSON: show why
        print(f"bedrock_race: {exc}", file=sys.stderr)
        if exc.run is not None:
            print_table(exc.run, file=sys.stderr)
        return 1
    except AwsparError as exc:  # bad input or no credentials: one line
        print(f"bedrock_race: {exc}", file=sys.stderr)
        return 2

    assert run.winner is not None
    print(run.winner.text)
    print()
    print(f"call {run.winner.index} won in {run.elapsed:.3f} s ({args.n} calls, {run.strategy}, {run.model})")
    print_table(run)
    return 0


def print_table(run: bedrock.BedrockRun, file: TextIO = sys.stdout) -> None:
    """One row per call: outcome (won, ok, rejected, failed, cancelled), latency, first byte, tries."""
    print(f"{'call':>4}  {'outcome':<9}  {'latency s':>9}  {'first s':>8}  {'tries':>5}  note", file=file)
    for call in run.calls:
        note = call.reason if call.outcome in ("rejected", "failed") else ""
        print(f"{call.index:>4}  {call.outcome:<9}  {_seconds(call.latency):>9}  {_seconds(call.first_token):>8}  "
              f"{call.attempts:>5}  {note or ''}", file=file)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    sys.exit(main())
