"""Worker: claims runs under a lease, executes many at once on asyncio, keeps leases alive.

A worker is woken by the queue channel when work arrives and polls every `poll_interval_s`
for what no one announced (expired leases of dead workers). Cancel and tool-result orders for a
run reach its task through the run's control channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from corral.clock import utcnow
from corral.errors import CorralError, Unavailable
from corral.ids import new_id
from corral.observability import metrics
from corral.providers.registry import ModelRegistry
from corral.pubsub.base import (
    ENDED,
    QUEUE_CHANNEL,
    Broker,
    Subscription,
    control_channel,
    run_channel,
)
from corral.runtime import loop
from corral.runtime.context import RunContext
from corral.runtime.resume import prepare
from corral.security.sealed import SecretBox
from corral.settings import Settings
from corral.storage import idempotency, progress, queue
from corral.storage import runs as run_store
from corral.storage.database import Database
from corral.storage.runs import RunRecord
from corral.tools.sandbox import Capabilities, Sandbox
from corral.tools.workspace import remove_workspace
from corral.types.runs import RunStatus

logger = logging.getLogger(__name__)

CLAIM_BATCH = 32
"""Most runs claimed in one transaction."""

HOUSEKEEPING_INTERVAL_S = 600.0
"""How often a worker deletes expired records."""

WAITING_FACTOR = 10
"""A worker holds at most this many times `worker_concurrency` runs, counting waiting ones."""


class Worker:
    """Executes runs from the queue until stopped."""

    def __init__(
        self,
        *,
        database: Database,
        broker: Broker,
        models: ModelRegistry,
        secrets: SecretBox,
        settings: Settings,
        sandbox: Capabilities,
        clock: Callable[[], datetime] = utcnow,
        worker_id: str | None = None,
    ) -> None:
        self.id = worker_id or new_id("wrk")
        self._database = database
        self._broker = broker
        self._models = models
        self._secrets = secrets
        self._sandbox = Sandbox(sandbox)
        self._settings = settings
        self._clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._contexts: dict[str, RunContext] = {}
        self._wake: Subscription | None = None
        self._background: list[asyncio.Task[None]] = []

    @property
    def active_run_ids(self) -> list[str]:
        """Runs this worker is executing now."""
        return list(self._tasks)

    async def start(self) -> None:
        """Begin claiming and heartbeating."""
        if self._database.dialect == "sqlite":
            # SQLite mode is one process: leases still held belong to a predecessor that died,
            # so its runs resume now rather than when the leases expire.
            resumed = await self._database.write(queue.expire_all, now=self._clock())
            if resumed:
                logger.info(
                    "resuming runs left by a previous process",
                    extra={"action": "worker.recovered", "count": resumed},
                )
        self._wake = self._broker.subscribe(QUEUE_CHANNEL)
        self._background = [
            asyncio.create_task(self._claim_loop(), name=f"{self.id}-claim"),
            asyncio.create_task(self._heartbeat_loop(), name=f"{self.id}-heartbeat"),
            asyncio.create_task(self._housekeeping_loop(), name=f"{self.id}-housekeeping"),
        ]
        logger.info("worker started", extra={"action": "worker.started", "worker_id": self.id})

    async def stop(self, grace_s: float = 0.0) -> None:
        """Stop claiming; give runs `grace_s` to end, then hand the rest back to the queue."""
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background = []
        if self._wake is not None:
            self._wake.close()
        if self._tasks and grace_s > 0:
            await asyncio.wait(list(self._tasks.values()), timeout=grace_s)
        remaining = list(self._tasks)
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if remaining:
            with contextlib.suppress(CorralError):
                await self._database.write(
                    queue.release, worker_id=self.id, run_ids=remaining, now=self._clock()
                )
        logger.info(
            "worker stopped",
            extra={"action": "worker.stopped", "worker_id": self.id, "released": len(remaining)},
        )

    # -- claiming --------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        assert self._wake is not None
        while True:
            free = self._settings.worker_concurrency - self._busy_count()
            batch = min(free, CLAIM_BATCH)
            if batch > 0:
                try:
                    claimed = await self._database.write(
                        queue.claim,
                        worker_id=self.id,
                        now=self._clock(),
                        lease_s=self._settings.lease_s,
                        limit=batch,
                    )
                except Unavailable:
                    logger.warning(
                        "cannot claim: database unavailable",
                        extra={"action": "worker.claim_failed"},
                    )
                    claimed = []
                for run in claimed:
                    self._spawn(run)
                if claimed and len(claimed) == batch:
                    await asyncio.sleep(0)
                    continue
            await self._wake.wait(self._settings.poll_interval_s)

    def _busy_count(self) -> int:
        """Runs that use capacity.

        A run waiting for its caller costs nothing but a task, so it does not count (up to
        `WAITING_FACTOR` times the concurrency, to bound memory).
        """
        waiting = sum(1 for ctx in self._contexts.values() if ctx.is_waiting)
        waiting = min(waiting, self._settings.worker_concurrency * (WAITING_FACTOR - 1))
        return len(self._tasks) - waiting

    def _spawn(self, run: RunRecord) -> None:
        logger.info(
            "run claimed",
            extra={
                "action": "run.claimed",
                "run_id": run.id,
                "worker_id": self.id,
                "attempt": run.attempts,
            },
        )
        task = asyncio.create_task(self._execute(run), name=f"run-{run.id}")
        self._tasks[run.id] = task
        metrics.ACTIVE_RUNS.inc()
        task.add_done_callback(lambda _: self._forget(run.id))

    def _forget(self, run_id: str) -> None:
        self._tasks.pop(run_id, None)
        metrics.ACTIVE_RUNS.dec()
        self._contexts.pop(run_id, None)
        if self._wake is not None:
            self._wake.push("")

    # -- executing -------------------------------------------------------------------------

    async def _execute(self, run: RunRecord) -> None:
        cancelled_early = False

        def on_control(message: str) -> None:
            nonlocal cancelled_early
            ctx = self._contexts.get(run.id)
            if message == "cancel":
                if ctx is None:
                    cancelled_early = True  # still preparing: stop before the first model call
                    return
                ctx.cancel_requested = True
                task = self._tasks.get(run.id)
                if task is not None:
                    task.cancel()
            elif message == "tool_result" and ctx is not None:
                ctx.tool_results_ready.set()

        with self._broker.subscribe(control_channel(run.id), on_message=on_control):
            try:
                ctx = await prepare(
                    run,
                    worker_id=self.id,
                    database=self._database,
                    broker=self._broker,
                    models=self._models,
                    secrets=self._secrets,
                    settings=self._settings,
                    sandbox=self._sandbox,
                    clock=self._clock,
                )
            except Unavailable:
                return
            except CorralError as error:
                await self._fail_unprepared(run, error)
                return
            if cancelled_early:
                return
            self._contexts[run.id] = ctx
            await loop.execute(ctx)

    async def _fail_unprepared(self, run: RunRecord, error: CorralError) -> None:
        """End a run that cannot even start (say its model left the catalog)."""
        committed = await self._database.write(
            progress.save,
            run_id=run.id,
            session_id=run.session_id,
            events=[("run.failed", {"error": {"code": str(error.code), "message": error.message}})],
            now=self._clock(),
            owner=self.id,
            values={
                "status": RunStatus.FAILED.value,
                "error": {"code": str(error.code), "message": error.message},
                "ended_at": self._clock(),
                "lease_owner": None,
            },
        )
        if committed is not None:
            await self._broker.publish(run_channel(run.id), ENDED)

    # -- leases ----------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.effective_heartbeat_s)
            ids = list(self._tasks)
            if not ids:
                continue
            try:
                held = await self._database.write(
                    queue.heartbeat,
                    worker_id=self.id,
                    run_ids=ids,
                    now=self._clock(),
                    lease_s=self._settings.lease_s,
                )
            except Unavailable:
                logger.warning("heartbeat failed", extra={"action": "worker.heartbeat_failed"})
                continue
            for run_id in ids:
                task = self._tasks.get(run_id)
                if run_id in held or task is None or task.done():
                    continue
                ctx = self._contexts.get(run_id)
                if ctx is not None and not ctx.ended:
                    ctx.cancel_requested = True
                    task.cancel()
                logger.info(
                    "lease lost; stopping run",
                    extra={"action": "run.lease_lost", "run_id": run_id, "worker_id": self.id},
                )

    # -- housekeeping ----------------------------------------------------------------------

    async def _housekeeping_loop(self) -> None:
        """Forget expired idempotency keys and workspaces now and then.

        Harmless when several workers do it at once.
        """
        while True:
            before = self._clock() - timedelta(seconds=self._settings.idempotency_ttl_s)
            try:
                await self._database.write(idempotency.expire, before=before)
                await self._remove_old_workspaces()
            except Unavailable:
                logger.warning(
                    "housekeeping failed", extra={"action": "worker.housekeeping_failed"}
                )
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)

    async def _remove_old_workspaces(self) -> None:
        """Delete the workspaces of runs and sessions that ended longer ago than the retention."""
        base = self._settings.effective_workspaces_dir
        keys = await asyncio.to_thread(_entries, base)
        if not keys:
            return
        before = self._clock() - timedelta(seconds=self._settings.workspace_retention_s)
        expired = await self._database.read(run_store.finished_before, keys, before)
        for key in sorted(expired - set(self._tasks)):
            await asyncio.to_thread(remove_workspace, base, key)
            logger.info("workspace removed", extra={"action": "workspace.removed", "key": key})


def _entries(directory: Path) -> list[str]:
    """Names in `directory` (none when it does not exist yet)."""
    return [path.name for path in directory.iterdir()] if directory.is_dir() else []
