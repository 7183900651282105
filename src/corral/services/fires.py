"""A routine's fires: running it by hand, and its history."""

from __future__ import annotations

import asyncio
from typing import Any

from corral.context import ServiceContext
from corral.errors import Conflict, NotFound
from corral.ids import new_id
from corral.pubsub.base import ROUTINES_CHANNEL
from corral.services import routines as routine_service
from corral.services.context import Principal
from corral.storage import routine_fires as fire_store
from corral.storage.database import Connection
from corral.storage.routine_fires import FireQuery, FireRecord
from corral.types.common import Page
from corral.types.routines import Fire, FireStatus, RunNowParams, TriggerType

__all__ = ["get_fire", "history", "listed", "run_now", "to_wire"]

HANDLED_WAIT_S = 5.0
"""How long running a routine by hand waits for a scheduler to start its run."""
_POLL_S = 0.02


def to_wire(record: FireRecord) -> Fire:
    """The fire as the API shows it."""
    error = None
    if record.error_code is not None:
        error = {"code": record.error_code, "message": record.error_message or ""}
    return Fire.model_validate(
        {
            "id": record.id,
            "routine_id": record.routine_id,
            "trigger": record.trigger_type,
            "trigger_id": record.trigger_id,
            "status": record.status,
            "reason": record.reason,
            "error": error,
            "scheduled_at": record.scheduled_at,
            "missed": record.missed,
            "run_id": record.run_id,
            "session_id": record.session_id,
            "created_at": record.created_at,
            "handled_at": record.handled_at,
        }
    )


async def run_now(
    ctx: ServiceContext, principal: Principal, ref: str, params: RunNowParams
) -> tuple[Fire, bool]:
    """Fire the routine by hand, paused or not.

    Returns the fire once a scheduler took it up (or after a few seconds), and whether it is
    new (False: an idempotent replay of its key).
    """
    routine = await routine_service.find(ctx, principal, ref)
    key = params.idempotency_key
    fire_id = new_id("fire")
    values: dict[str, Any] = {
        "id": fire_id,
        "routine_id": routine.id,
        "workspace_id": principal.workspace_id,
        "trigger_type": TriggerType.MANUAL,
        "status": FireStatus.PENDING,
        "idempotency_key": key,
        "payload": params.payload,
        "created_at": ctx.clock(),
    }

    def tx(conn: Connection) -> FireRecord | None:
        existing = fire_store.fire_by_key(conn, routine.id, key) if key else None
        if existing is None:
            fire_store.insert_fire(conn, values)
        return existing

    try:
        existing = await ctx.database.write(tx)
    except Conflict:  # the same key, at the same moment
        existing = await ctx.database.read(fire_store.fire_by_key, routine.id, key or "")
        if existing is None:
            raise
    if existing is not None:
        return to_wire(existing), False
    await ctx.broker.publish(ROUTINES_CHANNEL)
    return await _handled(ctx, principal, fire_id), True


async def _handled(ctx: ServiceContext, principal: Principal, fire_id: str) -> Fire:
    """The fire once it is no longer pending, or as it stands after `HANDLED_WAIT_S`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANDLED_WAIT_S
    while True:
        fire = await get_fire(ctx, principal, fire_id)
        if fire.status != FireStatus.PENDING or loop.time() >= deadline:
            return fire
        await asyncio.sleep(_POLL_S)


async def get_fire(ctx: ServiceContext, principal: Principal, fire_id: str) -> Fire:
    """One fire of the workspace."""
    record = await ctx.database.read(fire_store.get_fire, principal.workspace_id, fire_id)
    if record is None:
        raise NotFound(f"no fire {fire_id!r}")
    return to_wire(record)


async def history(
    ctx: ServiceContext,
    principal: Principal,
    ref: str,
    *,
    limit: int,
    cursor: str | None,
    status: FireStatus | None,
) -> Page[Fire]:
    """The routine's fires, newest first."""
    routine = await routine_service.find(ctx, principal, ref)
    records = await ctx.database.read(
        fire_store.history, routine.id, limit=limit + 1, before_id=cursor, status=status
    )
    page = [to_wire(record) for record in records[:limit]]
    return Page(data=page, next_cursor=page[-1].id if len(records) > limit else None)


async def listed(
    ctx: ServiceContext,
    principal: Principal,
    query: FireQuery,
    *,
    limit: int,
    cursor: str | None,
) -> Page[Fire]:
    """The workspace's fires, of every routine or of `query.routine_id`, newest first."""
    records = await ctx.database.read(
        fire_store.listed, principal.workspace_id, query, limit=limit + 1, before_id=cursor
    )
    page = [to_wire(record) for record in records[:limit]]
    return Page(data=page, next_cursor=page[-1].id if len(records) > limit else None)
