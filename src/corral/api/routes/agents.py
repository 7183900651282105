"""`/v1/agents`: versioned agents."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from corral.api.deps import scope, service_context
from corral.api.responses import JSONBody, respond
from corral.services import agents as agent_service
from corral.services.context import Principal, ServiceContext
from corral.types.agents import Agent, AgentCreateParams, AgentUpdateParams, AgentVersion
from corral.types.common import Page

router = APIRouter(prefix="/v1/agents", tags=["agents"])

Ctx = Annotated[ServiceContext, Depends(service_context)]
Reader = Annotated[Principal, Depends(scope("agents:read"))]
Writer = Annotated[Principal, Depends(scope("agents:write"))]


@router.post("", status_code=201, response_model=Agent)
async def create_agent(params: AgentCreateParams, ctx: Ctx, principal: Writer) -> JSONBody:
    """Create an agent at version 1."""
    return respond(await agent_service.create(ctx, principal, params), 201)


@router.get("", response_model=Page[Agent])
async def list_agents(
    ctx: Ctx,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> JSONBody:
    """Agents at their latest version, newest first."""
    return respond(await agent_service.list_agents(ctx, principal, limit=limit, cursor=cursor))


@router.get("/{agent}", response_model=Agent)
async def get_agent(agent: str, ctx: Ctx, principal: Reader) -> JSONBody:
    """An agent by id or name, at its latest version."""
    return respond(await agent_service.get(ctx, principal, agent))


@router.patch("/{agent}", response_model=Agent)
async def update_agent(
    agent: str, params: AgentUpdateParams, ctx: Ctx, principal: Writer
) -> JSONBody:
    """Change an agent; any change makes a new immutable version."""
    return respond(await agent_service.update(ctx, principal, agent, params))


@router.delete("/{agent}", status_code=204)
async def delete_agent(agent: str, ctx: Ctx, principal: Writer) -> Response:
    """Delete an agent and its versions."""
    await agent_service.delete(ctx, principal, agent)
    return Response(status_code=204)


@router.get("/{agent}/versions", response_model=Page[AgentVersion])
async def list_versions(agent: str, ctx: Ctx, principal: Reader) -> JSONBody:
    """Every version of an agent, newest first."""
    versions = await agent_service.versions(ctx, principal, agent)
    return respond(Page[AgentVersion](data=versions, next_cursor=None))
