"""`/anthropic/v1/deployments` and `/anthropic/v1/deployment_runs`: routines and their fires."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request

from corral.api.openapi import BODY_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.api.routes.keys import actor
from corral.compat.anthropic import deployment_runs as run_service
from corral.compat.anthropic import deployments as service
from corral.compat.anthropic.routes.protocol import (
    ERRORS,
    PREFIX,
    Caller,
    ProtocolRoute,
    api_errors,
)
from corral.compat.anthropic.wire.deployments import (
    DeploymentCreate,
    DeploymentObject,
    DeploymentPage,
    DeploymentRunObject,
    DeploymentRunPage,
    DeploymentUpdate,
)
from corral.errors import Conflict
from corral.types.routines import RoutineStatus, TriggerType

router = APIRouter(prefix=PREFIX, tags=["anthropic"], route_class=ProtocolRoute, responses=ERRORS)


@router.post(
    "/deployments",
    response_model=DeploymentObject,
    responses={**api_errors(Conflict), **errors(*BODY_ERRORS)},
)
async def create_deployment(body: DeploymentCreate, call: Caller, request: Request) -> JSONBody:
    """Create a deployment (a routine opening a session at each fire)."""
    return respond(await service.create(call.ctx, actor(request, call), call.principal, body))


@router.get("/deployments", response_model=DeploymentPage)
async def list_deployments(
    call: Caller,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    page: str | None = None,
    agent_id: str | None = None,
    include_archived: bool = False,
    status: RoutineStatus | None = None,
    created_from: Annotated[datetime | None, Query(alias="created_at[gte]")] = None,
    created_until: Annotated[datetime | None, Query(alias="created_at[lte]")] = None,
) -> JSONBody:
    """Deployments, newest first."""
    found = await service.list_deployments(
        call.ctx,
        call.principal,
        limit=limit,
        page=page,
        agent_id=agent_id,
        created_from=created_from,
        created_until=created_until,
        include_archived=include_archived,
        status=status,
    )
    return respond(found)


@router.get("/deployments/{deployment_id}", response_model=DeploymentObject)
async def retrieve_deployment(deployment_id: str, call: Caller) -> JSONBody:
    """The deployment."""
    return respond(await service.retrieve(call.ctx, call.principal, deployment_id))


@router.post(
    "/deployments/{deployment_id}",
    response_model=DeploymentObject,
    responses={**api_errors(Conflict), **errors(*BODY_ERRORS)},
)
async def update_deployment(
    deployment_id: str, body: DeploymentUpdate, call: Caller, request: Request
) -> JSONBody:
    """Apply the given fields."""
    updated = await service.update(
        call.ctx, actor(request, call), call.principal, deployment_id, body
    )
    return respond(updated)


@router.post("/deployments/{deployment_id}/archive", response_model=DeploymentObject)
async def archive_deployment(deployment_id: str, call: Caller, request: Request) -> JSONBody:
    """Archive the deployment: it fires no more, and lists leave it out."""
    archived = await service.archive(call.ctx, actor(request, call), call.principal, deployment_id)
    return respond(archived)


@router.post(
    "/deployments/{deployment_id}/pause",
    response_model=DeploymentObject,
    responses=api_errors(Conflict),
)
async def pause_deployment(deployment_id: str, call: Caller, request: Request) -> JSONBody:
    """Stop the deployment's schedule."""
    paused = await service.pause(call.ctx, actor(request, call), call.principal, deployment_id)
    return respond(paused)


@router.post(
    "/deployments/{deployment_id}/unpause",
    response_model=DeploymentObject,
    responses=api_errors(Conflict),
)
async def unpause_deployment(deployment_id: str, call: Caller, request: Request) -> JSONBody:
    """Start the deployment's schedule again."""
    active = await service.unpause(call.ctx, actor(request, call), call.principal, deployment_id)
    return respond(active)


@router.post(
    "/deployments/{deployment_id}/run",
    response_model=DeploymentRunObject,
    responses=api_errors(Conflict),
)
async def run_deployment(
    deployment_id: str,
    call: Caller,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JSONBody:
    """Run the deployment now; with an `Idempotency-Key` used before, its first run."""
    run = await run_service.run_now(call.ctx, call.principal, deployment_id, idempotency_key)
    return respond(run)


@router.get("/deployment_runs", response_model=DeploymentRunPage)
async def list_deployment_runs(
    call: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    page: str | None = None,
    deployment_id: str | None = None,
    trigger_type: Literal["schedule", "manual"] | None = None,
    has_error: bool | None = None,
    created_after: Annotated[datetime | None, Query(alias="created_at[gt]")] = None,
    created_from: Annotated[datetime | None, Query(alias="created_at[gte]")] = None,
    created_before: Annotated[datetime | None, Query(alias="created_at[lt]")] = None,
    created_until: Annotated[datetime | None, Query(alias="created_at[lte]")] = None,
) -> JSONBody:
    """Deployment runs, newest first."""
    found = await run_service.list_runs(
        call.ctx,
        call.principal,
        limit=limit,
        page=page,
        deployment_id=deployment_id,
        trigger_type=TriggerType(trigger_type) if trigger_type else None,
        has_error=has_error,
        created=(created_after, created_from, created_before, created_until),
    )
    return respond(found)


@router.get("/deployment_runs/{deployment_run_id}", response_model=DeploymentRunObject)
async def retrieve_deployment_run(deployment_run_id: str, call: Caller) -> JSONBody:
    """One deployment run."""
    return respond(await run_service.retrieve(call.ctx, call.principal, deployment_run_id))
