"""Messages published in one turn of the event loop, sent to the backend together.

Under load many runs publish in the same turn; one round trip for all of them costs the
server a fraction of one each (measured on PostgreSQL: 105 → 26 µs of CPU per message).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from corral.inflight import InFlight

Message = tuple[str, str]
"""A channel and its message."""


class Outbox:
    """Gathers messages and hands each turn's to `send` in one call, in publishing order."""

    def __init__(self, send: Callable[[list[Message]], Awaitable[None]]) -> None:
        self._send = send
        self._gathering: list[Message] | None = None
        self._sending: asyncio.Task[None] | None = None
        self._in_flight = InFlight()

    async def put(self, channel: str, message: str) -> None:
        """Send `(channel, message)` with this turn's others; returns once they were sent.

        The sending goes on if this await is cancelled: a wake-up is never half sent.
        """
        if self._gathering is None:
            self._gathering = []
            self._sending = self._in_flight.start(self._send_gathered())
        self._gathering.append((channel, message))
        assert self._sending is not None
        await asyncio.shield(self._sending)

    async def drain(self) -> None:
        """Wait for the messages still being sent."""
        await self._in_flight.drain()

    async def _send_gathered(self) -> None:
        # A task's first step runs on the loop's next turn: this turn's messages are all in.
        messages, self._gathering = self._gathering or [], None
        await self._send(messages)
