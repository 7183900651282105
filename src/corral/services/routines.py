"""Routines: create, read, change, pause, resume and delete them.

A routine acts as the API key that created it: its runs are that key's runs, and revoking the
key pauses it. Its agent is checked against the key now, and again at every fire.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from corral.context import ServiceContext
from corral.domain.schedules import InvalidSchedule, Schedule
from corral.domain.templates import InvalidTemplate, check_template
from corral.errors import Conflict, InvalidRequest, NotFound
from corral.ids import new_id
from corral.pubsub.base import ROUTINES_CHANNEL, WEBHOOKS_CHANNEL
from corral.services import agents as agent_service
from corral.services import audit, auth, routine_events
from corral.services import environments as environment_service
from corral.services import sessions as session_service
from corral.services import triggers as trigger_service
from corral.services.audit import Actor
from corral.services.context import Principal
from corral.storage import routines as routine_store
from corral.storage.database import Connection
from corral.storage.routines import RoutineRecord
from corral.types.common import Page
from corral.types.routines import (
    Routine,
    RoutineCreateParams,
    RoutineStatus,
    RoutineUpdateParams,
    SessionMode,
    TriggerType,
)
from corral.types.sessions import SessionCreateParams

__all__ = [
    "create",
    "delete",
    "find",
    "get",
    "list_routines",
    "pause",
    "resume",
    "to_wire",
    "update",
]


def to_wire(ctx: ServiceContext, record: RoutineRecord) -> Routine:
    """The routine as the API shows it, with each schedule's next times."""
    now = ctx.clock()
    active = record.status == RoutineStatus.ACTIVE
    triggers = [trigger_service.to_wire(ctx, trigger, now, active) for trigger in record.triggers]
    paused = None
    if record.paused_code is not None:
        paused = {
            "code": record.paused_code,
            "message": record.paused_message or "",
            "at": record.paused_at,
        }
    return Routine.model_validate(
        {
            "id": record.id,
            "name": record.name,
            "description": record.description,
            "agent": record.agent_id,
            "agent_version": record.agent_version,
            "input": record.input,
            "session": record.session_mode,
            "session_id": record.session_id,
            "environment_id": record.environment_id,
            "metadata": record.metadata,
            "triggers": triggers,
            "catch_up": record.catch_up,
            "overlap": record.overlap,
            "status": record.status,
            "paused_reason": paused,
            "last_fired_at": record.last_fired_at,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
        }
    )


def _check_input(template: str) -> None:
    try:
        check_template(template)
    except InvalidTemplate as invalid:
        raise InvalidRequest(f"invalid template: {invalid}", field="/input") from None


def _check_may_run(principal: Principal, session: SessionMode) -> None:
    """A routine's runs are its key's: the key must be able to start them itself."""
    auth.require_scope(principal, "runs:write")
    if session is not SessionMode.NONE:
        auth.require_scope(principal, "sessions:write")


async def _check_environment(
    ctx: ServiceContext, principal: Principal, environment_id: str, session: SessionMode
) -> None:
    """The environment must be one a new session can open in, and the routine open sessions."""
    if session is SessionMode.NONE:
        raise InvalidRequest(
            "an environment is where a session's runs happen: give the routine a session mode "
            "(per_fire or shared)",
            field="/environment_id",
        )
    await environment_service.config_for_session(ctx, principal, environment_id)


async def _agent_id(
    ctx: ServiceContext, principal: Principal, agent: str, version: int | None
) -> str:
    record = await agent_service.find(ctx, principal, agent, version=version, field="/agent")
    auth.require_agent_allowed(
        principal, agent_id=record.id, agent_name=record.name, field="/agent"
    )
    return record.id


async def _shared_session(
    ctx: ServiceContext,
    principal: Principal,
    agent_id: str,
    version: int | None,
    name: str,
    environment_id: str | None,
) -> str:
    params = SessionCreateParams(
        agent=agent_id,
        agent_version=version,
        environment_id=environment_id,
        metadata={"routine": name},
    )
    return (await session_service.create(ctx, principal, params)).id


async def create(
    ctx: ServiceContext, actor: Actor, principal: Principal, params: RoutineCreateParams
) -> Routine:
    """Store a routine; its schedules count from now."""
    _check_may_run(principal, params.session)
    _check_input(params.input)
    if params.environment_id is not None:
        await _check_environment(ctx, principal, params.environment_id, params.session)
    agent_id = await _agent_id(ctx, principal, params.agent, params.agent_version)
    routine_id, now = new_id("rtn"), ctx.clock()
    triggers = await trigger_service.rows(ctx, principal, routine_id, params.triggers)
    session_id = None
    if params.session is SessionMode.SHARED:
        session_id = await _shared_session(
            ctx, principal, agent_id, params.agent_version, params.name, params.environment_id
        )
    values = {
        "id": routine_id,
        "workspace_id": principal.workspace_id,
        "name": params.name,
        "description": params.description,
        "agent_id": agent_id,
        "agent_version": params.agent_version,
        "input": params.input,
        "session_mode": params.session,
        "session_id": session_id,
        "environment_id": params.environment_id,
        "metadata": params.metadata,
        "catch_up": params.catch_up,
        "overlap": params.overlap,
        "status": RoutineStatus.PAUSED if params.paused else RoutineStatus.ACTIVE,
        "paused_code": "manual" if params.paused else None,
        "paused_message": "created paused" if params.paused else None,
        "paused_at": now if params.paused else None,
        "key_id": principal.key_id,
        "created_at": now,
        "updated_at": now,
    }

    def tx(conn: Connection) -> None:
        routine_store.insert(conn, values, triggers)
        _audit(
            conn,
            actor,
            principal,
            "routine.created",
            routine_id,
            now,
            {"name": params.name, "agent": agent_id},
        )

    try:
        await ctx.database.write(tx)
    except Conflict:
        raise Conflict(f"a routine named {params.name!r} already exists", field="/name") from None
    await ctx.broker.publish(ROUTINES_CHANNEL)
    return await get(ctx, principal, routine_id)


def _audit(
    conn: Connection,
    actor: Actor,
    principal: Principal,
    action: str,
    routine_id: str,
    now: datetime,
    details: dict[str, Any],
) -> None:
    audit.record(
        conn,
        actor,
        action,
        workspace_id=principal.workspace_id,
        target_id=routine_id,
        now=now,
        details=details,
    )


async def find(ctx: ServiceContext, principal: Principal, ref: str) -> RoutineRecord:
    """The routine by id or name, or `NotFound`."""
    record = await ctx.database.read(routine_store.get, principal.workspace_id, ref)
    if record is None:
        raise NotFound(f"no routine {ref!r}")
    return record


async def get(ctx: ServiceContext, principal: Principal, ref: str) -> Routine:
    """The routine by id or name."""
    return to_wire(ctx, await find(ctx, principal, ref))


async def list_routines(
    ctx: ServiceContext, principal: Principal, *, limit: int, cursor: str | None
) -> Page[Routine]:
    """The workspace's routines, newest first."""
    records = await ctx.database.read(
        routine_store.listed, principal.workspace_id, limit=limit + 1, before_id=cursor
    )
    page = [to_wire(ctx, record) for record in records[:limit]]
    return Page(data=page, next_cursor=page[-1].id if len(records) > limit else None)


async def update(
    ctx: ServiceContext, actor: Actor, principal: Principal, ref: str, params: RoutineUpdateParams
) -> Routine:
    """Change a routine; a changed agent or environment gets a `shared` routine a new session."""
    record = await find(ctx, principal, ref)
    mode = SessionMode(record.session_mode)
    _check_may_run(principal, mode)
    given = params.model_dump(exclude_unset=True)
    values: dict[str, Any] = {"updated_at": ctx.clock()}
    if params.input is not None:
        _check_input(params.input)
        values["input"] = params.input
    for name in ("description", "metadata", "catch_up", "overlap"):
        if given.get(name) is not None:
            values[name] = given[name]
    if params.environment_id is not None:
        await _check_environment(ctx, principal, params.environment_id, mode)
    if "environment_id" in given:
        values["environment_id"] = params.environment_id
    if "agent" in given or "agent_version" in given:
        agent = params.agent or record.agent_id
        version = given.get("agent_version", record.agent_version)
        values["agent_id"] = await _agent_id(ctx, principal, agent, version)
        values["agent_version"] = version
    if mode is SessionMode.SHARED and {"agent_id", "environment_id"} & values.keys():
        values["session_id"] = await _shared_session(
            ctx,
            principal,
            values.get("agent_id", record.agent_id),
            values.get("agent_version", record.agent_version),
            record.name,
            values.get("environment_id", record.environment_id),
        )
    triggers = None
    if params.triggers is not None:
        triggers = await trigger_service.rows(
            ctx, principal, record.id, params.triggers, record.triggers
        )

    def tx(conn: Connection) -> None:
        routine_store.update(conn, record.id, values, triggers)
        _audit(
            conn,
            actor,
            principal,
            "routine.updated",
            record.id,
            values["updated_at"],
            params.model_dump(mode="json", exclude_unset=True, exclude={"input"}),
        )

    await ctx.database.write(tx)
    await ctx.broker.publish(ROUTINES_CHANNEL)
    return await get(ctx, principal, record.id)


async def pause(
    ctx: ServiceContext,
    actor: Actor,
    principal: Principal,
    ref: str,
    *,
    code: str = "manual",
    message: str = "paused by request",
    replace_reason: bool = False,
) -> Routine:
    """Stop the routine's schedules and webhooks (it can still be run by hand).

    A routine paused already keeps its reason, unless `replace_reason`.
    """
    record = await find(ctx, principal, ref)
    now = ctx.clock()

    def tx(conn: Connection) -> int:
        queued = routine_events.pause(
            conn, record.id, code=code, message=message, now=now, replace_reason=replace_reason
        )
        if queued >= 0:
            _audit(conn, actor, principal, "routine.paused", record.id, now, {"code": code})
        return queued

    if await ctx.database.write(tx) > 0:
        await ctx.broker.publish(WEBHOOKS_CHANNEL)
    return await get(ctx, principal, record.id)


async def resume(ctx: ServiceContext, actor: Actor, principal: Principal, ref: str) -> Routine:
    """Make the routine active again; its schedules go on from now, missing nothing owed."""
    record = await find(ctx, principal, ref)
    now = ctx.clock()
    next_fires = {}
    for index, trigger in enumerate(record.triggers):
        if trigger.type == TriggerType.SCHEDULE:
            try:
                schedule = Schedule.parse(trigger.config["cron"], trigger.config["timezone"])
            except InvalidSchedule as invalid:
                raise InvalidRequest(
                    f"{invalid}; change the trigger before resuming", field=f"/triggers/{index}"
                ) from None
            next_fires[trigger.id] = schedule.next_after(now)

    def tx(conn: Connection) -> None:
        routine_store.resume(conn, record.id, next_fires, now)
        _audit(conn, actor, principal, "routine.resumed", record.id, now, {})

    await ctx.database.write(tx)
    await ctx.broker.publish(ROUTINES_CHANNEL)
    return await get(ctx, principal, record.id)


async def delete(ctx: ServiceContext, actor: Actor, principal: Principal, ref: str) -> None:
    """Delete the routine, its triggers and its history (its runs stay)."""
    record = await find(ctx, principal, ref)
    now = ctx.clock()

    def tx(conn: Connection) -> bool:
        removed = routine_store.remove(conn, principal.workspace_id, record.id)
        if removed:
            _audit(conn, actor, principal, "routine.deleted", record.id, now, {"name": record.name})
        return removed

    if not await ctx.database.write(tx):
        raise NotFound(f"no routine {ref!r}")
