"""`/v1/approvals` and `/v1/runs/{id}/approvals`: the calls a policy holds for a person."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from corral.api.deps import Guarded
from corral.api.openapi import BODY_ERRORS, KEYED_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.api.routes.keys import actor
from corral.api.routes.runs import parse_metadata_filters
from corral.errors import ApprovalConflict, ApprovalExpired, NotFound, RunTerminal
from corral.services import approvals as approval_service
from corral.types.common import Page
from corral.types.pages import ApprovalPage
from corral.types.permissions import Approval, ApprovalDecisionParams, ApprovalStatus

# What each route asks of its caller is its row in `corral.api.scopes.ROUTES`.
router = APIRouter(tags=["approvals"], responses=errors(*KEYED_ERRORS))


@router.get("/v1/approvals", response_model=ApprovalPage)
async def list_approvals(
    call: Guarded,
    status: ApprovalStatus | None = None,
    agent: str | None = None,
    session: str | None = None,
    run: str | None = None,
    metadata: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> JSONBody:
    """The workspace's approvals, newest first: `status=pending` is the inbox of what waits.

    `metadata=key:value` filters on the run's metadata; filters repeat and all must match.
    """
    page = await approval_service.inbox(
        call.ctx,
        call.principal,
        status=status,
        agent=agent,
        session=session,
        run=run,
        metadata=parse_metadata_filters(metadata),
        limit=limit,
        cursor=cursor,
    )
    return respond(page)


@router.get("/v1/runs/{run_id}/approvals", response_model=ApprovalPage, responses=errors(NotFound))
async def run_approvals(run_id: str, call: Guarded) -> JSONBody:
    """Every approval of the run, oldest first."""
    found = await approval_service.of_run(call.ctx, call.principal, run_id)
    return respond(Page(data=found, next_cursor=None))


@router.post(
    "/v1/runs/{run_id}/approvals/{call_id}",
    response_model=Approval,
    responses=errors(*BODY_ERRORS, NotFound, ApprovalConflict, ApprovalExpired, RunTerminal),
)
async def decide(
    run_id: str, call_id: str, params: ApprovalDecisionParams, call: Guarded, request: Request
) -> JSONBody:
    """Allow or deny a held call (`decision`), once.

    The same decision again is answered with the approval as it stands; the other one is 409
    `approval_conflict`.
    """
    approval = await approval_service.decide(
        call.ctx, actor(request, call), run_id, call_id, params
    )
    return respond(approval)
