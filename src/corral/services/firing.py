"""Firing routines: turning due schedules into fires, and fires into runs.

Every worker runs this (see `worker.scheduler`). A schedule's time is fired by the scheduler
that moves the schedule on (compare-and-set) in the transaction that records the fire. A
routine's fires are then handled in order by the one scheduler that leases the routine: a
webhook's filter and dedupe key, the overlap policy, the input template (rendered in a child
process), and the run, submitted with the fire's id as its idempotency key so that a fire
handled again after a crash finds its run instead of starting a second one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from corral.context import ServiceContext
from corral.domain import payloads, schedules
from corral.domain.fires import pauses_routine
from corral.domain.templates import InvalidTemplate
from corral.errors import Conflict, ServiceError, Unavailable
from corral.ids import new_id
from corral.pubsub.base import WEBHOOKS_CHANNEL
from corral.services import auth, routine_events
from corral.services import runs as run_service
from corral.services import sessions as session_service
from corral.services.context import Principal
from corral.services.rendering import Renderer, template_values
from corral.storage import routine_fires as fire_store
from corral.storage import routines as routine_store
from corral.storage.database import Connection
from corral.storage.routine_fires import DueSchedule, FireRecord
from corral.storage.routines import RoutineRecord
from corral.types.errors import ErrorCode
from corral.types.routines import (
    RENDERED_MAX_CHARS,
    CatchUp,
    FireStatus,
    Overlap,
    RoutineStatus,
    SessionMode,
    SkipReason,
    TriggerType,
)
from corral.types.runs import RunCreateParams
from corral.types.sessions import SessionCreateParams

__all__ = ["Firing"]

logger = logging.getLogger(__name__)

BATCH = 50
LEASE_S = 15.0
"""How long a scheduler holds a routine without renewing (it renews before each fire)."""
CONCURRENT_ROUTINES = 8


@dataclass(slots=True)
class _State:
    """What handling a routine's fires in order keeps track of."""

    active: int
    queued: int


class Firing:
    """One worker's scheduler work: due schedules, then the fires waiting to be handled."""

    def __init__(self, ctx: ServiceContext, owner: str) -> None:
        self._ctx = ctx
        self._owner = owner
        self._renderer = Renderer(
            max_chars=RENDERED_MAX_CHARS, timeout_s=ctx.settings.template_timeout_s
        )

    async def close(self) -> None:
        """Stop the template renderer."""
        await self._renderer.close()

    async def fire_due_schedules(self) -> int:
        """Record a fire for each schedule whose time has come; how many were recorded."""
        ctx = self._ctx
        now = ctx.clock()
        due = await ctx.database.read(fire_store.due_schedules, now, limit=BATCH)
        recorded = 0
        for schedule in due:
            recorded += await self._fire_schedule(schedule, now)
        return recorded

    async def _fire_schedule(self, due: DueSchedule, now: datetime) -> int:
        ctx = self._ctx
        try:
            schedule = schedules.Schedule.parse(due.config["cron"], due.config["timezone"])
            owed = schedules.due(
                schedule,
                due.next_fire_at,
                now,
                catch_up=CatchUp(due.catch_up),
                grace_s=ctx.settings.routine_misfire_grace_s,
            )
        except schedules.InvalidSchedule as invalid:
            await self._pause(due.routine_id, "invalid_schedule", str(invalid))
            return 0
        fires = []
        if owed.skipped_at is not None:
            fires.append(
                self._new_fire(
                    due,
                    owed.skipped_at,
                    now,
                    FireStatus.SKIPPED,
                    reason=SkipReason.MISSED,
                    missed=owed.skipped,
                )
            )
        for fire_at, missed in owed.fires:
            fires.append(self._new_fire(due, fire_at, now, FireStatus.PENDING, missed=missed))

        def tx(conn: Connection) -> int:
            if not fire_store.advance(conn, due.trigger_id, due.next_fire_at, owed.next_fire_at):
                return 0  # another scheduler fired this time
            for fire in fires:
                fire_store.insert_fire(conn, fire)
            return len(fires)

        try:
            return await ctx.database.write(tx)
        except Conflict:  # the time was fired already (a clock moved back): nothing is owed
            await ctx.database.write(
                fire_store.advance, due.trigger_id, due.next_fire_at, owed.next_fire_at
            )
            return 0

    @staticmethod
    def _new_fire(
        due: DueSchedule,
        scheduled_at: datetime,
        now: datetime,
        status: FireStatus,
        *,
        reason: SkipReason | None = None,
        missed: int = 0,
    ) -> dict[str, Any]:
        return {
            "id": new_id("fire"),
            "routine_id": due.routine_id,
            "workspace_id": due.workspace_id,
            "trigger_type": TriggerType.SCHEDULE,
            "trigger_id": due.trigger_id,
            "status": status,
            "reason": reason,
            "scheduled_at": scheduled_at,
            "missed": missed,
            "created_at": now,
            "handled_at": now if status is not FireStatus.PENDING else None,
        }

    async def handle_waiting(self) -> int:
        """Handle the fires of every routine no other scheduler holds; how many started.

        Routines are independent, so several are handled at once (each in its fires' order).
        """
        ctx = self._ctx
        routine_ids = await ctx.database.read(fire_store.with_work, ctx.clock(), limit=BATCH)
        room = asyncio.Semaphore(CONCURRENT_ROUTINES)

        async def handle(routine_id: str) -> int:
            async with room:
                return await self.handle_routine(routine_id)

        return sum(await asyncio.gather(*(handle(routine_id) for routine_id in routine_ids)))

    async def handle_routine(self, routine_id: str) -> int:
        """Lease the routine and handle its waiting fires in order; how many runs started."""
        ctx = self._ctx
        if not await ctx.database.write(
            fire_store.lease, routine_id, self._owner, ctx.clock(), LEASE_S
        ):
            return 0
        try:
            return await self._handle_routine(routine_id)
        finally:
            await ctx.database.write(fire_store.release, routine_id, self._owner)

    async def _handle_routine(self, routine_id: str) -> int:
        ctx = self._ctx

        def read(conn: Connection) -> tuple[RoutineRecord | None, list[FireRecord], int]:
            record = routine_store.get_by_id(conn, routine_id)
            fires = fire_store.open_fires(conn, routine_id, limit=BATCH)
            if record is None or record.overlap == Overlap.ALLOW:
                return record, fires, 0  # runs still going change nothing
            return record, fires, fire_store.active_runs(conn, routine_id)

        record, fires, active = await ctx.database.read(read)
        if record is None:
            return 0
        state = _State(active, sum(1 for f in fires if f.status == FireStatus.QUEUED))
        started = 0
        for index, fire in enumerate(fires):
            # Hold the routine for as long as its fires take (a template may take seconds).
            if index and not await ctx.database.write(
                fire_store.lease, routine_id, self._owner, ctx.clock(), LEASE_S
            ):
                break
            outcome = await self._handle(record, fire, state)
            if outcome is None:
                break  # waits its turn, and so do the fires after it
            if outcome == FireStatus.STARTED:
                started += 1
                state.active += 1
            if outcome == FireStatus.FAILED:
                record = await ctx.database.read(routine_store.get_by_id, routine_id) or record
        return started

    async def _handle(
        self, record: RoutineRecord, fire: FireRecord, state: _State
    ) -> FireStatus | None:
        """Take the fire one step on; None when it must go on waiting."""
        if fire.status == FireStatus.PENDING:
            settled = await self._screen(record, fire)
            if settled is not None:
                return settled
        overlap = Overlap(record.overlap)
        if state.active and overlap is not Overlap.ALLOW:
            if overlap is Overlap.SKIP:
                return await self._settle(fire, FireStatus.SKIPPED, reason=SkipReason.OVERLAP)
            if fire.status == FireStatus.QUEUED:
                return None
            if state.queued >= self._ctx.settings.routine_max_queued_fires:
                return await self._settle(fire, FireStatus.SKIPPED, reason=SkipReason.QUEUE_FULL)
            state.queued += 1
            await self._ctx.database.write(
                fire_store.update_fire, fire.id, {"status": FireStatus.QUEUED}
            )
            return FireStatus.QUEUED
        if fire.status == FireStatus.QUEUED:
            state.queued -= 1
        return await self._start(record, fire)

    async def _screen(self, record: RoutineRecord, fire: FireRecord) -> FireStatus | None:
        """A new fire's first checks: its webhook's filter and dedupe key; None if it passes."""
        if fire.trigger_type == TriggerType.MANUAL:
            return None
        if record.status != RoutineStatus.ACTIVE:
            return await self._settle(fire, FireStatus.SKIPPED, reason=SkipReason.PAUSED)
        if fire.trigger_type != TriggerType.WEBHOOK:
            return None
        trigger = next((t for t in record.triggers if t.id == fire.trigger_id), None)
        if trigger is None:
            return await self._settle(fire, FireStatus.SKIPPED, reason=SkipReason.TRIGGER_REMOVED)
        config = trigger.config
        if config.get("filter") and not payloads.matches(config["filter"], fire.payload):
            return await self._settle(fire, FireStatus.FILTERED)
        dedupe = config.get("dedupe")
        key = payloads.dedupe_key(dedupe["key"], fire.payload) if dedupe else None
        if dedupe and key is not None:
            key_hash = hashlib.sha256(key.encode()).hexdigest()
            fresh = await self._ctx.database.write(
                fire_store.claim_dedupe,
                trigger.id,
                key_hash,
                fire.id,
                self._ctx.clock(),
                dedupe["window_s"],
            )
            if not fresh:
                return await self._settle(fire, FireStatus.DUPLICATE)
        return None

    async def _settle(
        self,
        fire: FireRecord,
        status: FireStatus,
        *,
        reason: SkipReason | None = None,
        error: ServiceError | None = None,
    ) -> FireStatus:
        changes: dict[str, Any] = {
            "status": status,
            "reason": reason,
            "handled_at": self._ctx.clock(),
        }
        if error is not None:
            changes |= {"error_code": str(error.code), "error_message": error.message[:2000]}
        await self._ctx.database.write(fire_store.update_fire, fire.id, changes)
        return status

    async def _start(self, record: RoutineRecord, fire: FireRecord) -> FireStatus:
        ctx = self._ctx
        try:
            principal = await auth.principal_of_key(ctx, record.key_id)
            text = await self._renderer.render(record.input, template_values(record, fire))
            run_id, session_id = await self._submit(principal, record, fire, text)
        except Unavailable:
            raise
        except InvalidTemplate as invalid:
            error = ServiceError(str(invalid), code=ErrorCode.TEMPLATE_ERROR)
            return await self._settle(fire, FireStatus.FAILED, error=error)
        except ServiceError as error:
            if pauses_routine(str(error.code)):
                await self._pause(record.id, str(error.code), error.message)
            logger.info(
                "a routine's fire failed",
                extra={
                    "action": "routine.fire_failed",
                    "routine_id": record.id,
                    "fire_id": fire.id,
                    "code": str(error.code),
                },
            )
            return await self._settle(fire, FireStatus.FAILED, error=error)
        now = ctx.clock()

        def tx(conn: Connection) -> int:
            fire_store.update_fire(
                conn,
                fire.id,
                {
                    "status": FireStatus.STARTED,
                    "run_id": run_id,
                    "session_id": session_id,
                    "handled_at": now,
                },
            )
            routine_store.fired(conn, record.id, now)
            return routine_events.fired(
                conn, record, fire, run_id=run_id, session_id=session_id, now=now
            )

        if await ctx.database.write(tx) > 0:
            await ctx.broker.publish(WEBHOOKS_CHANNEL)
        return FireStatus.STARTED

    async def _pause(self, routine_id: str, code: str, message: str) -> None:
        """Pause the routine with the error every later fire would meet too."""
        ctx = self._ctx
        queued = await ctx.database.write(
            routine_events.pause, routine_id, code=code, message=message, now=ctx.clock()
        )
        if queued > 0:
            await ctx.broker.publish(WEBHOOKS_CHANNEL)

    async def _submit(
        self, principal: Principal, record: RoutineRecord, fire: FireRecord, text: str
    ) -> tuple[str, str | None]:
        """Submit the fire's run (once, whatever happens: the fire's id is the key)."""
        ctx = self._ctx
        key = f"routine-fire-{fire.id}"
        metadata = {**record.metadata, "routine": record.id, "routine_fire": fire.id}
        if record.session_mode == SessionMode.NONE:
            params = RunCreateParams(
                agent=record.agent_id,
                agent_version=record.agent_version,
                input=text,
                metadata=metadata,
            )
            run, _ = await run_service.create(ctx, principal, params, idempotency_key=key)
            return run.id, None
        session_id = record.session_id
        if record.session_mode == SessionMode.PER_FIRE:
            session_id = fire.session_id or new_id("ses")
            if fire.session_id is None:  # named first, so a second try opens the same one
                await ctx.database.write(
                    fire_store.update_fire, fire.id, {"session_id": session_id}
                )
            await session_service.create(
                ctx,
                principal,
                SessionCreateParams(
                    agent=record.agent_id,
                    agent_version=record.agent_version,
                    environment_id=record.environment_id,
                    metadata={"routine": record.id},
                ),
                session_id=session_id,
            )
        assert session_id is not None
        run, _ = await session_service.send(
            ctx,
            principal,
            session_id,
            run_input=text,
            tools=[],
            metadata=metadata,
            idempotency_key=key,
        )
        return run.id, session_id
