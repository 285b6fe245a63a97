"""run_plans / arun_plans in input order: a slow first plan holds the hand-out, not the read-ahead bound."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from awspar._models import RawResponse
from awspar.engines.plan import Plan, Send, arun_plans, run_plans

WORKERS, HANDOFF, PLANS = 4, 3, 60


def _plan(index: int) -> Plan[int]:
    response = yield Send(index)  # type: ignore[arg-type]
    return response.index


class _Gate:
    """Plan 0's request waits until it is opened; every other request answers at once."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.pulled = 0

    def plans(self) -> Iterator[Plan[int]]:
        for index in range(PLANS):
            self.pulled += 1
            yield _plan(index)


class _SyncSender:
    def __init__(self, gate: _Gate) -> None:
        self.gate = gate

    def send(self, job: int) -> RawResponse:
        if job == 0:
            assert self.gate.opened.wait(10)
        return RawResponse(job, 200)

    def map(self, jobs):  # pragma: no cover - these plans send one request each
        raise NotImplementedError


class _AsyncSender:
    def __init__(self, gate: _Gate) -> None:
        self.gate = gate

    async def send(self, job: int) -> RawResponse:
        while job == 0 and not self.gate.opened.is_set():
            await asyncio.sleep(0.001)
        await asyncio.sleep(0)
        return RawResponse(job, 200)

    def map(self, jobs):  # pragma: no cover
        raise NotImplementedError


@pytest.mark.timeout(30)
def test_run_plans_in_input_order_with_the_read_ahead_bounded() -> None:
    gate = _Gate()
    results = run_plans(gate.plans(), _SyncSender(gate), workers=WORKERS, handoff=HANDOFF, ordered=True)
    collected: list[int] = []
    consumer = threading.Thread(target=lambda: collected.extend(results))
    consumer.start()
    time.sleep(0.3)  # everything that may run ahead of plan 0 has by now
    assert collected == [] and gate.pulled <= HANDOFF + WORKERS + 1
    gate.opened.set()
    consumer.join(10)
    assert collected == list(range(PLANS))


@pytest.mark.timeout(30)
def test_arun_plans_in_input_order_with_the_read_ahead_bounded() -> None:
    gate = _Gate()

    async def main() -> list[int]:
        async def plans():
            for plan in gate.plans():
                yield plan

        collected: list[int] = []

        async def consume() -> None:
            async for value in arun_plans(plans(), _AsyncSender(gate), workers=WORKERS, handoff=HANDOFF,
                                          ordered=True):
                collected.append(value)

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.2)
        assert collected == [] and gate.pulled <= HANDOFF + WORKERS + 1
        gate.opened.set()
        await task
        return collected

    assert asyncio.run(main()) == list(range(PLANS))


def test_unordered_hands_out_as_they_finish() -> None:
    gate = _Gate()
    gate.opened.set()
    values = list(run_plans(gate.plans(), _SyncSender(gate), workers=WORKERS, handoff=HANDOFF))
    assert sorted(values) == list(range(PLANS))
