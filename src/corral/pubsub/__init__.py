"""Cross-process wake-ups ("run X has new events").

Messages are pointers, never data: a woken reader re-reads the database, so a lost message only
delays it until the next resync.
"""

from __future__ import annotations

from corral.pubsub.base import Broker, Subscription

__all__ = ["Broker", "Subscription"]
