"""`/anthropic/v1/sessions`: sessions with an agent, in an environment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from corral.api.openapi import BODY_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.api.routes.keys import actor
from corral.compat.anthropic import sessions as service
from corral.compat.anthropic.routes.protocol import (
    ERRORS,
    PREFIX,
    Caller,
    ProtocolRoute,
    api_errors,
)
from corral.compat.anthropic.wire.sessions import (
    ManagedSessionPage,
    SessionCreate,
    SessionDeleted,
    SessionObject,
    SessionUpdate,
)
from corral.errors import Conflict, SpendLimitReached

router = APIRouter(prefix=PREFIX, tags=["anthropic"], route_class=ProtocolRoute, responses=ERRORS)


@router.post(
    "/sessions",
    response_model=SessionObject,
    responses={**api_errors(Conflict, SpendLimitReached), **errors(*BODY_ERRORS)},
)
async def create_session(body: SessionCreate, call: Caller) -> JSONBody:
    """Open a session (a Corral session) and send its initial events."""
    return respond(await service.create(call.ctx, call.principal, body))


@router.get("/sessions", response_model=ManagedSessionPage)
async def list_sessions(
    call: Caller,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    page: str | None = None,
    include_archived: bool = False,
    agent_id: str | None = None,
) -> JSONBody:
    """Sessions, newest first."""
    found = await service.list_sessions(
        call.ctx,
        call.principal,
        limit=limit,
        page=page,
        include_archived=include_archived,
        agent_id=agent_id,
    )
    return respond(found)


@router.get("/sessions/{session_id}", response_model=SessionObject)
async def retrieve_session(session_id: str, call: Caller) -> JSONBody:
    """The session, with its status and cumulative usage."""
    return respond(await service.retrieve(call.ctx, call.principal, session_id))


@router.post(
    "/sessions/{session_id}",
    response_model=SessionObject,
    responses={**api_errors(Conflict), **errors(*BODY_ERRORS)},
)
async def update_session(
    session_id: str, body: SessionUpdate, call: Caller, request: Request
) -> JSONBody:
    """Change the title, metadata or budget."""
    updated = await service.update(call.ctx, call.principal, session_id, body, actor(request, call))
    return respond(updated)


@router.post("/sessions/{session_id}/archive", response_model=SessionObject)
async def archive_session(session_id: str, call: Caller) -> JSONBody:
    """Archive the session: it ends, and lists leave it out."""
    return respond(await service.archive(call.ctx, call.principal, session_id))


@router.delete("/sessions/{session_id}", response_model=SessionDeleted)
async def delete_session(session_id: str, call: Caller, request: Request) -> JSONBody:
    """Erase the session with its runs and events."""
    return respond(await service.delete(call.ctx, call.principal, session_id, actor(request, call)))
