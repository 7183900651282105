"""Request and submit rates: how often a key and a workspace may call, counted by `limits`.

The counters live in Redis when the server has one (`CORRAL_REDIS_URL`), so every API node
counts against the same limit; otherwise in this process. A limit store that cannot be reached
lets the request through and logs a warning: refusing every request because a counter is
unreachable would turn a Redis outage into a full outage, and a rate limit protects capacity,
not money (spend caps fail closed).
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import Literal

import limits
import redis.asyncio
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from corral.errors import RateLimited
from corral.services.context import Principal
from corral.settings import Settings

logger = logging.getLogger(__name__)

_WARN_EVERY_S = 60.0
RateName = Literal["key_requests", "workspace_requests", "workspace_submits"]


@dataclass(frozen=True, slots=True)
class _Rate:
    """One rate limit: its name in `whoami`, its setting, and whose requests it counts."""

    name: RateName
    setting: str
    """The key of `Principal.limits` (and of `WorkspaceLimits`) that overrides the server's."""
    counter: str
    of_key: bool
    """Counted per key, rather than per workspace."""
    what: str

    def identifiers(self, principal: Principal) -> tuple[str, str]:
        return self.counter, principal.key_id if self.of_key else principal.workspace_id


_RATES = (
    _Rate(
        name="key_requests",
        setting="key_requests_per_minute",
        counter="key",
        of_key=True,
        what="this key",
    ),
    _Rate(
        name="workspace_requests",
        setting="requests_per_minute",
        counter="workspace",
        of_key=False,
        what="this workspace",
    ),
    _Rate(
        name="workspace_submits",
        setting="submits_per_minute",
        counter="submits",
        of_key=False,
        what="runs submitted by this workspace",
    ),
)
"""Every rate, in the order `request`, `submit` and `whoami` use them."""


@dataclass(frozen=True, slots=True)
class Allowance:
    """Where a caller stands against its tightest rate limit."""

    limit: int
    remaining: int
    reset_s: float
    """Seconds until the window frees more requests."""


class Limiter:
    """The server's rate limits: per key, per workspace, and submits per workspace."""

    def __init__(self, settings: Settings) -> None:
        storage: Storage
        self._pool: redis.asyncio.ConnectionPool | None = None
        if settings.redis_url:
            # Our own pool, so that `aclose` can close its connections.
            self._pool = redis.asyncio.ConnectionPool.from_url(
                settings.redis_url,
                # A counter that does not answer at once is treated as unreachable.
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
            )
            storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix="corral-limits",
                wrap_exceptions=True,
                connection_pool=self._pool,  # type: ignore[arg-type]  # handed to redis as is
            )
        else:
            storage = MemoryStorage()
        self._strategy = SlidingWindowCounterRateLimiter(storage)
        self._defaults = {
            "key_requests_per_minute": settings.rate_limit_per_minute,
            "requests_per_minute": settings.workspace_rate_limit_per_minute,
            "submits_per_minute": settings.submits_per_minute,
        }
        self._hooks = _per_minute(settings.hook_requests_per_minute)
        self._warned_at = -_WARN_EVERY_S

    def _item(self, principal: Principal, setting: str) -> limits.RateLimitItem | None:
        """The rate `setting` for the caller: its own (`Principal.limits`), else the server's."""
        return _per_minute(int(principal.limits.get(setting, self._defaults[setting])))

    async def request(self, principal: Principal) -> Allowance | None:
        """Count a request of the key; `RateLimited` once the key or its workspace is over.

        Returns the key's allowance, for the response's `RateLimit-*` headers.
        """
        key_rate, workspace_rate = _RATES[0], _RATES[1]
        allowance = await self._count(principal, key_rate)
        await self._count(principal, workspace_rate)
        return allowance

    async def submit(self, principal: Principal) -> None:
        """Count a submitted run or session message of the workspace."""
        await self._count(principal, _RATES[2])

    async def hook(self, trigger_id: str) -> None:
        """Count a delivery to an inbound webhook (`CORRAL_HOOK_REQUESTS_PER_MINUTE`)."""
        await self._hit(self._hooks, "hook", trigger_id, what="this webhook")

    async def standing(self, principal: Principal) -> list[tuple[RateName, int, int | None]]:
        """(name, per minute, remaining) of each rate that applies, without counting a request."""
        found: list[tuple[RateName, int, int | None]] = []
        for rate in _RATES:
            item = self._item(principal, rate.setting)
            if item is None:
                continue
            try:
                stats = await self._strategy.get_window_stats(item, *rate.identifiers(principal))
                remaining: int | None = stats.remaining
            except (StorageError, OSError) as error:
                self._warn(error)
                remaining = None
            found.append((rate.name, item.amount, remaining))
        return found

    async def _count(self, principal: Principal, rate: _Rate) -> Allowance | None:
        item = self._item(principal, rate.setting)
        return await self._hit(item, *rate.identifiers(principal), what=rate.what)

    async def _hit(
        self, item: limits.RateLimitItem | None, *identifiers: str, what: str
    ) -> Allowance | None:
        if item is None:
            return None
        try:
            allowed = await self._strategy.hit(item, *identifiers)
            stats = await self._strategy.get_window_stats(item, *identifiers)
        except (StorageError, OSError) as error:  # count nothing, let it through
            self._warn(error)
            return None
        reset_s = max(0.0, stats.reset_time - time.time())
        if not allowed:
            raise RateLimited(
                f"rate limit of {item.amount} per minute for {what} reached; "
                f"retry in {max(1, round(reset_s))} s",
                retry_after_s=reset_s,
                limit=item.amount,
            )
        return Allowance(limit=item.amount, remaining=stats.remaining, reset_s=reset_s)

    async def aclose(self) -> None:
        """Close the connections to the limit store."""
        if self._pool is not None:
            await self._pool.aclose()

    def _warn(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            logger.warning(
                "the rate limit store is unreachable; requests are let through uncounted: %s",
                error,
                extra={"action": "limits.unavailable"},
            )


@functools.lru_cache(maxsize=256)
def _per_minute(amount: int) -> limits.RateLimitItem | None:
    return limits.RateLimitItemPerMinute(amount) if amount > 0 else None
