"""An async iterator whose clean-up ignores cancellation: what a stuck unwind looks like."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator


async def stubborn() -> AsyncIterator[str]:
    """Yields ``"first"`` and ``"second"``; closed early, it never finishes cleaning up."""
    try:
        yield "first"
        yield "second"
    finally:
        while True:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                pass
