"""Deployments of the API as Corral routines that open a new session at each fire.

A deployment is a routine in the `per_fire` session mode: its agent pinned at a version, its
environment, its `user.message` events as the input template (rendered to their text exactly),
its schedule as the routine's first schedule trigger, and the overlap policy `allow` (every fire
opens its own session). Archiving pauses the routine with the reason `archived`; archived
deployments are left out of lists and take no change. Names work as for agents (`anthropic.name`).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from corral.compat.anthropic.translate import deployments as translate
from corral.compat.anthropic.wire.common import CursorPage
from corral.compat.anthropic.wire.deployments import (
    DeploymentAgentParams,
    DeploymentCreate,
    DeploymentObject,
    DeploymentUpdate,
)
from corral.context import ServiceContext
from corral.errors import Conflict, InvalidRequest, NotFound
from corral.services import agents as agent_service
from corral.services import fires as fire_service
from corral.services import routines as routine_service
from corral.services.audit import Actor
from corral.services.context import Principal
from corral.storage.agents import AgentRecord
from corral.storage.routine_fires import FireQuery
from corral.types.common import Page
from corral.types.routines import (
    FireStatus,
    Overlap,
    Routine,
    RoutineCreateParams,
    RoutineStatus,
    RoutineUpdateParams,
    ScheduleTrigger,
    SessionMode,
    TriggerType,
)

ARCHIVED_MESSAGE = "archived through the Managed Agents API"


class _Listed(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_Listed)
U = TypeVar("U")


async def collect(
    fetch: Callable[[str | None], Awaitable[Page[T]]],
    keep: Callable[[T], Awaitable[U | None]],
    *,
    limit: int,
    page: str | None,
) -> CursorPage[U]:
    """Up to `limit` items that `keep` shows, read page after page.

    The next page starts after the last item looked at, so a filter never skips one.
    """
    found: list[U] = []
    cursor = page
    while True:
        read = await fetch(cursor)
        for index, item in enumerate(read.data):
            shown = await keep(item)
            if shown is not None:
                found.append(shown)
            if len(found) == limit:
                more = index + 1 < len(read.data) or read.next_cursor is not None
                return CursorPage(data=found, next_page=item.id if more else None)
        if read.next_cursor is None:
            return CursorPage(data=found, next_page=None)
        cursor = read.next_cursor


async def find(ctx: ServiceContext, principal: Principal, deployment_id: str) -> Routine:
    """The deployment's routine, or `NotFound`."""
    try:
        record = await routine_service.find(ctx, principal, deployment_id)
    except NotFound:
        record = None
    if record is None or record.session_mode != SessionMode.PER_FIRE:
        raise NotFound(f"no deployment {deployment_id!r}")
    return routine_service.to_wire(ctx, record)


async def agent_version(ctx: ServiceContext, principal: Principal, routine: Routine) -> int:
    """The version the routine runs: its pinned one, or its agent's latest."""
    if routine.agent_version is not None:
        return routine.agent_version
    try:
        return (await agent_service.find(ctx, principal, routine.agent)).version
    except NotFound:
        return 1  # the agent was deleted since; the routine's next fire pauses it


async def view(ctx: ServiceContext, principal: Principal, routine: Routine) -> DeploymentObject:
    """A routine as the API's deployment."""
    last_run_at = None
    if translate.first_schedule(routine) is not None:
        query = FireQuery(
            routine_id=routine.id,
            statuses=(FireStatus.STARTED,),
            trigger_types=(TriggerType.SCHEDULE,),
        )
        last = await fire_service.listed(ctx, principal, query, limit=1, cursor=None)
        last_run_at = last.data[0].handled_at if last.data else None
    version = await agent_version(ctx, principal, routine)
    return translate.deployment_view(routine, agent_version=version, last_run_at=last_run_at)


async def _pinned_agent(
    ctx: ServiceContext, principal: Principal, agent: str | DeploymentAgentParams
) -> AgentRecord:
    """The agent at the version the deployment pins: the given one, or its latest."""
    agent_id, version = (agent, None) if isinstance(agent, str) else (agent.id, agent.version)
    record = await agent_service.find(ctx, principal, agent_id, version=version, field="/agent")
    if record.archived_at is not None:
        raise InvalidRequest(f"agent {agent_id!r} is archived", field="/agent")
    return record


async def create(
    ctx: ServiceContext, actor: Actor, principal: Principal, body: DeploymentCreate
) -> DeploymentObject:
    """Store the deployment as a routine; its schedule counts from now."""
    translate.refuse_unmapped(body)
    template = translate.input_template(body.initial_events)
    if body.schedule is not None:
        translate.check_schedule(body.schedule)
    agent = await _pinned_agent(ctx, principal, body.agent)
    metadata = dict(body.metadata)
    name = body.name
    if not translate.fits_routine_name(name):
        metadata[translate.NAME_KEY] = body.name
        name = translate.routine_name(body.name, secrets.token_hex(3))
    values: dict[str, Any] = {
        "name": name,
        "description": body.description or "",
        "agent": agent.id,
        "agent_version": agent.version,
        "input": template,
        "session": SessionMode.PER_FIRE,
        "environment_id": body.environment_id,
        "metadata": metadata,
        "triggers": [translate.schedule_trigger(body.schedule)] if body.schedule else [],
        "overlap": Overlap.ALLOW,
    }
    try:
        params = RoutineCreateParams.model_validate(values)
        created = await routine_service.create(ctx, actor, principal, params)
    except Conflict as taken:
        if taken.field != "/name":
            raise
        # The API's names need not be unique: this one gets a routine name of its own.
        metadata[translate.NAME_KEY] = body.name
        values |= {"name": translate.routine_name(body.name, secrets.token_hex(3))}
        params = RoutineCreateParams.model_validate(values)
        created = await routine_service.create(ctx, actor, principal, params)
    return await view(ctx, principal, created)


async def retrieve(
    ctx: ServiceContext, principal: Principal, deployment_id: str
) -> DeploymentObject:
    """The deployment."""
    return await view(ctx, principal, await find(ctx, principal, deployment_id))


async def _active(ctx: ServiceContext, principal: Principal, deployment_id: str) -> Routine:
    """The deployment's routine, unless it is archived (`Conflict`)."""
    routine = await find(ctx, principal, deployment_id)
    if translate.archived_at(routine) is not None:
        raise Conflict(f"deployment {deployment_id!r} is archived: it takes no change")
    return routine


def _kept_triggers(routine: Routine, schedule: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The routine's triggers with its first schedule replaced by `schedule` (None: removed)."""
    first = translate.first_schedule(routine)
    triggers: list[dict[str, Any]] = []
    for trigger in routine.triggers:
        if trigger is first:
            if schedule is not None:
                triggers.append({**schedule, "id": trigger.id})
        elif isinstance(trigger, ScheduleTrigger):
            triggers.append(trigger.model_dump(include={"type", "id", "cron", "timezone"}))
        else:
            kept = trigger.model_dump(include={"type", "id", "verify", "filter", "dedupe"})
            triggers.append({k: v for k, v in kept.items() if v is not None})
    if first is None and schedule is not None:
        triggers.append(schedule)
    return triggers


def _metadata(routine: Routine, body: DeploymentUpdate) -> dict[str, str]:
    """The routine's metadata after the body's patch and name."""
    metadata = dict(routine.metadata)
    for key, value in (body.metadata or {}).items():
        if key == translate.NAME_KEY:
            raise InvalidRequest(f"{key!r} is kept by the server", field="/metadata")
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    if body.name is not None:
        if body.name == routine.name:
            metadata.pop(translate.NAME_KEY, None)
        else:
            metadata[translate.NAME_KEY] = body.name
    return metadata


async def update(
    ctx: ServiceContext,
    actor: Actor,
    principal: Principal,
    deployment_id: str,
    body: DeploymentUpdate,
) -> DeploymentObject:
    """Apply what the body gives; what it leaves out stays."""
    translate.refuse_unmapped(body)
    routine = await _active(ctx, principal, deployment_id)
    given = body.model_fields_set
    changes: dict[str, Any] = {}
    if body.agent is not None:
        agent = await _pinned_agent(ctx, principal, body.agent)
        changes |= {"agent": agent.id, "agent_version": agent.version}
    if "description" in given:
        changes["description"] = body.description or ""
    if body.environment_id is not None:
        changes["environment_id"] = body.environment_id
    if body.initial_events is not None:
        changes["input"] = translate.input_template(body.initial_events)
    if "schedule" in given:
        if body.schedule is not None:
            translate.check_schedule(body.schedule)
        schedule = translate.schedule_trigger(body.schedule) if body.schedule else None
        changes["triggers"] = _kept_triggers(routine, schedule)
    metadata = _metadata(routine, body)
    if metadata != routine.metadata:
        changes["metadata"] = metadata
    if changes:
        params = RoutineUpdateParams.model_validate(changes)
        routine = await routine_service.update(ctx, actor, principal, routine.id, params)
    return await view(ctx, principal, routine)


async def list_deployments(
    ctx: ServiceContext,
    principal: Principal,
    *,
    limit: int,
    page: str | None,
    agent_id: str | None,
    created_from: datetime | None,
    created_until: datetime | None,
    include_archived: bool,
    status: RoutineStatus | None,
) -> CursorPage[DeploymentObject]:
    """Deployments, newest first."""
    if include_archived and status is not None:
        raise InvalidRequest("status and include_archived cannot be combined", field="/status")
    since, until = translate.as_utc(created_from), translate.as_utc(created_until)

    def wanted(routine: Routine) -> bool:
        archived = translate.archived_at(routine) is not None
        shown_status = RoutineStatus.ACTIVE if archived else routine.status
        return (
            routine.session is SessionMode.PER_FIRE
            and (include_archived or not archived)
            and (status is None or shown_status is status)
            and (agent_id is None or routine.agent == agent_id)
            and (since is None or routine.created_at >= since)
            and (until is None or routine.created_at <= until)
        )

    async def fetch(cursor: str | None) -> Page[Routine]:
        return await routine_service.list_routines(ctx, principal, limit=limit, cursor=cursor)

    async def keep(routine: Routine) -> DeploymentObject | None:
        return await view(ctx, principal, routine) if wanted(routine) else None

    return await collect(fetch, keep, limit=limit, page=page)


async def archive(
    ctx: ServiceContext, actor: Actor, principal: Principal, deployment_id: str
) -> DeploymentObject:
    """Archive the deployment: it fires no more, and lists leave it out."""
    routine = await find(ctx, principal, deployment_id)
    if translate.archived_at(routine) is None:
        routine = await routine_service.pause(
            ctx,
            actor,
            principal,
            routine.id,
            code=translate.ARCHIVED,
            message=ARCHIVED_MESSAGE,
            replace_reason=True,
        )
    return await view(ctx, principal, routine)


async def pause(
    ctx: ServiceContext, actor: Actor, principal: Principal, deployment_id: str
) -> DeploymentObject:
    """Stop the deployment's schedule (it can still be run by hand)."""
    routine = await _active(ctx, principal, deployment_id)
    paused = await routine_service.pause(ctx, actor, principal, routine.id)
    return await view(ctx, principal, paused)


async def unpause(
    ctx: ServiceContext, actor: Actor, principal: Principal, deployment_id: str
) -> DeploymentObject:
    """Start the deployment's schedule again, from its next time after now."""
    routine = await _active(ctx, principal, deployment_id)
    if routine.status is RoutineStatus.PAUSED:
        routine = await routine_service.resume(ctx, actor, principal, routine.id)
    return await view(ctx, principal, routine)
