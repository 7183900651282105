"""Worker: claims runs under a lease, executes many at once on asyncio, keeps leases alive.

A worker is woken by the queue channel when work arrives and polls every `poll_interval_s`
for what no one announced (expired leases of dead workers). Cancel and tool-result orders for a
run reach its task through the run's control channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

from corral.context import ServiceContext
from corral.domain import runs as run_rules
from corral.domain.events import Failure
from corral.errors import ServiceError, Unavailable
from corral.ids import new_id
from corral.observability import metrics
from corral.pubsub.base import (
    QUEUE_CHANNEL,
    WORKSPACES_CHANNEL,
    Subscription,
    control_channel,
)
from corral.pubsub.notices import publish_appended
from corral.runtime import loop
from corral.runtime.context import RunContext
from corral.runtime.resume import prepare
from corral.sandbox import cgroups, disk
from corral.sandbox.fence import Fence
from corral.sandbox.host import Host
from corral.sandbox.pool import Environments
from corral.services import subagents
from corral.storage import idempotency, progress, queue
from corral.storage import runs as run_store
from corral.storage.events import Lease
from corral.storage.runs import RunRecord
from corral.types.runs import RunStatus
from corral.worker.deliveries import Deliverer
from corral.worker.scheduler import Scheduler

logger = logging.getLogger(__name__)

CLAIM_BATCH = 32
"""Most runs claimed in one transaction."""

HOUSEKEEPING_INTERVAL_S = 600.0
"""How often a worker deletes expired records."""

WAITING_FACTOR = 10
"""A worker holds at most this many times `worker_concurrency` runs, counting waiting ones."""

FENCE_MARGIN = 0.2
"""The fence falls this fraction of a lease before the lease itself expires."""


class Worker:
    """Executes runs from the queue until stopped."""

    def __init__(self, ctx: ServiceContext, *, worker_id: str | None = None) -> None:
        self.id = worker_id or new_id("wrk")
        self._ctx = ctx
        self._fence = Fence()
        settings = ctx.settings
        self._host = Host(
            capabilities=ctx.sandbox,
            workspaces=settings.effective_workspaces_dir,
            uid_base=settings.sandbox_uid_base,
            extra_mounts=tuple(settings.sandbox_mounts),
        )
        self.environments = Environments(
            self._host,
            idle_s=settings.environment_idle_s,
            on_busy=self._ask_for_workspace,
            fence=self._fence,
        )
        """The environments this worker runs, by workspace."""
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._contexts: dict[str, RunContext] = {}
        self._wake: Subscription | None = None
        self._full = False
        """Whether the claim loop last stopped for want of capacity, not of queued runs."""
        self._caps = queue.Caps(
            workspace=settings.workspace_max_concurrent_runs,
            agent=settings.agent_max_concurrent_runs,
        )
        self._backlog = False
        """Whether the last claim left queued runs (held back by a concurrency cap, say)."""
        self._workspace_requests: Subscription | None = None
        self._background: list[asyncio.Task[None]] = []
        self._letting_go: set[asyncio.Task[bool]] = set()
        self._subagents = subagents.Subagents(ctx)
        self._deliverer = Deliverer(ctx)
        self._scheduler = Scheduler(ctx, self.id)

    @property
    def active_run_ids(self) -> list[str]:
        """Runs this worker is executing now."""
        return list(self._tasks)

    async def start(self) -> None:
        """Begin claiming and heartbeating."""
        if self._ctx.database.dialect == "sqlite":
            # SQLite mode is one process: leases still held belong to a predecessor that died,
            # so its runs resume now rather than when the leases expire.
            resumed = await self._ctx.database.write(queue.expire_all, now=self._ctx.clock())
            if resumed:
                logger.info(
                    "resuming runs left by a previous process",
                    extra={"action": "worker.recovered", "count": resumed},
                )
        if self._ctx.sandbox.layout is not None:
            await asyncio.to_thread(cgroups.sweep_stale, self._ctx.sandbox.layout)
        await self._fence.start()
        self._workspace_requests = self._ctx.broker.subscribe(
            WORKSPACES_CHANNEL, on_message=self._on_workspace_request
        )
        self._wake = self._ctx.broker.subscribe(QUEUE_CHANNEL)
        self._background = [
            asyncio.create_task(self._claim_loop(), name=f"{self.id}-claim"),
            asyncio.create_task(self._heartbeat_loop(), name=f"{self.id}-heartbeat"),
            asyncio.create_task(self._housekeeping_loop(), name=f"{self.id}-housekeeping"),
            asyncio.create_task(self._deliverer.run(), name=f"{self.id}-webhooks"),
            asyncio.create_task(self._scheduler.run(), name=f"{self.id}-routines"),
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
        remaining, tasks = list(self._tasks), list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if remaining:
            with contextlib.suppress(ServiceError):
                await self._ctx.database.write(
                    queue.release, worker_id=self.id, run_ids=remaining, now=self._ctx.clock()
                )
        if self._workspace_requests is not None:
            self._workspace_requests.close()
        await self.environments.close()
        await self._deliverer.close()
        await self._scheduler.close()
        await self._fence.close()
        self._host.close()
        logger.info(
            "worker stopped",
            extra={"action": "worker.stopped", "worker_id": self.id, "released": len(remaining)},
        )

    # -- claiming --------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        assert self._wake is not None
        while True:
            free = self._ctx.settings.worker_concurrency - self._busy_count()
            batch = min(free, CLAIM_BATCH)
            self._full = batch <= 0
            if batch > 0:
                claim_started = time.monotonic()
                try:
                    claim = await self._ctx.database.write_statement(
                        queue.claim,
                        worker_id=self.id,
                        now=self._ctx.clock(),
                        lease_s=self._ctx.settings.lease_s,
                        limit=batch,
                        caps=self._caps,
                        running=list(self._tasks),
                    )
                except Unavailable:
                    logger.warning(
                        "cannot claim: database unavailable",
                        extra={"action": "worker.claim_failed"},
                    )
                    claim = queue.Claim(runs=[], backlog=self._backlog)
                claimed = claim.runs
                self._backlog = claim.backlog
                if claimed:
                    self._hold_fence(claim_started)
                for run in claimed:
                    self._spawn(run)
                # Runs left behind that a full batch, a cap's share of one, or another worker's
                # claim did not take may be claimable now; a claim that takes nothing stops.
                if claimed and (len(claimed) == batch or claim.backlog):
                    await asyncio.sleep(0)
                    continue
            await self._wake.wait(self._ctx.settings.poll_interval_s)

    def _busy_count(self) -> int:
        """Runs that use capacity.

        A run waiting for its caller costs nothing but a task, so it does not count (up to
        `WAITING_FACTOR` times the concurrency, to bound memory).
        """
        waiting = sum(1 for ctx in self._contexts.values() if ctx.is_waiting)
        waiting = min(waiting, self._ctx.settings.worker_concurrency * (WAITING_FACTOR - 1))
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
        # Claim again only if the loop left runs in the queue, for want of capacity or held
        # back by a concurrency cap this run may have freed: otherwise the queue was empty
        # then, and each run queued since has woken the loop by itself.
        if (self._full or self._backlog) and self._wake is not None:
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

        with self._ctx.broker.subscribe(control_channel(run.id), on_message=on_control):
            try:
                ctx = await prepare(
                    run,
                    self._ctx,
                    worker_id=self.id,
                    environments=self.environments,
                    lineage=self._subagents,
                )
            except Unavailable:
                return
            except ServiceError as error:
                await self._fail_unprepared(run, error)
                return
            if cancelled_early:
                return
            self._contexts[run.id] = ctx
            await loop.execute(ctx)

    async def _fail_unprepared(self, run: RunRecord, error: ServiceError) -> None:
        """End a run that cannot even start (say its model left the catalog)."""
        now = self._ctx.clock()
        ending = run_rules.end(
            run.status,
            RunStatus.FAILED,
            now=now,
            error=Failure(code=str(error.code), message=error.message),
        )
        committed = await self._ctx.database.write(
            progress.save,
            run_id=run.id,
            session_id=run.session_id,
            events=[ending.event.entry()],
            now=now,
            owner=Lease(self.id, run.attempts),
            values=ending.values,
            wake=run.parent_run_id,
        )
        if committed is not None:
            metrics.RUNS_ENDED.labels(RunStatus.FAILED.value).inc()
            await publish_appended(self._ctx.broker, run.id, committed, ended=True)
            if committed.requeued:
                await self._ctx.broker.publish(QUEUE_CHANNEL)
        if run.children:
            await subagents.end_descendants(
                self._ctx, run.id, f"the run {run.id} above it could not go on"
            )

    # -- leases ----------------------------------------------------------------------------

    def _hold_fence(self, renewed_at: float) -> None:
        """Environments may outlive a missed heartbeat, but never the leases renewed then."""
        lease_s = self._ctx.settings.lease_s
        self._fence.hold_until(renewed_at + lease_s * (1 - FENCE_MARGIN))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._ctx.settings.effective_heartbeat_s)
            ids = list(self._tasks)
            renewed_at = time.monotonic()
            if not ids:
                self._hold_fence(renewed_at)  # alive, with no lease to lose: keep warm ones
                continue
            try:
                held = await self._ctx.database.write(
                    queue.heartbeat,
                    worker_id=self.id,
                    run_ids=ids,
                    now=self._ctx.clock(),
                    lease_s=self._ctx.settings.lease_s,
                )
            except Unavailable:
                logger.warning("heartbeat failed", extra={"action": "worker.heartbeat_failed"})
                continue
            self._hold_fence(renewed_at)
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
        """Forget expired idempotency keys and workspaces now and then (several at once may)."""
        while True:
            before = self._ctx.clock() - timedelta(seconds=self._ctx.settings.idempotency_ttl_s)
            try:
                await self._ctx.database.write(idempotency.expire, before=before)
                await self._remove_old_workspaces()
            except Unavailable:
                logger.warning(
                    "housekeeping failed", extra={"action": "worker.housekeeping_failed"}
                )
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)

    async def _remove_old_workspaces(self) -> None:
        """Delete the workspaces of runs and sessions that ended longer ago than the retention."""
        base = self._ctx.settings.effective_workspaces_dir
        keys = await asyncio.to_thread(disk.workspaces, base)
        if not keys:
            return
        before = self._ctx.clock() - timedelta(seconds=self._ctx.settings.workspace_retention_s)
        expired = await self._ctx.database.read(run_store.finished_before, keys, before)
        busy = {environment.spec.key for environment in self.environments.running()}
        for key in sorted(expired - set(self._tasks) - busy):
            await asyncio.to_thread(disk.remove, base / key)
            logger.info("workspace removed", extra={"action": "workspace.removed", "key": key})

    # -- environments ----------------------------------------------------------------------

    async def _ask_for_workspace(self, key: str) -> None:
        """Ask every worker to stop an idle environment holding the workspace `key`."""
        await self._ctx.broker.publish(WORKSPACES_CHANNEL, key)

    def _on_workspace_request(self, key: str) -> None:
        if not key:
            return  # a broker reconnect wakes every subscriber with no message
        task = asyncio.create_task(self.environments.let_go(key))
        self._letting_go.add(task)
        task.add_done_callback(self._letting_go.discard)
