"""Exchanges with an external system that must run to their end even if their caller goes away.

Cutting a database or broker exchange short on cancellation can leave a connection mid-protocol,
or commit without the caller knowing. `InFlight.run` finishes the exchange in a task of its own
while the cancelled caller leaves, and `InFlight.drain` lets the owner wait for the stragglers
before closing its connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class InFlight:
    """The exchanges one connection owner has running."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(self, exchange: Coroutine[Any, Any, T]) -> T:
        """Await `exchange`, which completes even if this await is cancelled."""
        return await asyncio.shield(self.start(exchange))

    def start(self, exchange: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run `exchange` in a task of its own, which `drain` waits for."""
        task = asyncio.ensure_future(exchange)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait (up to `timeout_s`) for the exchanges still running."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)
