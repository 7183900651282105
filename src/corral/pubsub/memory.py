"""The in-process broker: the default when API and worker share one process."""

from __future__ import annotations

from corral.pubsub.base import Broker


class MemoryBroker(Broker):
    """Delivers within this process only."""

    async def publish(self, channel: str, message: str = "") -> None:
        """Deliver to local subscribers."""
        self.deliver(channel, message)
