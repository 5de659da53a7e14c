"""What the lock-store tests share (tests/integration/test_lock_store.py, test_rasa_stores.py)."""

from __future__ import annotations

import asyncio
from typing import Any


def two_workers(store: Any, conversation: str, hold: float, **lock_kwargs: Any) -> list[str]:
    """Two tasks ("a" and "b") take `store`'s lock of `conversation` at the same moment and hold
    it `hold` seconds; the order they went in and out (``["a-in", "a-out", "b-in", "b-out"]``
    when the lock serialises them)."""

    async def scenario() -> list[str]:
        order: list[str] = []

        async def worker(name: str) -> None:
            async with store.lock(conversation, **lock_kwargs):
                order.append(f"{name}-in")
                await asyncio.sleep(hold)
                order.append(f"{name}-out")

        await asyncio.gather(worker("a"), worker("b"))
        return order

    return asyncio.run(scenario())
