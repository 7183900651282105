"""Agents: create, read, list, change (a new immutable version each time) and delete."""

from __future__ import annotations

from typing import Any

from corral.context import ServiceContext
from corral.errors import AgentArchived, Conflict, InvalidRequest, NotFound
from corral.ids import new_id
from corral.services import files as file_service
from corral.services.context import Principal
from corral.storage import agents as agent_store
from corral.storage.agents import AgentRecord
from corral.storage.database import Connection
from corral.tools.registry import resolve_builtins, validate_refs
from corral.types.agents import (
    Agent,
    AgentCreateParams,
    AgentSpec,
    AgentUpdateParams,
    AgentVersion,
)
from corral.types.common import Page
from corral.types.errors import ErrorCode


def validate_spec(
    ctx: ServiceContext, spec: AgentSpec, *, prefix: str = "", inline: bool = False
) -> dict[str, Any]:
    """Check what the wire types cannot (model exists, tools exist); the spec as stored.

    `inline`: a run's or session's own `agent_spec`, which has no runs of its own to cap.
    """
    entry = ctx.models.resolve(spec.model, field=f"{prefix}/model")
    agent_caps = [f"spend_limits/{name}" for name, cap in spec.spend_limits if cap is not None]
    if inline and agent_caps:
        raise InvalidRequest(
            "spend_limits cap what all the runs of a stored agent spend; an inline agent_spec "
            "has none: store the agent (POST /v1/agents) and run it by name",
            field=f"{prefix}/spend_limits",
        )
    run_cap = ["limits/max_spend_usd"] if spec.limits.max_spend_usd is not None else []
    caps = run_cap + agent_caps
    if caps and entry.pricing is None:
        raise InvalidRequest(
            f"the model {spec.model!r} has no price in the catalog, so a spend cap cannot be "
            f"kept; remove {caps[0].replace('/', '.')} or give the model prices "
            "(CORRAL_MODEL_CATALOG)",
            field=f"{prefix}/{caps[0]}",
            code=ErrorCode.MODEL_NOT_PRICED,
        )
    stored = spec.model_dump(mode="json")
    validate_refs(stored["tools"], field=f"{prefix}/tools")
    resolve_builtins(stored, field=f"{prefix}/builtin_tools")
    check_environment(ctx, stored["environment"])
    return stored


def check_environment(
    ctx: ServiceContext, environment: dict[str, Any], *, field: str = "/environment"
) -> None:
    """Refuse what this host's sandbox cannot enforce, rather than pretend it does.

    `field` points at the environment in the request (a stored environment's is `/config`).
    """
    mode = (environment.get("networking") or {}).get("mode", "open")
    if ctx.sandbox.enforced and mode not in ctx.sandbox.networks:
        raise InvalidRequest(
            f"networking mode {mode!r} cannot be enforced on this server ({ctx.sandbox.detail});"
            f" use {' or '.join(repr(m) for m in ctx.sandbox.networks)}, or: {ctx.sandbox.fix}",
            field=f"{field}/networking/mode",
        )


def to_wire(record: AgentRecord) -> Agent:
    """The agent as the API shows it."""
    return Agent(
        id=record.id,
        name=record.name,
        version=record.version,
        created_at=record.created_at,
        updated_at=record.updated_at,
        archived_at=record.archived_at,
        **record.spec,
    )


async def create(ctx: ServiceContext, principal: Principal, params: AgentCreateParams) -> Agent:
    """Create an agent at version 1."""
    spec = validate_spec(ctx, AgentSpec(**params.model_dump(exclude={"name"})))
    await file_service.check_agent_skills(ctx, principal, spec["skills"])
    agent_id = new_id("agt")
    now = ctx.clock()
    created = await ctx.database.write(
        agent_store.insert,
        agent_id=agent_id,
        workspace_id=principal.workspace_id,
        name=params.name,
        spec=spec,
        now=now,
    )
    if not created:
        raise Conflict(f"an agent named {params.name!r} already exists", field="/name")
    return await get(ctx, principal, agent_id)


async def filter_id(ctx: ServiceContext, principal: Principal, agent: str) -> str | None:
    """The id a list's `agent` filter (an id or a name) selects; None: no such name."""
    if agent.startswith("agt_"):
        return agent
    record = await ctx.database.read(agent_store.find, principal.workspace_id, agent)
    return None if record is None else record.id


async def find(
    ctx: ServiceContext,
    principal: Principal,
    id_or_name: str,
    *,
    version: int | None = None,
    field: str | None = None,
) -> AgentRecord:
    """The agent by id or name (at `version`), or `NotFound`."""
    record = await ctx.database.read(
        agent_store.find, principal.workspace_id, id_or_name, version=version
    )
    if record is None:
        if version is not None and await ctx.database.read(
            agent_store.exists, principal.workspace_id, id_or_name
        ):
            raise NotFound(f"agent {id_or_name!r} has no version {version}", field=field)
        raise NotFound(f"no agent {id_or_name!r}", field=field)
    return record


async def get(ctx: ServiceContext, principal: Principal, id_or_name: str) -> Agent:
    """The agent at its latest version."""
    return to_wire(await find(ctx, principal, id_or_name))


async def list_agents(
    ctx: ServiceContext,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    include_archived: bool = True,
) -> Page[Agent]:
    """Agents newest first (without the archived ones, unless `include_archived`)."""
    records = await ctx.database.read(
        agent_store.list_page,
        principal.workspace_id,
        limit=limit + 1,
        before_id=cursor,
        include_archived=include_archived,
    )
    page = [to_wire(r) for r in records[:limit]]
    return Page(data=page, next_cursor=page[-1].id if len(records) > limit else None)


async def update(
    ctx: ServiceContext, principal: Principal, id_or_name: str, params: AgentUpdateParams
) -> Agent:
    """Apply the given fields as a new version (no change, no new version)."""
    current = await find(ctx, principal, id_or_name)
    changes = params.model_dump(exclude_unset=True)
    merged = AgentSpec(**{**current.spec, **changes})
    spec = validate_spec(ctx, merged)
    if "skills" in changes:
        await file_service.check_agent_skills(ctx, principal, spec["skills"])
    if spec != AgentSpec(**current.spec).model_dump(mode="json"):
        await ctx.database.write(agent_store.add_version, current.id, spec=spec, now=ctx.clock())
    return await get(ctx, principal, current.id)


async def versions(
    ctx: ServiceContext, principal: Principal, id_or_name: str
) -> list[AgentVersion]:
    """Every version of the agent, newest first."""
    record = await find(ctx, principal, id_or_name)
    rows = await ctx.database.read(agent_store.versions, record.id)
    return [
        AgentVersion(agent_id=record.id, version=version, created_at=created_at, **spec)
        for version, spec, created_at in rows
    ]


async def archive(ctx: ServiceContext, principal: Principal, id_or_name: str) -> AgentRecord:
    """Archive the agent: it starts no new runs or sessions, while its open sessions go on.

    Archiving an archived agent changes nothing (it keeps the time it was first archived).
    """
    record = await find(ctx, principal, id_or_name)
    if record.archived_at is None:
        await ctx.database.write(agent_store.archive, record.id, ctx.clock())
    return await find(ctx, principal, record.id)


def check_not_archived(record: AgentRecord, *, field: str | None) -> None:
    """Refuse to start anything new with an archived agent."""
    if record.archived_at is not None:
        raise AgentArchived(
            f"agent {record.name!r} is archived: it starts no new runs or sessions",
            field=field,
        )


async def delete(ctx: ServiceContext, principal: Principal, id_or_name: str) -> None:
    """Delete the agent; its past runs keep the spec they ran with."""
    record = await find(ctx, principal, id_or_name)

    def tx(conn: Connection) -> bool:
        return agent_store.delete(conn, principal.workspace_id, record.id)

    if not await ctx.database.write(tx):
        raise NotFound(f"no agent {id_or_name!r}")
