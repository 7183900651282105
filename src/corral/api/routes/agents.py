"""`/v1/agents`: versioned agents."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from starlette.responses import Response

from corral.api.deps import Guarded
from corral.api.openapi import BODY_ERRORS, KEYED_ERRORS, errors
from corral.api.responses import JSONBody, respond, respond_raw
from corral.errors import Conflict, IdempotencyConflict, NotFound
from corral.services import agents as agent_service
from corral.services import idempotency
from corral.types.agents import Agent, AgentCreateParams, AgentUpdateParams, AgentVersion
from corral.types.common import Page
from corral.types.pages import AgentPage, AgentVersionPage
from corral.types.runs import IdempotencyKey

# What each route asks of its caller is its row in `corral.api.scopes.ROUTES`.
router = APIRouter(prefix="/v1/agents", tags=["agents"], responses=errors(*KEYED_ERRORS))


@router.post(
    "",
    status_code=201,
    response_model=Agent,
    responses=errors(*BODY_ERRORS, NotFound, Conflict, IdempotencyConflict),
)
async def create_agent(
    params: AgentCreateParams,
    call: Guarded,
    idempotency_key: Annotated[IdempotencyKey | None, Header()] = None,
) -> Response:
    """Create an agent at version 1 (an `Idempotency-Key` makes a retry safe)."""

    async def produce() -> tuple[int, Agent]:
        return 201, await agent_service.create(call.ctx, call.principal, params)

    return respond_raw(
        await idempotency.once(
            call.ctx,
            call.principal,
            key=idempotency_key,
            operation="agents.create",
            request=params.model_dump(mode="json"),
            produce=produce,
        )
    )


@router.get("", response_model=AgentPage)
async def list_agents(
    call: Guarded,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
    include_archived: bool = True,
) -> JSONBody:
    """Agents at their latest version, newest first (archived ones too, unless told not to)."""
    return respond(
        await agent_service.list_agents(
            call.ctx,
            call.principal,
            limit=limit,
            cursor=cursor,
            include_archived=include_archived,
        )
    )


@router.get("/{agent}", response_model=Agent, responses=errors(NotFound))
async def get_agent(agent: str, call: Guarded) -> JSONBody:
    """An agent by id or name, at its latest version."""
    return respond(await agent_service.get(call.ctx, call.principal, agent))


@router.patch("/{agent}", response_model=Agent, responses=errors(*BODY_ERRORS, NotFound, Conflict))
async def update_agent(agent: str, params: AgentUpdateParams, call: Guarded) -> JSONBody:
    """Change an agent; any change makes a new immutable version."""
    return respond(await agent_service.update(call.ctx, call.principal, agent, params))


@router.post("/{agent}/archive", response_model=Agent, responses=errors(NotFound))
async def archive_agent(agent: str, call: Guarded) -> JSONBody:
    """Archive an agent: it starts no new runs or sessions; its open sessions go on."""
    record = await agent_service.archive(call.ctx, call.principal, agent)
    return respond(agent_service.to_wire(record))


@router.delete("/{agent}", status_code=204, responses=errors(NotFound))
async def delete_agent(agent: str, call: Guarded) -> Response:
    """Delete an agent and its versions."""
    await agent_service.delete(call.ctx, call.principal, agent)
    return Response(status_code=204)


@router.get("/{agent}/versions", response_model=AgentVersionPage, responses=errors(NotFound))
async def list_versions(agent: str, call: Guarded) -> JSONBody:
    """Every version of an agent, newest first."""
    versions = await agent_service.versions(call.ctx, call.principal, agent)
    return respond(Page[AgentVersion](data=versions, next_cursor=None))
