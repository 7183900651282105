"""Agents of the API as Corral's stored agents: versions, archive and all.

A Corral agent name is an identifier (`[A-Za-z0-9._-]`, unique in the workspace) while the
API's is free text: a name that fits and is free is used as it is; another gets a Corral name
of its own (`research-helper-k2m4x9`) and keeps the API's name in the metadata key
`anthropic.name`, which answers hide.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from corral.compat.anthropic import skills as skill_facade
from corral.compat.anthropic.translate import agents as translate
from corral.compat.anthropic.translate import rosters
from corral.compat.anthropic.wire.agents import AgentCreate, AgentObject, AgentUpdate
from corral.compat.anthropic.wire.common import CursorPage
from corral.context import ServiceContext
from corral.errors import Conflict, InvalidRequest, NotFound
from corral.services import agents as agent_service
from corral.services.context import Principal
from corral.storage.agents import AgentRecord
from corral.types.agents import Agent, AgentCreateParams, AgentUpdateParams
from corral.types.skills import SkillVersion

NAME_KEY = "anthropic.name"
"""The metadata key that keeps an API name Corral's names cannot hold."""

_CORRAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _display_name(name: str, metadata: dict[str, str]) -> str:
    return metadata.get(NAME_KEY, name)


def _visible(metadata: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k != NAME_KEY}


def _spec_of(record: AgentRecord | Agent) -> dict[str, Any]:
    return record.spec if isinstance(record, AgentRecord) else record.model_dump(mode="json")


async def roster_versions(
    ctx: ServiceContext, principal: Principal, tools: list[dict[str, Any]]
) -> dict[str, tuple[str, int]]:
    """The id and latest version of each agent a spec's agent tools name."""
    found: dict[str, tuple[str, int]] = {}
    for ref in tools:
        if ref.get("type") == "agent" and ref["agent"] not in found:
            try:
                member = await agent_service.find(ctx, principal, ref["agent"])
            except NotFound:
                continue  # deleted since: shown by the name it was given
            found[ref["agent"]] = (member.id, member.version)
    return found


async def show(
    ctx: ServiceContext, principal: Principal, record: AgentRecord | Agent
) -> AgentObject:
    """A Corral agent as the API's agent, its roster's and skills' versions looked up."""
    spec = _spec_of(record)
    versions = await roster_versions(ctx, principal, spec.get("tools") or [])
    skills = await skill_facade.versions_of(ctx, principal, spec.get("skills") or [])
    return view(record, versions, skills)


def view(
    record: AgentRecord | Agent,
    versions: dict[str, tuple[str, int]],
    skills: dict[str, SkillVersion] | None = None,
) -> AgentObject:
    """A Corral agent as the API's agent, given its roster's versions and its skill versions."""
    spec = _spec_of(record)
    metadata = spec.get("metadata") or {}
    return translate.agent_view(
        agent_id=record.id,
        name=_display_name(record.name, metadata),
        version=record.version,
        spec={**spec, "metadata": _visible(metadata)},
        created_at=record.created_at,
        updated_at=record.updated_at,
        archived_at=record.archived_at,
        versions=versions,
        skill_versions=skills or {},
    )


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:48] or "agent"
    return f"{slug}-{secrets.token_hex(3)}"


async def _roster_tools(
    ctx: ServiceContext, principal: Principal, body: AgentCreate | AgentUpdate
) -> list[dict[str, Any]]:
    """Corral's agent tools for the body's `multiagent`, each member found and named."""
    asked = rosters.roster(body.multiagent)
    members = []
    for member in asked.members:
        record = await agent_service.find(
            ctx, principal, member.agent, version=member.version, field=member.field
        )
        if record.archived_at is not None:
            raise InvalidRequest(f"agent {member.agent!r} is archived", field=member.field)
        if any(rosters.is_roster_tool(ref) for ref in record.spec.get("tools") or []):
            raise InvalidRequest(
                f"agent {member.agent!r} has a roster of its own (one level only)",
                field=member.field,
            )
        name = _display_name(record.name, record.spec.get("metadata") or {})
        members.append((record.id, rosters.tool_name(name), record.spec.get("description") or name))
    return rosters.roster_tools(members, inline=asked.inline)


async def _spec_fields(
    ctx: ServiceContext,
    principal: Principal,
    body: AgentCreate | AgentUpdate,
    *,
    current: dict[str, Any] | None,
) -> dict[str, Any]:
    """The Corral spec fields the body gives (on an update, only those it gives).

    Corral keeps an agent's roster among its tools: changing either keeps the other.
    """
    creating = current is None
    given = body.model_fields_set
    fields: dict[str, Any] = {}
    if body.model is not None:
        fields["model"] = translate.model_id(body.model)
    if creating or "system" in given:
        fields["instructions"] = body.system or ""
    if creating or "description" in given:
        fields["description"] = body.description or ""
    kept = [] if current is None else list(current.get("tools") or [])
    roster = [r for r in kept if rosters.is_roster_tool(r)]
    if creating or "multiagent" in given:
        roster = await _roster_tools(ctx, principal, body)
    if creating or "tools" in given or "mcp_servers" in given:
        parts = translate.spec_parts(body.tools or [], body.mcp_servers or [])
        fields |= {
            "tools": parts.tools + roster,
            "include_builtin_tools": parts.include_builtin_tools,
            "builtin_tools": parts.builtin_tools,
            "permissions": parts.permissions,
        }
    elif "multiagent" in given:
        fields["tools"] = [r for r in kept if not rosters.is_roster_tool(r)] + roster
    if creating or "skills" in given:
        fields["skills"] = await skill_facade.spec_skills(ctx, principal, body.skills or [])
    return fields


async def create(ctx: ServiceContext, principal: Principal, body: AgentCreate) -> AgentObject:
    """Store the agent at version 1."""
    translate.refuse_unmapped(body)
    fields = await _spec_fields(ctx, principal, body, current=None)
    metadata = dict(body.metadata)
    name = body.name
    if not _CORRAL_NAME.fullmatch(name) or name.startswith("agt_"):
        name, metadata[NAME_KEY] = _slug(name), body.name
    params = {**fields, "name": name, "metadata": metadata}
    try:
        created = await agent_service.create(ctx, principal, AgentCreateParams(**params))
    except Conflict:
        # The API's names need not be unique: this one gets a Corral name of its own.
        metadata[NAME_KEY] = body.name
        params |= {"name": _slug(body.name), "metadata": metadata}
        created = await agent_service.create(ctx, principal, AgentCreateParams(**params))
    return await show(ctx, principal, created)


async def retrieve(
    ctx: ServiceContext, principal: Principal, agent_id: str, version: int | None
) -> AgentObject:
    """The agent at its latest version, or at `version`."""
    return await show(
        ctx, principal, await agent_service.find(ctx, principal, agent_id, version=version)
    )


async def update(
    ctx: ServiceContext, principal: Principal, agent_id: str, body: AgentUpdate
) -> AgentObject:
    """Apply what the body gives as a new version; `version` must be the current one."""
    translate.refuse_unmapped(body)
    current = await agent_service.find(ctx, principal, agent_id)
    if body.version is not None and body.version != current.version:
        raise Conflict(
            f"agent {agent_id!r} is at version {current.version}, not {body.version}: "
            "retrieve it and apply the change again",
            field="/version",
        )
    fields = await _spec_fields(ctx, principal, body, current=current.spec)
    metadata = dict(current.spec.get("metadata") or {})
    if body.metadata is not None:
        for key, value in body.metadata.items():
            if key == NAME_KEY:
                raise InvalidRequest(f"{NAME_KEY!r} is kept by the server", field="/metadata")
            if value is None:
                metadata.pop(key, None)
            else:
                metadata[key] = value
    if body.name is not None:
        if body.name == current.name:
            metadata.pop(NAME_KEY, None)
        else:
            metadata[NAME_KEY] = body.name
    if metadata != (current.spec.get("metadata") or {}):
        fields["metadata"] = metadata
    updated = await agent_service.update(ctx, principal, current.id, AgentUpdateParams(**fields))
    return await show(ctx, principal, updated)


async def list_agents(
    ctx: ServiceContext,
    principal: Principal,
    *,
    limit: int,
    page: str | None,
    include_archived: bool,
) -> CursorPage[AgentObject]:
    """Agents newest first."""
    found = await agent_service.list_agents(
        ctx, principal, limit=limit, cursor=page, include_archived=include_archived
    )
    data = [await show(ctx, principal, a) for a in found.data]
    return CursorPage(data=data, next_page=found.next_cursor)


async def versions(
    ctx: ServiceContext, principal: Principal, agent_id: str, *, limit: int, page: str | None
) -> CursorPage[AgentObject]:
    """The agent's versions, newest first."""
    current = await agent_service.find(ctx, principal, agent_id)
    every = await agent_service.versions(ctx, principal, current.id)
    start = 0
    if page is not None:
        start = next((i + 1 for i, v in enumerate(every) if str(v.version) == page), len(every))
    chosen = every[start : start + limit]
    data = [
        await show(
            ctx,
            principal,
            AgentRecord(
                id=current.id,
                workspace_id=current.workspace_id,
                name=current.name,
                version=v.version,
                spec=v.model_dump(mode="json"),
                created_at=v.created_at,
                updated_at=v.created_at,
                archived_at=current.archived_at,
            ),
        )
        for v in chosen
    ]
    more = start + limit < len(every)
    return CursorPage(data=data, next_page=str(chosen[-1].version) if more and chosen else None)


async def archive(ctx: ServiceContext, principal: Principal, agent_id: str) -> AgentObject:
    """Archive the agent: it starts no new session; those it has go on."""
    return await show(ctx, principal, await agent_service.archive(ctx, principal, agent_id))
