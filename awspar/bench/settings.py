"""What to run: one immutable settings object, the ``--quick`` preset, and their validation.

Every field left ``None`` takes the workload's own default (:data:`DEFAULTS` for a full run,
:data:`QUICK` for ``--quick``), so ``awspar bench s3 --n 100`` changes only what it names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from awspar._errors import ConfigurationError
from awspar.testing.faults import Latency

__all__ = ["DEFAULTS", "IMAGE_FORMATS", "QUICK", "WORKLOAD_NAMES", "BenchSettings", "WorkloadParams"]

WORKLOAD_NAMES = ("cpu", "sleep", "s3", "bedrock")
IMAGE_FORMATS = ("png", "svg")


@dataclass(frozen=True)
class WorkloadParams:
    """The size of one workload: tasks (``n``), their weight, and the injected latency."""

    n: int
    fib: int = 30  # cpu: the Fibonacci number each task computes
    sleep_s: float = 1.0  # sleep: seconds each task sleeps
    size: int = 100 * 1024  # s3: bytes per object
    latency: Latency = field(default_factory=Latency)  # s3/bedrock: the local endpoint's time to first byte


#: A full run: the seed's sizes (Fibonacci, 10 x sleep(1), 10 S3 objects of ~100 KB with 50 ms to
#: first byte, 3 Bedrock calls of about 1 s each, log-normal as real models answer).
DEFAULTS: dict[str, WorkloadParams] = {
    "cpu": WorkloadParams(n=10, fib=30),
    "sleep": WorkloadParams(n=10, sleep_s=1.0),
    "s3": WorkloadParams(n=10, size=100 * 1024, latency=Latency(50.0)),
    "bedrock": WorkloadParams(n=3, latency=Latency(1000.0, 0.5)),
}
#: ``--quick``: the same shapes scaled down to finish in under a minute on 2 cores.
QUICK: dict[str, WorkloadParams] = {
    "cpu": WorkloadParams(n=10, fib=27),
    "sleep": WorkloadParams(n=10, sleep_s=0.1),
    "s3": WorkloadParams(n=10, size=100 * 1024, latency=Latency(50.0)),
    "bedrock": WorkloadParams(n=3, latency=Latency(250.0, 0.5)),
}


@dataclass(frozen=True)
class BenchSettings:
    """Everything ``awspar bench`` takes. ``None`` means "the workload's default".

    - ``workloads``: any of :data:`WORKLOAD_NAMES`; ``modes``: mode names (see
      :func:`awspar.bench.modes_of`), ``None`` for each workload's default list.
    - ``n``, ``fib``, ``sleep_s``, ``size``, ``latency``: override :class:`WorkloadParams`.
    - ``concurrency``: requests in flight for awspar's engines (default: ``n``, as in the seed).
    - ``repeat``: rounds; the modes run interleaved (A B C A B C ...) and medians are reported.
    - ``bucket`` / ``region`` / ``prefix`` / ``model``: run ``s3`` and ``bedrock`` against real
      AWS (keys ``{prefix}{i:06d}.bin`` as ``infra/seed_bucket.py`` writes them).
    """

    workloads: tuple[str, ...] = WORKLOAD_NAMES
    modes: tuple[str, ...] | None = None
    n: int | None = None
    fib: int | None = None
    sleep_s: float | None = None
    size: int | None = None
    latency: Latency | None = None
    concurrency: int | None = None
    repeat: int = 3
    quick: bool = False
    bucket: str | None = None
    region: str | None = None
    prefix: str = "seed-case/"
    model: str | None = None

    def __post_init__(self) -> None:
        unknown = [w for w in self.workloads if w not in WORKLOAD_NAMES]
        if unknown or not self.workloads:
            raise ConfigurationError(
                f"unknown workload {', '.join(unknown) or '(none given)'}; choose from: {', '.join(WORKLOAD_NAMES)}"
            )
        for name in ("n", "fib", "size", "concurrency", "repeat"):
            value = getattr(self, name)
            if value is not None and value < (0 if name == "size" else 1):
                raise ConfigurationError(f"--{name} must be at least {0 if name == 'size' else 1}, not {value}")
        if self.sleep_s is not None and self.sleep_s < 0:
            raise ConfigurationError(f"sleep seconds must be >= 0, not {self.sleep_s}")
        if self.fib is not None and self.fib > 40:
            raise ConfigurationError(f"--fib {self.fib} would take minutes per task; use 40 or less")

    @property
    def on_aws(self) -> bool:
        """True when ``s3``/``bedrock`` go to real AWS instead of the local endpoints."""
        return self.bucket is not None or self.region is not None

    def params(self, workload: str) -> WorkloadParams:
        """The parameters of ``workload``: the preset, with whatever was given on top."""
        base = (QUICK if self.quick else DEFAULTS)[workload]
        given = {name: getattr(self, name) for name in ("n", "fib", "sleep_s", "size", "latency")}
        return dataclasses.replace(base, **{k: v for k, v in given.items() if v is not None})

    def concurrency_for(self, workload: str) -> int:
        return self.concurrency or self.params(workload).n

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        data = dataclasses.asdict(self)
        data["latency"] = None if self.latency is None else dataclasses.asdict(self.latency)
        return data
