"""PostgreSQL LISTEN/NOTIFY broker: wake-ups across processes with no extra service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from corral.inflight import InFlight
from corral.pubsub.base import Broker

logger = logging.getLogger(__name__)

PG_CHANNEL = "corral"
_SEPARATOR = "\n"


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
        self._in_flight = InFlight()

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
            await self._in_flight.drain()
            await self._pool.close()

    async def publish(self, channel: str, message: str = "") -> None:
        """NOTIFY every process (including this one, through its own LISTEN)."""
        if self._pool is None:
            raise RuntimeError("broker not started")
        await self._in_flight.run(
            self._pool.execute(
                "SELECT pg_notify($1, $2)", PG_CHANNEL, channel + _SEPARATOR + message
            )
        )

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
        channel, _, message = payload.partition(_SEPARATOR)
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
