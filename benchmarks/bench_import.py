"""What ``import awspar`` costs a cold start, measured against ``import botocore`` in the same run.

Lambda bills the cold start, and its Python runtime already ships boto3 and botocore, so the budget
is what awspar adds on top of the botocore it uses: at most 30 ms for ``import awspar`` followed by
the names a handler touches (``awspar.Signer``, and the whole Lambda path: signer, threads engine,
parser). Each case is timed beside a baseline snippet that imports exactly the botocore, boto3 and
urllib3 modules the case loads, without awspar. ``import botocore`` alone (its ``__init__`` only)
and ``import boto3`` are shown for reference.

Each snippet runs in a fresh interpreter that times its own imports (interpreter start-up is left
out) on two clocks: wall time, and the process's CPU time, which other load on a shared machine
inflates less. The snippets alternate round after round (A B C A B C ...) so that a noisy machine
favours none; medians are reported, with the median of the paired per-round differences as the
headline. A few further runs under ``python -X importtime`` list the modules that awspar adds over
its botocore modules and what each costs.

    python benchmarks/bench_import.py [--rounds 30] [--importtime-runs 5] [--out bench-out/bench_import.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUDGET_MS = 30.0
#: The AWS stack awspar builds on; the budget baseline imports the same modules of it as awspar does.
AWS_STACK = frozenset({"botocore", "boto3", "s3transfer", "urllib3"})

CLOCKS = ("wall", "cpu")

# Runs in each child: times ``exec(code)`` and prints the wall and CPU seconds.
_TIMER = (
    "import sys, time\nw, c = time.perf_counter(), time.process_time()\nexec(sys.argv[1], {})\n"
    "print(time.perf_counter() - w, time.process_time() - c)"
)
# Runs in a child: prints, in import order, the modules of the AWS stack that ``code`` loads.
_STACK_PROBE = (
    "import json, sys\nexec(sys.argv[1], {})\n"
    "print(json.dumps([m for m in sys.modules if m.partition('.')[0] in set(json.loads(sys.argv[2]))]))"
)


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def _awspar_cases() -> dict[str, str]:
    """The awspar imports under budget: ``label -> code``.

    ``import awspar; awspar.Signer`` (the plain-data names before the signer existed) and, once the
    engines exist, the whole Lambda path: the signer, the threads engine and the parser.
    """
    sys.path.insert(0, str(REPO_ROOT))
    import awspar

    if "Signer" not in awspar._EXPORTS:
        return {"import awspar; awspar.SignedRequest, awspar.EngineConfig":
                "import awspar\nawspar.SignedRequest, awspar.RawResponse, awspar.EngineConfig, awspar.ServiceError"}
    cases = {"import awspar; awspar.Signer": "import awspar\nawspar.Signer"}
    if importlib.util.find_spec("awspar.engines.threads") is not None and "parse" in awspar._EXPORTS:
        cases["Lambda path: Signer + threads engine + parse"] = (
            "import awspar\nfrom awspar.engines import engine_class\n"
            "awspar.Signer, awspar.parse, engine_class('threads')"
        )
    return cases


def _same_stack_as(code: str) -> str:
    """A snippet importing the very botocore/boto3/urllib3 modules that ``code`` loads, and nothing else.

    Timing it beside ``code`` isolates what awspar itself adds (its own modules and the standard
    library modules only it needs), whichever parts of botocore the signer happens to use. Import
    statements, not ``importlib``: ``-X importtime`` reports only the former.
    """
    out = subprocess.run([sys.executable, "-c", _STACK_PROBE, code, json.dumps(sorted(AWS_STACK))],
                         capture_output=True, text=True, env=_child_env(), cwd=REPO_ROOT, check=True, timeout=120)
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    return "\n".join(f"import {module}" for module in modules) or "pass"


def _baseline_label(label: str) -> str:
    return f"  its botocore modules, no awspar ({label.split(':')[0].split(';')[-1].strip()})"


def _snippets(cases: dict[str, str]) -> dict[str, str]:
    """Every timed snippet: the references, then each awspar case after its own baseline."""
    snippets = {"import botocore": "import botocore", "import boto3": "import boto3", "import awspar": "import awspar"}
    for label, code in cases.items():
        snippets[_baseline_label(label)] = _same_stack_as(code)
        snippets[label] = code
    return snippets


def _time_once(code: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", _TIMER, code], capture_output=True, text=True,
                         env=_child_env(), cwd=REPO_ROOT, check=True, timeout=120)
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def measure(snippets: dict[str, str], rounds: int) -> dict[str, dict[str, list[float]]]:
    """``clock -> label -> seconds``, one fresh interpreter per run, snippets alternating each round."""
    for code in snippets.values():  # warm-up: write the .pyc files, fill the page cache
        _time_once(code)
    times: dict[str, dict[str, list[float]]] = {clock: {label: [] for label in snippets} for clock in CLOCKS}
    for _ in range(rounds):
        for label, code in snippets.items():
            for clock, seconds in zip(CLOCKS, _time_once(code)):
                times[clock][label].append(seconds)
    return times


def _importtime(code: str) -> dict[str, tuple[int, int]]:
    """``module -> (self µs, cumulative µs)`` from one ``python -X importtime -c code`` run."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                          text=True, env=_child_env(), cwd=REPO_ROOT, check=True, timeout=120)
    modules: dict[str, tuple[int, int]] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        modules[name.strip()] = (int(self_us), int(cumulative_us))
    return modules


def added_modules(baseline: str, code: str, runs: int) -> dict[str, float]:
    """Median self time (ms) of each module that ``code`` imports and ``baseline`` does not."""
    base = set(_importtime(baseline))
    self_ms: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        for name, (self_us, _cumulative) in _importtime(code).items():
            if name not in base:
                self_ms[name].append(self_us / 1000)
    return {name: statistics.median(values) for name, values in self_ms.items()}


def _by_package(modules: dict[str, float]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for name, ms in modules.items():
        totals[name.partition(".")[0]] += ms
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="alternating rounds of timed runs (default 30)")
    parser.add_argument("--importtime-runs", type=int, default=5, help="-X importtime runs (default 5)")
    parser.add_argument("--top", type=int, default=12, help="added modules to list (default 12)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench-out" / "bench_import.json",
                        help="where the raw numbers go (default bench-out/bench_import.json)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.importtime_runs < 1:
        parser.error("--rounds and --importtime-runs must be at least 1")

    cases = _awspar_cases()
    snippets = _snippets(cases)
    started = time.perf_counter()
    times = measure(snippets, args.rounds)
    medians = {clock: {label: statistics.median(v) * 1000 for label, v in times[clock].items()} for clock in CLOCKS}
    paired = {clock: {label: [(a - b) * 1000 for a, b in zip(times[clock][label], times[clock][_baseline_label(label)])]
                      for label in cases} for clock in CLOCKS}
    added_ms = {clock: {label: statistics.median(d) for label, d in paired[clock].items()} for clock in CLOCKS}
    widest = list(cases)[-1]
    modules = added_modules(snippets[_baseline_label(widest)], snippets[widest], args.importtime_runs)
    top = sorted(modules.items(), key=lambda item: -item[1])[: args.top]

    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
          f"{args.rounds} alternating rounds, fresh interpreter each, import time only (no start-up)")
    width = max(map(len, snippets)) + 2
    print(f"{'snippet':<{width}} {'wall ms':>9} {'vs botocore':>12} {'CPU ms':>9}")
    for label in snippets:
        wall, cpu = medians["wall"][label], medians["cpu"][label]
        print(f"{label:<{width}} {wall:>9.1f} {wall - medians['wall']['import botocore']:>+12.1f} {cpu:>9.1f}")
    print()
    for label in cases:
        wall, cpu = added_ms["wall"][label], added_ms["cpu"][label]
        verdict = "within" if wall <= BUDGET_MS else "OVER"
        print(f"`{label}` adds {wall:.1f} ms wall ({cpu:.1f} ms CPU) over the botocore modules it loads "
              f"(median of {args.rounds} paired rounds): {verdict} the {BUDGET_MS:.0f} ms budget")
    print(f"\nModules `{widest}` adds over its botocore modules "
          f"(-X importtime, median self time over {args.importtime_runs} runs, sum {sum(modules.values()):.1f} ms):")
    for package, ms in list(_by_package(modules).items())[:8]:
        print(f"  {package:<40} {ms:>7.1f} ms (package total)")
    print("  top modules:")
    for name, ms in top:
        print(f"    {name:<38} {ms:>7.1f} ms")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "rounds": args.rounds, "budget_ms": BUDGET_MS, "added_ms": added_ms, "paired_ms": paired,
        "median_ms": medians, "raw_s": times, "snippets": snippets, "added_modules_self_ms": modules,
        "elapsed_s": time.perf_counter() - started,
    }, indent=2))
    print(f"\nraw numbers: {args.out}")
    return 0 if max(added_ms["wall"].values()) <= BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
