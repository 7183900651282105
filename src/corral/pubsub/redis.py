"""Redis pub/sub broker, for deployments that already run Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from corral.pubsub.base import Broker
from corral.pubsub.outbox import Message, Outbox

logger = logging.getLogger(__name__)

PREFIX = "corral:"


class RedisBroker(Broker):
    """One pattern subscription per process on `corral:*`."""

    def __init__(self, url: str, *, reconnect_s: float = 1.0) -> None:
        super().__init__()
        self._url = url
        self._reconnect_s = reconnect_s
        self._client: aioredis.Redis | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._outbox = Outbox(self._publish_all)

    async def start(self) -> None:
        """Connect and start reading."""
        self._client = aioredis.from_url(self._url, decode_responses=True)
        await self._client.ping()
        self._reader = asyncio.create_task(self._read(), name="redis-broker-reader")
        await self._ready.wait()

    async def close(self) -> None:
        """Disconnect."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._client is not None:
            await self._outbox.drain()
            await self._client.aclose()

    async def publish(self, channel: str, message: str = "") -> None:
        """PUBLISH to every process; the messages of one loop turn share a round trip."""
        if self._client is None:
            raise RuntimeError("broker not started")
        await self._outbox.put(channel, message)

    async def _publish_all(self, messages: list[Message]) -> None:
        assert self._client is not None
        async with self._client.pipeline(transaction=False) as pipe:
            for channel, message in messages:
                pipe.publish(PREFIX + channel, message)
            await pipe.execute()

    async def _read(self) -> None:
        assert self._client is not None
        first = True
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.psubscribe(PREFIX + "*")
                self._ready.set()
                if not first:
                    self.wake_all()
                first = False
                async for item in pubsub.listen():
                    if item["type"] == "pmessage":
                        self.deliver(item["channel"][len(PREFIX) :], item["data"])
            except (RedisConnectionError, OSError):
                logger.warning(
                    "broker connection lost; reconnecting", extra={"action": "broker.lost"}
                )
                await asyncio.sleep(self._reconnect_s)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
