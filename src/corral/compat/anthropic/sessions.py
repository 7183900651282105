"""Sessions of the API as Corral sessions: one Corral run per turn of the agent."""

from __future__ import annotations

from typing import Any

from corral.compat.anthropic import agents as agent_facade
from corral.compat.anthropic import events as event_facade
from corral.compat.anthropic import skills as skill_facade
from corral.compat.anthropic.translate import agents as agent_translation
from corral.compat.anthropic.wire.common import BudgetLimit, CursorPage
from corral.compat.anthropic.wire.sessions import (
    AgentRef,
    AgentWithOverrides,
    FileResource,
    OtherResource,
    SessionCreate,
    SessionDeleted,
    SessionObject,
    SessionStats,
    SessionUpdate,
    SessionUsage,
)
from corral.context import ServiceContext
from corral.errors import InvalidRequest, NotFound
from corral.services import agents as agent_service
from corral.services import events as event_service
from corral.services import runs as run_service
from corral.services import session_purge, usage
from corral.services import sessions as session_service
from corral.services import vaults as vault_service
from corral.services.audit import Actor
from corral.services.context import Principal
from corral.types.agents import AgentSpec
from corral.types.runs import RunStatus
from corral.types.sessions import Session, SessionCreateParams, SessionUpdateParams

_STATUS = {"idle": "idle", "running": "running", "ended": "terminated"}


def status_of(session_status: str, run_status: str | None, attempts: int) -> str:
    """The API's status: `rescheduling` while the turn in flight waits to be taken up again.

    `run_status` and `attempts` are the turn in flight's: a run a worker had claimed
    (`attempts` > 0) that is queued again lost its worker and waits for another one.
    """
    if session_status == "running" and run_status == RunStatus.QUEUED and attempts > 0:
        return "rescheduling"
    return _STATUS[session_status]


def _budget(cap_usd: float | None) -> dict[str, Any] | None:
    if cap_usd is None:
        return None
    amount = f"{cap_usd:.6f}".rstrip("0").rstrip(".")
    return {"type": "limit", "max_list_cost": {"amount": amount, "currency": "USD"}}


def _cap(budget: BudgetLimit | None) -> float | None:
    return None if budget is None else float(budget.max_list_cost.amount)


async def _agent_view(ctx: ServiceContext, principal: Principal, row: Any) -> dict[str, Any]:
    """The session's agent, as it runs in the session (its stored spec)."""
    spec = row["spec"]
    name = "inline"
    if row["agent_id"] is not None:
        try:
            record = await agent_service.find(ctx, principal, row["agent_id"])
            name = agent_facade.view(record, {}).name
        except NotFound:
            name = row["agent_id"]  # deleted since
    skills = await skill_facade.shown(ctx, principal, spec.get("skills") or [])
    return {
        "type": "agent",
        "id": row["agent_id"] or "",
        "version": row["agent_version"] or 1,
        **agent_translation.running_agent_view(spec, name=name, skills=skills),
    }


async def view(ctx: ServiceContext, principal: Principal, session: Session) -> SessionObject:
    """A Corral session as the API's session."""
    row = await session_service.find(ctx, principal, session.id)
    used = await usage.of_session(ctx, principal, session.id)
    active = None
    if session.status.value == "running":
        _, run_id = await event_service.live_start(ctx, principal, session.id)
        active = None if run_id is None else await run_service.find(ctx, principal, run_id)
    duration = (session.updated_at - session.created_at).total_seconds()
    return SessionObject(
        id=session.id,
        status=status_of(
            session.status.value,
            active.status if active else None,
            active.attempts if active else 0,
        ),
        agent=await _agent_view(ctx, principal, row),
        environment_id=session.environment_id or "",
        title=session.title,
        metadata=session.metadata,
        vault_ids=await vault_service.of_session(ctx, session.id),
        stats=SessionStats(duration_seconds=max(duration, 0.0)),
        resources=_resources_view(row),
        usage=SessionUsage(
            input_tokens=used.input_tokens,
            output_tokens=used.output_tokens,
            list_cost={"amount": f"{used.cost_usd:.6f}", "currency": "USD"},
        ),
        budget=_budget(session.max_spend_usd),
        created_at=session.created_at,
        updated_at=session.updated_at,
        archived_at=session.archived_at,
    )


async def _agent_source(
    ctx: ServiceContext, principal: Principal, agent: str | AgentRef | AgentWithOverrides
) -> dict[str, Any]:
    """The `agent` / `agent_version` / `agent_spec` of Corral's session for the body's agent."""
    if isinstance(agent, str):
        return {"agent": agent}
    if isinstance(agent, AgentRef):
        return {"agent": agent.id, "agent_version": agent.version}
    record = await agent_service.find(
        ctx, principal, agent.id, version=agent.version, field="/agent"
    )
    agent_translation.refuse_unmapped(agent)
    spec = dict(record.spec)
    if agent.model is not None:
        spec["model"] = agent_translation.model_id(agent.model)
    if "system" in agent.model_fields_set:
        spec["instructions"] = agent.system or ""
    if agent.tools is not None or agent.mcp_servers is not None:
        parts = agent_translation.spec_parts(
            agent.tools if agent.tools is not None else [],
            agent.mcp_servers if agent.mcp_servers is not None else [],
        )
        spec |= {
            "tools": parts.tools,
            "include_builtin_tools": parts.include_builtin_tools,
            "builtin_tools": parts.builtin_tools,
            "permissions": parts.permissions,
        }
    if agent.skills is not None:
        spec["skills"] = await skill_facade.spec_skills(
            ctx, principal, agent.skills, prefix="/agent"
        )
    # The copy runs as an inline agent of the session: its runs are the session's.
    spec.pop("spend_limits", None)
    return {"agent_spec": AgentSpec.model_validate(spec)}


def _files(resources: list[FileResource | OtherResource]) -> list[dict[str, str]]:
    """The session's file resources as Corral's input files (a mount path, made relative)."""
    files = []
    for index, resource in enumerate(resources):
        if isinstance(resource, OtherResource):
            raise InvalidRequest(
                f"{resource.type} resources are not available on this server",
                field=f"/resources/{index}/type",
            )
        mount = resource.mount_path or f"/mnt/session/uploads/{resource.file_id}"
        files.append({"path": mount.lstrip("/"), "file_id": resource.file_id})
    return files


def _resources_view(row: Any) -> list[dict[str, Any]]:
    """The session's input files as the API's file resources."""
    return [
        {
            "type": "file",
            "id": f"sres_{index}",
            "file_id": entry["file_id"],
            "mount_path": "/" + entry["path"],
            "created_at": row["created_at"],
            "updated_at": row["created_at"],
        }
        for index, entry in enumerate(row["spec"].get("files") or [])
        if entry.get("file_id")
    ]


async def create(ctx: ServiceContext, principal: Principal, body: SessionCreate) -> SessionObject:
    """Open the session, then send its initial events."""
    for index, event in enumerate(body.initial_events):
        if event.type != "user.message":
            raise InvalidRequest(
                f"{event.type} is not available on this server", field=f"/initial_events/{index}"
            )
    source = await _agent_source(ctx, principal, body.agent)
    params = SessionCreateParams.model_validate(
        {
            **source,
            "environment_id": body.environment_id,
            "files": _files(body.resources),
            "title": body.title,
            "metadata": body.metadata,
            "max_spend_usd": _cap(body.budget),
        }
    )
    session = await session_service.create(ctx, principal, params, vault_ids=body.vault_ids)
    if body.initial_events:
        await event_facade.send(
            ctx, principal, session.id, body.initial_events, field="/initial_events"
        )
        session = await session_service.get(ctx, principal, session.id)
    return await view(ctx, principal, session)


async def retrieve(ctx: ServiceContext, principal: Principal, session_id: str) -> SessionObject:
    """The session."""
    return await view(ctx, principal, await session_service.get(ctx, principal, session_id))


async def update(
    ctx: ServiceContext, principal: Principal, session_id: str, body: SessionUpdate, actor: Actor
) -> SessionObject:
    """Change the title, metadata (a patch), budget or vaults (from the next turn on)."""
    if body.agent is not None:
        raise InvalidRequest("a session's agent cannot be changed on this server", field="/agent")
    current = await session_service.get(ctx, principal, session_id)
    changes: dict[str, Any] = {}
    if "title" in body.model_fields_set:
        changes["title"] = body.title
    if body.metadata is not None:
        metadata = dict(current.metadata)
        for key, value in body.metadata.items():
            if value is None:
                metadata.pop(key, None)
            else:
                metadata[key] = value
        changes["metadata"] = metadata
    if "budget" in body.model_fields_set:
        changes["max_spend_usd"] = _cap(body.budget)
    if body.vault_ids is not None:
        await session_service.set_vaults(ctx, principal, session_id, body.vault_ids)
    if changes:
        params = SessionUpdateParams.model_validate(changes)
        current = await session_service.update(ctx, principal, session_id, params, actor=actor)
    return await view(ctx, principal, current)


async def list_sessions(
    ctx: ServiceContext,
    principal: Principal,
    *,
    limit: int,
    page: str | None,
    include_archived: bool,
    agent_id: str | None,
) -> CursorPage[SessionObject]:
    """Sessions newest first."""
    found = await session_service.list_sessions(
        ctx, principal, limit=limit, cursor=page, include_archived=include_archived
    )
    data = []
    for summary in found.data:
        if agent_id is not None and summary.agent != agent_id:
            continue
        session = await session_service.get(ctx, principal, summary.id)
        data.append(await view(ctx, principal, session))
    return CursorPage(data=data, next_page=found.next_cursor)


async def archive(ctx: ServiceContext, principal: Principal, session_id: str) -> SessionObject:
    """Archive the session: it ends, and lists leave it out."""
    return await view(ctx, principal, await session_service.archive(ctx, principal, session_id))


async def delete(
    ctx: ServiceContext, principal: Principal, session_id: str, actor: Actor
) -> SessionDeleted:
    """Erase the session with its runs and events (Corral's purge)."""
    await session_purge.purge(ctx, principal, session_id, actor=actor)
    return SessionDeleted(id=session_id)
