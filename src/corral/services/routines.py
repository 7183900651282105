"""Routines: create, read, change, pause, resume and delete them.

A routine acts as the API key that created it: its runs are that key's runs, and revoking the
key pauses it. Its agent is checked against the key now, and again at every fire.
"""

from __future__ import annotations

import hashlib
import secrets as random
from datetime import datetime
from typing import Any

from corral.context import ServiceContext
from corral.domain.payloads import InvalidQuery, compile_query
from corral.domain.schedules import InvalidSchedule, Schedule
from corral.domain.templates import InvalidTemplate, check_template
from corral.errors import Conflict, InvalidRequest, NotFound, SecretNotFound
from corral.ids import new_id
from corral.pubsub.base import ROUTINES_CHANNEL
from corral.services import agents as agent_service
from corral.services import audit, auth
from corral.services import secrets as secret_service
from corral.services import sessions as session_service
from corral.services.audit import Actor
from corral.services.context import Principal
from corral.storage import routines as routine_store
from corral.storage.database import Connection
from corral.storage.routines import RoutineRecord, TriggerRecord
from corral.types.common import Page
from corral.types.routines import (
    Routine,
    RoutineCreateParams,
    RoutineStatus,
    RoutineUpdateParams,
    ScheduleTriggerParams,
    SessionMode,
    TriggerParams,
    TriggerType,
    WebhookTriggerParams,
)
from corral.types.sessions import SessionCreateParams

__all__ = [
    "HOOK_PATH",
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

HOOK_PATH = "/v1/hooks/"


def to_wire(ctx: ServiceContext, record: RoutineRecord) -> Routine:
    """The routine as the API shows it, with each schedule's next times."""
    now = ctx.clock()
    active = record.status == RoutineStatus.ACTIVE
    triggers = [_trigger_wire(ctx, trigger, now, active) for trigger in record.triggers]
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


def _trigger_wire(
    ctx: ServiceContext, trigger: TriggerRecord, now: datetime, active: bool
) -> dict[str, Any]:
    config = trigger.config
    if trigger.type == TriggerType.SCHEDULE:
        try:
            upcoming = Schedule.parse(config["cron"], config["timezone"]).upcoming(now)
        except InvalidSchedule:
            upcoming = []
        return {
            "id": trigger.id,
            "type": trigger.type,
            "cron": config["cron"],
            "timezone": config["timezone"],
            "next_fire_at": trigger.next_fire_at if active else None,
            "upcoming": upcoming,
        }
    token = ctx.secrets.open(trigger.token)["value"] if trigger.token else ""
    return {
        "id": trigger.id,
        "type": trigger.type,
        "path": HOOK_PATH + token,
        "verify": config.get("verify"),
        "filter": config.get("filter"),
        "dedupe": config.get("dedupe"),
    }


async def _trigger_rows(
    ctx: ServiceContext,
    principal: Principal,
    routine_id: str,
    given: list[TriggerParams],
    existing: tuple[TriggerRecord, ...] = (),
) -> list[dict[str, Any]]:
    """The stored form of the given triggers, checked; a kept trigger keeps its id and URL."""
    now = ctx.clock()
    known = {trigger.id: trigger for trigger in existing}
    rows = []
    for index, params in enumerate(given):
        field = f"/triggers/{index}"
        kept = known.get(params.id) if params.id else None
        if params.id and (kept is None or kept.type != params.type):
            raise InvalidRequest(
                f"this routine has no {params.type} trigger {params.id!r}", field=f"{field}/id"
            )
        row: dict[str, Any] = {
            "id": params.id or new_id("trg"),
            "routine_id": routine_id,
            "workspace_id": principal.workspace_id,
            "type": params.type,
        }
        if isinstance(params, ScheduleTriggerParams):
            try:
                schedule = Schedule.parse(params.cron, params.timezone)
            except InvalidSchedule as invalid:
                raise InvalidRequest(str(invalid), field=f"{field}/cron") from None
            row["config"] = {"cron": schedule.cron, "timezone": schedule.timezone}
            row["next_fire_at"] = schedule.next_after(now)
        else:
            row["config"] = await _webhook_config(ctx, principal, params, field)
            if kept is None:
                token = "hook_" + random.token_urlsafe(32)
                row["token"] = ctx.secrets.seal({"value": token})
                row["token_hash"] = hashlib.sha256(token.encode()).hexdigest()
        rows.append(row)
    return rows


async def _webhook_config(
    ctx: ServiceContext, principal: Principal, params: WebhookTriggerParams, field: str
) -> dict[str, Any]:
    for query, where in (
        (params.filter, "filter"),
        (params.dedupe.key if params.dedupe else None, "dedupe/key"),
    ):
        if query is not None:
            try:
                compile_query(query)
            except InvalidQuery as invalid:
                raise InvalidRequest(
                    f"invalid JSONPath: {invalid}", field=f"{field}/{where}"
                ) from None
    if params.verify is not None and not await secret_service.has_secret(
        ctx, principal.workspace_id, params.verify.secret
    ):
        raise SecretNotFound(
            f"no secret {params.verify.secret!r} in this workspace", field=f"{field}/verify/secret"
        )
    return params.model_dump(mode="json", exclude={"type", "id"})


def _check_input(template: str) -> None:
    try:
        check_template(template)
    except InvalidTemplate as invalid:
        raise InvalidRequest(f"invalid template: {invalid}", field="/input") from None


async def _agent_id(
    ctx: ServiceContext, principal: Principal, agent: str, version: int | None
) -> str:
    record = await agent_service.find(ctx, principal, agent, version=version, field="/agent")
    auth.require_agent_allowed(
        principal, agent_id=record.id, agent_name=record.name, field="/agent"
    )
    return record.id


async def _shared_session(
    ctx: ServiceContext, principal: Principal, agent_id: str, version: int | None, name: str
) -> str:
    session = await session_service.create(
        ctx,
        principal,
        SessionCreateParams(agent=agent_id, agent_version=version, metadata={"routine": name}),
    )
    return session.id


async def create(
    ctx: ServiceContext, actor: Actor, principal: Principal, params: RoutineCreateParams
) -> Routine:
    """Store a routine; its schedules count from now."""
    _check_input(params.input)
    agent_id = await _agent_id(ctx, principal, params.agent, params.agent_version)
    routine_id, now = new_id("rtn"), ctx.clock()
    triggers = await _trigger_rows(ctx, principal, routine_id, params.triggers)
    session_id = None
    if params.session is SessionMode.SHARED:
        session_id = await _shared_session(
            ctx, principal, agent_id, params.agent_version, params.name
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
    """Change a routine; a changed agent gets a `shared` routine a new session."""
    record = await find(ctx, principal, ref)
    given = params.model_dump(exclude_unset=True)
    values: dict[str, Any] = {"updated_at": ctx.clock()}
    if params.input is not None:
        _check_input(params.input)
        values["input"] = params.input
    for name in ("description", "metadata", "catch_up", "overlap"):
        if given.get(name) is not None:
            values[name] = given[name]
    if "agent" in given or "agent_version" in given:
        agent = params.agent or record.agent_id
        version = given.get("agent_version", record.agent_version)
        values["agent_id"] = await _agent_id(ctx, principal, agent, version)
        values["agent_version"] = version
        if record.session_mode == SessionMode.SHARED:
            values["session_id"] = await _shared_session(
                ctx, principal, values["agent_id"], version, record.name
            )
    triggers = None
    if params.triggers is not None:
        triggers = await _trigger_rows(ctx, principal, record.id, params.triggers, record.triggers)

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


async def pause(ctx: ServiceContext, actor: Actor, principal: Principal, ref: str) -> Routine:
    """Stop the routine's schedules and webhooks (it can still be run by hand)."""
    record = await find(ctx, principal, ref)
    now = ctx.clock()

    def tx(conn: Connection) -> None:
        if routine_store.pause(
            conn, record.id, code="manual", message="paused by request", now=now
        ):
            _audit(conn, actor, principal, "routine.paused", record.id, now, {})

    await ctx.database.write(tx)
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
