"""`/v1/sessions`: multi-turn conversations whose messages run in order."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response, StreamingResponse

from corral.api import sse
from corral.api.deps import Guarded
from corral.api.openapi import BODY_ERRORS, KEYED_ERRORS, errors
from corral.api.responses import JSONBody, respond, respond_raw
from corral.api.routes.keys import actor
from corral.domain.event_log import resume_after
from corral.errors import (
    AgentArchived,
    Conflict,
    EnvironmentArchived,
    IdempotencyConflict,
    NotFound,
    RunActive,
    SessionEnded,
    SpendLimitReached,
)
from corral.services import events as event_service
from corral.services import idempotency, session_end, session_purge
from corral.services import sessions as session_service
from corral.services.run_requests import permissions_of
from corral.types.common import INT32_MAX
from corral.types.pages import SessionSummaryPage
from corral.types.runs import IdempotencyKey, Run
from corral.types.sessions import (
    Session,
    SessionCreateParams,
    SessionMessageParams,
    SessionUpdateParams,
)

# What each route asks of its caller is its row in `corral.api.scopes.ROUTES`.
router = APIRouter(prefix="/v1/sessions", tags=["sessions"], responses=errors(*KEYED_ERRORS))


@router.post(
    "",
    status_code=201,
    response_model=Session,
    responses=errors(
        *BODY_ERRORS, NotFound, Conflict, IdempotencyConflict, AgentArchived, EnvironmentArchived
    ),
)
async def create_session(
    params: SessionCreateParams,
    call: Guarded,
    idempotency_key: Annotated[IdempotencyKey | None, Header()] = None,
) -> Response:
    """Open a session with an agent (an `Idempotency-Key` makes a retry safe)."""

    async def produce() -> tuple[int, Session]:
        return 201, await session_service.create(call.ctx, call.principal, params)

    return respond_raw(
        await idempotency.once(
            call.ctx,
            call.principal,
            key=idempotency_key,
            operation="sessions.create",
            request=params.model_dump(mode="json", exclude={"api_keys"}),
            produce=produce,
        )
    )


@router.get("", response_model=SessionSummaryPage)
async def list_sessions(
    call: Guarded,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
    include_archived: bool = True,
) -> JSONBody:
    """Sessions newest first (archived ones too, unless told not to)."""
    return respond(
        await session_service.list_sessions(
            call.ctx,
            call.principal,
            limit=limit,
            cursor=cursor,
            include_archived=include_archived,
        )
    )


@router.get("/{session_id}", response_model=Session, responses=errors(NotFound))
async def get_session(session_id: str, call: Guarded) -> JSONBody:
    """A session, its status and its conversation."""
    return respond(await session_service.get(call.ctx, call.principal, session_id))


@router.patch(
    "/{session_id}", response_model=Session, responses=errors(*BODY_ERRORS, NotFound, SessionEnded)
)
async def update_session(
    session_id: str, params: SessionUpdateParams, request: Request, call: Guarded
) -> JSONBody:
    """Change the session's spend cap (`max_spend_usd`; null removes it), title or metadata."""
    return respond(
        await session_service.update(
            call.ctx, call.principal, session_id, params, actor=actor(request, call)
        )
    )


@router.post(
    "/{session_id}/messages",
    status_code=202,
    response_model=Run,
    responses={
        200: {"model": Run, "description": "An idempotent replay: the existing run."},
        **errors(*BODY_ERRORS, SpendLimitReached, NotFound, IdempotencyConflict, SessionEnded),
    },
)
async def send_message(
    session_id: str,
    params: SessionMessageParams,
    call: Guarded,
    idempotency_key: Annotated[IdempotencyKey | None, Header()] = None,
) -> JSONBody:
    """Queue a message; its run starts once the session's earlier runs have ended."""
    run, created = await session_service.send(
        call.ctx,
        call.principal,
        session_id,
        run_input=params.input,
        tools=params.tools,
        metadata=params.metadata,
        idempotency_key=params.idempotency_key or idempotency_key,
        api_keys=params.api_keys,
        permissions=permissions_of(params.permissions),
    )
    return respond(run, 202 if created else 200)


@router.get(
    "/{session_id}/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Session events."},
        **errors(NotFound),
    },
)
async def stream_session(
    session_id: str,
    call: Guarded,
    after: Annotated[int | None, Query(ge=0, le=INT32_MAX)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Every event of every run of the session, in order; frame ids are a session cursor."""
    cursor = resume_after(last_event_id=last_event_id, after=after)
    return sse.session_stream(
        await event_service.follow_session(call.ctx, call.principal, session_id, after=cursor)
    )


@router.post("/{session_id}/archive", response_model=Session, responses=errors(NotFound))
async def archive_session(session_id: str, call: Guarded) -> JSONBody:
    """End the session as `DELETE` does (its queued and active runs are cancelled), archived."""
    return respond(await session_service.archive(call.ctx, call.principal, session_id))


@router.delete(
    "/{session_id}",
    response_model=Session,
    responses={
        204: {"description": "Erased (`purge=true`)."},
        **errors(NotFound, RunActive),
    },
)
async def end_session(
    session_id: str, request: Request, call: Guarded, purge: bool = False
) -> Response:
    """End the session and cancel its queued and active runs.

    With `purge=true`, erase it instead (204): its conversation, its runs with their events,
    outputs and subagents. Refused with 409 `run_active` while a run of it is still going.
    """
    if purge:
        await session_purge.purge(call.ctx, call.principal, session_id, actor=actor(request, call))
        return Response(status_code=204)
    return respond(await session_end.end(call.ctx, call.principal, session_id))
