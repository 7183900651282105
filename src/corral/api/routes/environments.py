"""`/v1/environments`: stored sandbox configurations that sessions can be opened with."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from corral.api.deps import Guarded
from corral.api.openapi import BODY_ERRORS, KEYED_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.errors import EnvironmentArchived, NotFound
from corral.services import environments as environment_service
from corral.types.common import Page
from corral.types.environments import (
    EnvironmentCreateParams,
    EnvironmentInfo,
    EnvironmentUpdateParams,
)
from corral.types.pages import EnvironmentPage

# What each route asks of its caller is its row in `corral.api.scopes.ROUTES`.
router = APIRouter(
    prefix="/v1/environments", tags=["environments"], responses=errors(*KEYED_ERRORS)
)


@router.post("", status_code=201, response_model=EnvironmentInfo, responses=errors(*BODY_ERRORS))
async def create_environment(params: EnvironmentCreateParams, call: Guarded) -> JSONBody:
    """Store an environment."""
    return respond(await environment_service.create(call.ctx, call.principal, params), 201)


@router.get("", response_model=EnvironmentPage)
async def list_environments(
    call: Guarded,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
    include_archived: bool = True,
) -> JSONBody:
    """Environments newest first (archived ones too, unless told not to)."""
    found, has_more = await environment_service.list_page(
        call.ctx, call.principal, limit=limit, after=cursor, include_archived=include_archived
    )
    next_cursor = found[-1].id if has_more and found else None
    return respond(Page[EnvironmentInfo](data=found, next_cursor=next_cursor))


@router.get("/{environment}", response_model=EnvironmentInfo, responses=errors(NotFound))
async def get_environment(environment: str, call: Guarded) -> JSONBody:
    """An environment by id."""
    return respond(await environment_service.get(call.ctx, call.principal, environment))


@router.patch(
    "/{environment}",
    response_model=EnvironmentInfo,
    responses=errors(*BODY_ERRORS, NotFound, EnvironmentArchived),
)
async def update_environment(
    environment: str, params: EnvironmentUpdateParams, call: Guarded
) -> JSONBody:
    """Change an environment; sessions already opened with it keep the config they copied."""
    return respond(await environment_service.update(call.ctx, call.principal, environment, params))


@router.post("/{environment}/archive", response_model=EnvironmentInfo, responses=errors(NotFound))
async def archive_environment(environment: str, call: Guarded) -> JSONBody:
    """Archive an environment: it can no longer be changed or used by new sessions."""
    return respond(await environment_service.archive(call.ctx, call.principal, environment))


@router.delete("/{environment}", status_code=204, responses=errors(NotFound))
async def delete_environment(environment: str, call: Guarded) -> Response:
    """Delete an environment; sessions opened with it keep their copy of its config."""
    await environment_service.delete(call.ctx, call.principal, environment)
    return Response(status_code=204)
