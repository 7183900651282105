"""A worker's environments, by workspace: started on first use, kept warm for sessions.

A run's environment stops when the run ends. A session's stays up between its runs, its jobs
ended, until it has been idle for `idle_s`. A workspace is used by one environment at a time,
across workers and hosts: a worker that finds it locked asks the holder to let go of an idle
environment (`on_busy`, e.g. a message to every worker) and waits for the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from corral.errors import SandboxUnavailable
from corral.sandbox import network
from corral.sandbox.environment import (
    Environment,
    EnvironmentSpec,
    EnvironmentUnavailable,
    WorkspaceBusy,
)
from corral.sandbox.fence import Fence
from corral.sandbox.host import Host

__all__ = ["Environments"]

logger = logging.getLogger(__name__)

ADDRESSES_TTL_S = 60.0
"""How long the host's own addresses (refused to `open` environments) are trusted."""
RESET_TIMEOUT_S = 30.0


@dataclass
class _Entry:
    environment: Environment
    users: int = 0
    idle_since: float | None = None


class Environments:
    """Starts, lends, keeps warm and stops the environments of one worker."""

    def __init__(
        self,
        host: Host,
        *,
        idle_s: float = 120.0,
        lock_wait_s: float = 60.0,
        on_busy: Callable[[str], Awaitable[None]] | None = None,
        fence: Fence | None = None,
    ) -> None:
        self.host = host
        self.idle_s = idle_s
        self.lock_wait_s = lock_wait_s
        self._on_busy = on_busy
        self._fence = fence
        self._entries: dict[str, _Entry] = {}
        self._opening: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        """One lock per workspace being opened or stopped; gone once nobody holds it."""
        self._addresses_at = -ADDRESSES_TTL_S
        self._reaper: asyncio.Task[None] | None = None

    async def acquire(self, spec: EnvironmentSpec) -> Environment:
        """A running environment for `spec`'s workspace: a warm one, or a new one.

        Raises:
            SandboxUnavailable: this host refuses agent tools, or cannot enforce the spec.
            EnvironmentUnavailable: starting it failed.
        """
        self._check(spec)
        async with self._lock_of(spec.key):
            entry = self._entries.get(spec.key)
            if entry is not None and (
                not entry.environment.alive or entry.environment.spec != spec
            ):
                await self._stop(spec.key)
                entry = None
            if entry is None:
                entry = await self._start(spec)
            entry.users += 1
            entry.idle_since = None
            return entry.environment

    async def release(self, environment: Environment, *, keep_warm: bool) -> None:
        """The run is done with it: stop it, or end its jobs and keep it for the session."""
        key = environment.spec.key
        entry = self._entries.get(key)
        if entry is None or entry.environment is not environment:
            await environment.stop()
            return
        entry.users -= 1
        if entry.users > 0:
            return
        if keep_warm and environment.alive and self.idle_s > 0:
            with contextlib.suppress(Exception):
                await environment.call("reset", timeout_s=RESET_TIMEOUT_S)
            if environment.alive:
                entry.idle_since = time.monotonic()
                self._ensure_reaper()
                return
        await self._stop(key)

    async def let_go(self, key: str) -> bool:
        """Stop the environment of `key` if it is idle (another worker needs the workspace)."""
        async with self._lock_of(key):
            entry = self._entries.get(key)
            if entry is None or entry.users > 0:
                return False
            await self._stop(key)
            return True

    def _lock_of(self, key: str) -> asyncio.Lock:
        lock = self._opening.get(key)
        if lock is None:
            lock = self._opening[key] = asyncio.Lock()
        return lock

    def running(self) -> list[Environment]:
        """The environments alive now."""
        return [entry.environment for entry in self._entries.values()]

    async def close(self) -> None:
        """Stop every environment."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for key in list(self._entries):
            await self._stop(key)

    def _check(self, spec: EnvironmentSpec) -> None:
        capabilities = self.host.capabilities
        if capabilities.tier == "unavailable":
            raise SandboxUnavailable(
                f"this server cannot sandbox agent tools ({capabilities.detail}); fix: "
                f"{capabilities.fix}"
            )
        if capabilities.enforced and spec.network.mode not in capabilities.networks:
            raise SandboxUnavailable(
                f"networking mode {spec.network.mode!r} cannot be enforced on this server "
                f"({capabilities.detail}); fix: {capabilities.fix}"
            )

    async def _start(self, spec: EnvironmentSpec) -> _Entry:
        """Start an environment, waiting while another one (anywhere) holds the workspace."""
        root = self.host.workspaces / spec.key
        await asyncio.to_thread(root.mkdir, mode=0o700, parents=True, exist_ok=True)
        await self._refresh_addresses()
        deadline = time.monotonic() + self.lock_wait_s
        asked = False
        while True:
            environment = Environment(spec, self.host)
            try:
                await environment.start(on_spawn=self._fence_in)
            except WorkspaceBusy:
                self._fence_out(environment)
                if time.monotonic() > deadline:
                    raise EnvironmentUnavailable(
                        f"the workspace {spec.key} is in use by another environment (waited "
                        f"{self.lock_wait_s:g} s)"
                    ) from None
                if not asked and self._on_busy is not None:
                    asked = True
                    await self._on_busy(spec.key)
                await asyncio.sleep(0.1)
                continue
            except BaseException:
                self._fence_out(environment)
                raise
            entry = self._entries[spec.key] = _Entry(environment=environment)
            return entry

    def _fence_in(self, environment: Environment) -> None:
        """From its first process on, the environment dies when the worker's leases lapse."""
        if self._fence is not None and environment.process is not None:
            self._fence.track(environment.id, environment.process.pid, environment.kill_switch)

    def _fence_out(self, environment: Environment) -> None:
        if self._fence is not None:
            self._fence.forget(environment.id)

    async def _stop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        try:
            await entry.environment.stop()  # its processes, and with them the workspace lock
        finally:
            self._fence_out(entry.environment)

    async def _refresh_addresses(self) -> None:
        if time.monotonic() - self._addresses_at > ADDRESSES_TTL_S:
            self.host.own_addresses = await network.host_addresses()
            self._addresses_at = time.monotonic()

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap(), name="environments-reaper")

    async def _reap(self) -> None:
        """Stop environments idle for longer than `idle_s`, until none is idle."""
        while True:
            now = time.monotonic()
            idle = {k: e.idle_since for k, e in self._entries.items() if e.idle_since is not None}
            if not idle:
                return
            for key, since in idle.items():
                if since is None or now - since < self.idle_s:
                    continue
                async with self._lock_of(key):
                    entry = self._entries.get(key)
                    if entry is None or entry.users > 0 or entry.idle_since != since:
                        continue
                    logger.info(
                        "idle environment stopped", extra={"action": "environment.idle", "key": key}
                    )
                    await self._stop(key)
            await asyncio.sleep(min(self.idle_s, 1.0))
