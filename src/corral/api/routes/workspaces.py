"""`/v1/workspaces`: the server's workspaces, for its operator (`CORRAL_OPERATOR_KEY`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from corral.api.deps import Guarded
from corral.api.openapi import BODY_ERRORS, OPERATOR_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.api.routes.keys import actor
from corral.errors import Conflict, NotFound
from corral.services import workspaces as workspace_service
from corral.types.common import Page
from corral.types.pages import WorkspacePage
from corral.types.workspaces import (
    Workspace,
    WorkspaceCreateParams,
    WorkspaceUpdateParams,
    WorkspaceWithKey,
)

router = APIRouter(prefix="/v1/workspaces", tags=["workspaces"], responses=errors(*OPERATOR_ERRORS))


@router.post(
    "", status_code=201, response_model=WorkspaceWithKey, responses=errors(*BODY_ERRORS, Conflict)
)
async def create_workspace(
    params: WorkspaceCreateParams, call: Guarded, request: Request
) -> JSONBody:
    """Create a workspace; its first admin key's `secret` is in this answer only."""
    created = await workspace_service.create(call.ctx, actor(request, call), params)
    return respond(created, 201)


@router.get("", response_model=WorkspacePage)
async def list_workspaces(call: Guarded) -> JSONBody:
    """Every workspace of the server, oldest first."""
    return respond(Page(data=await workspace_service.list_all(call.ctx)))


@router.get("/{workspace}", response_model=Workspace, responses=errors(NotFound))
async def get_workspace(workspace: str, call: Guarded) -> JSONBody:
    """A workspace by id or name."""
    return respond(await workspace_service.get(call.ctx, workspace))


@router.patch("/{workspace}", response_model=Workspace, responses=errors(*BODY_ERRORS, NotFound))
async def update_workspace(
    workspace: str, params: WorkspaceUpdateParams, call: Guarded, request: Request
) -> JSONBody:
    """Set the workspace's own rate limits (null: the server's; 0: unlimited)."""
    return respond(
        await workspace_service.set_limits(call.ctx, actor(request, call), workspace, params.limits)
    )


@router.post("/{workspace}/suspend", response_model=Workspace, responses=errors(NotFound))
async def suspend_workspace(workspace: str, call: Guarded, request: Request) -> JSONBody:
    """Stop every key of the workspace at once (its runs go on); idempotent."""
    return respond(
        await workspace_service.set_suspended(
            call.ctx, actor(request, call), workspace, suspended=True
        )
    )


@router.post("/{workspace}/resume", response_model=Workspace, responses=errors(NotFound))
async def resume_workspace(workspace: str, call: Guarded, request: Request) -> JSONBody:
    """Let the workspace's keys work again; idempotent."""
    return respond(
        await workspace_service.set_suspended(
            call.ctx, actor(request, call), workspace, suspended=False
        )
    )


@router.delete("/{workspace}", status_code=204, responses=errors(NotFound))
async def delete_workspace(workspace: str, call: Guarded, request: Request) -> Response:
    """Cancel the workspace's active runs, then delete it and everything in it."""
    await workspace_service.delete(call.ctx, actor(request, call), workspace)
    return Response(status_code=204)
