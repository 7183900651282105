"""PostgreSQL LISTEN/NOTIFY broker: wake-ups across processes with no extra service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from corral.pubsub.base import Broker
from corral.pubsub.outbox import Message, Outbox

logger = logging.getLogger(__name__)

PG_CHANNEL = "corral"
_SEPARATOR = "\n"
"""Between a message's channel and its text."""
_BATCH_SEPARATOR = "\x1e"
"""Between the messages of one notification (ASCII record separator)."""
_MAX_PAYLOAD = 7000
"""Bytes of messages per notification; PostgreSQL refuses payloads of 8000 bytes or more."""


class PostgresBroker(Broker):
    """One LISTEN connection per process, and a small pool for NOTIFY."""

    def __init__(self, dsn: str, *, reconnect_s: float = 1.0) -> None:
        super().__init__()
        self._dsn = dsn
        self._reconnect_s = reconnect_s
        self._listener: asyncpg.Connection | None = None
        self._pool: asyncpg.Pool | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._closing = False
        self._outbox = Outbox(self._notify)

    async def start(self) -> None:
        """Connect the listener and the publishing pool."""
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=1, max_size=4, reset=_nothing_to_reset
        )
        await self._listen()
        self._supervisor = asyncio.create_task(self._supervise(), name="pg-broker-supervisor")

    async def close(self) -> None:
        """Disconnect."""
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
        if self._pool is not None:
            await self._outbox.drain()
            await self._pool.close()

    async def publish(self, channel: str, message: str = "") -> None:
        """NOTIFY every process (including this one, through its own LISTEN).

        The messages of one loop turn share a notification (`pubsub.outbox`).
        """
        if self._pool is None:
            raise RuntimeError("broker not started")
        if _BATCH_SEPARATOR in channel + message:
            raise ValueError("a broker message may not contain the record separator")
        await self._outbox.put(channel, message)

    async def _notify(self, messages: list[Message]) -> None:
        assert self._pool is not None
        entries = [channel + _SEPARATOR + message for channel, message in messages]
        for payload in _payloads(entries):
            await self._pool.execute("SELECT pg_notify($1, $2)", PG_CHANNEL, payload)

    async def _listen(self) -> None:
        if self._listener is not None:
            self._listener.terminate()  # the lost connection: release its socket now
            self._listener = None
        conn = await asyncpg.connect(self._dsn)
        conn.add_termination_listener(self._on_terminated)
        await conn.add_listener(PG_CHANNEL, self._on_notify)
        self._listener = conn
        self._lost.clear()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        for entry in payload.split(_BATCH_SEPARATOR):
            channel, _, message = entry.partition(_SEPARATOR)
            self.deliver(channel, message)

    def _on_terminated(self, _conn: Any) -> None:
        self._lost.set()

    async def _supervise(self) -> None:
        """Reconnect the listener when it drops, then wake everyone to re-read."""
        while not self._closing:
            await self._lost.wait()
            logger.warning("broker connection lost; reconnecting", extra={"action": "broker.lost"})
            while not self._closing:
                try:
                    await self._listen()
                except (OSError, asyncpg.PostgresError):
                    await asyncio.sleep(self._reconnect_s)
                    continue
                self.wake_all()
                break


async def _nothing_to_reset(_conn: asyncpg.Connection) -> None:
    """A publishing connection runs `pg_notify` only and keeps no session state.

    asyncpg's default reset (unlock advisory locks, close cursors, unlisten, reset settings)
    would be a second round trip after every NOTIFY.
    """


def _payloads(entries: list[str]) -> list[str]:
    """`entries` joined into as few notification payloads as fit."""
    payloads: list[str] = []
    current: list[str] = []
    size = 0
    for entry in entries:
        length = len(entry.encode()) + 1
        if current and size + length > _MAX_PAYLOAD:
            payloads.append(_BATCH_SEPARATOR.join(current))
            current, size = [], 0
        current.append(entry)
        size += length
    if current:
        payloads.append(_BATCH_SEPARATOR.join(current))
    return payloads
