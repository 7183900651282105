"""`/anthropic/v1/environments`: where sessions' tools run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from corral.api.openapi import BODY_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.compat.anthropic import environments as service
from corral.compat.anthropic.routes.protocol import ERRORS, PREFIX, Caller, ProtocolRoute
from corral.compat.anthropic.wire.environments import (
    EnvironmentCreate,
    EnvironmentDeleted,
    EnvironmentObject,
    EnvironmentUpdate,
    ManagedEnvironmentPage,
)

router = APIRouter(prefix=PREFIX, tags=["anthropic"], route_class=ProtocolRoute, responses=ERRORS)


@router.post("/environments", response_model=EnvironmentObject, responses=errors(*BODY_ERRORS))
async def create_environment(body: EnvironmentCreate, call: Caller) -> JSONBody:
    """Create an environment (a Corral environment)."""
    return respond(await service.create(call.ctx, call.principal, body))


@router.get("/environments", response_model=ManagedEnvironmentPage)
async def list_environments(
    call: Caller,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    page: str | None = None,
    include_archived: bool = False,
) -> JSONBody:
    """Environments, a page at a time."""
    found = await service.list_environments(
        call.ctx, call.principal, limit=limit, page=page, include_archived=include_archived
    )
    return respond(found)


@router.get("/environments/{environment_id}", response_model=EnvironmentObject)
async def retrieve_environment(environment_id: str, call: Caller) -> JSONBody:
    """The environment."""
    return respond(await service.retrieve(call.ctx, call.principal, environment_id))


@router.post(
    "/environments/{environment_id}",
    response_model=EnvironmentObject,
    responses=errors(*BODY_ERRORS),
)
async def update_environment(
    environment_id: str, body: EnvironmentUpdate, call: Caller
) -> JSONBody:
    """Replace what the body gives."""
    return respond(await service.update(call.ctx, call.principal, environment_id, body))


@router.post("/environments/{environment_id}/archive", response_model=EnvironmentObject)
async def archive_environment(environment_id: str, call: Caller) -> JSONBody:
    """Archive the environment: new sessions may no longer use it."""
    return respond(await service.archive(call.ctx, call.principal, environment_id))


@router.delete("/environments/{environment_id}", response_model=EnvironmentDeleted)
async def delete_environment(environment_id: str, call: Caller) -> JSONBody:
    """Delete the environment; sessions opened with it keep their copy."""
    return respond(await service.delete(call.ctx, call.principal, environment_id))
