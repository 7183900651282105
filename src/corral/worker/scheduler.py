"""The scheduler every worker runs: it fires routines' schedules and handles waiting fires.

It sleeps until the soonest schedule's next time (or the poll interval, whichever comes
first), and wakes early when a routine changes or a fire is recorded. Any number of workers
may run it at once: the database decides which one fires a given time (see `services.firing`).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from corral.context import ServiceContext
from corral.errors import Unavailable
from corral.ids import new_id
from corral.pubsub.base import ROUTINES_CHANNEL
from corral.services.firing import Firing
from corral.storage import routine_fires as fire_store

__all__ = ["Scheduler"]

logger = logging.getLogger(__name__)

PRUNE_EVERY_S = 60.0
MIN_POLL_S = 1.0
"""The scheduler's longest sleep is the poll interval, but at least this: schedules wake it at
their times and new fires by a notice, so polling only backs up lost notices and queued fires."""
PRUNE_BATCH = 10_000
"""Old fires deleted per pass, so a long history is trimmed in short transactions."""


class Scheduler:
    """One worker's scheduler."""

    def __init__(self, ctx: ServiceContext, owner: str) -> None:
        self._ctx = ctx
        self._firing = Firing(ctx, owner)
        self._pruned_at = 0.0
        self._soonest: datetime | None = None
        """The soonest schedule's next time, as last read (None: unknown, or no schedule)."""

    async def run(self) -> None:
        """Fire and handle what is due, then sleep until the next time; until cancelled."""
        ctx = self._ctx
        poll_s = max(ctx.settings.poll_interval_s, MIN_POLL_S)
        woken = True
        with ctx.broker.subscribe(ROUTINES_CHANNEL) as wake:
            while True:
                timeout = poll_s
                try:
                    timeout = min(timeout, await self.tick(changed=woken))
                except Unavailable:
                    logger.warning(
                        "cannot fire routines: database unavailable",
                        extra={"action": "routines.unavailable"},
                    )
                except Exception:
                    logger.exception(
                        "firing routines failed", extra={"action": "routines.tick_failed"}
                    )
                woken = bool(await wake.wait(max(timeout, 0.0)))

    async def tick(self, *, changed: bool = True) -> float:
        """Fire due schedules and handle waiting fires; seconds until the next schedule's time.

        Unless routines `changed` (a wake-up), schedules are looked at only once the soonest
        known time has come, so an idle scheduler costs two small reads per poll.
        """
        ctx = self._ctx
        now = ctx.clock()
        if changed or self._soonest is None or self._soonest <= now:
            await self._firing.fire_due_schedules()
        await self._firing.handle_waiting()
        if time.monotonic() - self._pruned_at > PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            await self.prune()
        self._soonest = await ctx.database.read(fire_store.next_due)
        if self._soonest is None:
            return ctx.settings.poll_interval_s
        return (self._soonest - ctx.clock()).total_seconds()

    async def prune(self) -> None:
        """Forget expired dedupe keys, and fires older than the history keeps."""
        ctx = self._ctx
        now = ctx.clock()
        await ctx.database.write(fire_store.prune_dedupe, now)
        cutoff = now - timedelta(days=ctx.settings.routine_history_days)
        boundary = new_id("fire", now_ms=int(cutoff.timestamp() * 1000))
        await ctx.database.write(fire_store.prune_history, boundary, limit=PRUNE_BATCH)

    async def close(self) -> None:
        """Stop the template renderer's child process."""
        await self._firing.close()
