"""`/anthropic/v1/agents`: agents, their versions and archive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from corral.api.openapi import BODY_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.compat.anthropic import agents as service
from corral.compat.anthropic.routes.protocol import (
    ERRORS,
    PREFIX,
    Caller,
    ProtocolRoute,
    api_errors,
)
from corral.compat.anthropic.wire.agents import (
    AgentCreate,
    AgentObject,
    AgentUpdate,
    ManagedAgentPage,
)
from corral.errors import Conflict

router = APIRouter(prefix=PREFIX, tags=["anthropic"], route_class=ProtocolRoute, responses=ERRORS)

Limit = Annotated[int, Query(ge=1, le=100)]


@router.post(
    "/agents",
    response_model=AgentObject,
    responses={**api_errors(Conflict), **errors(*BODY_ERRORS)},
)
async def create_agent(body: AgentCreate, call: Caller) -> JSONBody:
    """Create an agent (a Corral agent at version 1)."""
    return respond(await service.create(call.ctx, call.principal, body))


@router.get("/agents", response_model=ManagedAgentPage)
async def list_agents(
    call: Caller,
    limit: Limit = 20,
    page: str | None = None,
    include_archived: bool = False,
) -> JSONBody:
    """Agents, newest first."""
    found = await service.list_agents(
        call.ctx, call.principal, limit=limit, page=page, include_archived=include_archived
    )
    return respond(found)


@router.get("/agents/{agent_id}", response_model=AgentObject)
async def retrieve_agent(
    agent_id: str, call: Caller, version: Annotated[int | None, Query(ge=1)] = None
) -> JSONBody:
    """The agent at its latest version, or at `version`."""
    return respond(await service.retrieve(call.ctx, call.principal, agent_id, version))


@router.post(
    "/agents/{agent_id}",
    response_model=AgentObject,
    responses={**api_errors(Conflict), **errors(*BODY_ERRORS)},
)
async def update_agent(agent_id: str, body: AgentUpdate, call: Caller) -> JSONBody:
    """Apply the given fields as a new version."""
    return respond(await service.update(call.ctx, call.principal, agent_id, body))


@router.get("/agents/{agent_id}/versions", response_model=ManagedAgentPage)
async def list_versions(
    agent_id: str, call: Caller, limit: Limit = 20, page: str | None = None
) -> JSONBody:
    """The agent's versions, newest first."""
    return respond(
        await service.versions(call.ctx, call.principal, agent_id, limit=limit, page=page)
    )


@router.post("/agents/{agent_id}/archive", response_model=AgentObject)
async def archive_agent(agent_id: str, call: Caller) -> JSONBody:
    """Archive the agent: it starts no new session."""
    return respond(await service.archive(call.ctx, call.principal, agent_id))
