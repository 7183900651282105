"""`/anthropic/v1/sessions/{id}/threads`: a session's subagent threads and their events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from starlette.responses import StreamingResponse

from corral.api.responses import JSONBody, respond
from corral.compat.anthropic import threads as service
from corral.compat.anthropic.routes.events import sse_response
from corral.compat.anthropic.routes.protocol import ERRORS, PREFIX, Caller, ProtocolRoute
from corral.compat.anthropic.wire.events import ManagedEventPage
from corral.compat.anthropic.wire.threads import ManagedThreadPage, ThreadObject

router = APIRouter(prefix=PREFIX, tags=["anthropic"], route_class=ProtocolRoute, responses=ERRORS)


@router.get("/sessions/{session_id}/threads", response_model=ManagedThreadPage)
async def list_threads(
    session_id: str,
    call: Caller,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    page: str | None = None,
    statuses: Annotated[list[str] | None, Query(alias="statuses[]")] = None,
) -> JSONBody:
    """The session's threads, oldest first."""
    found = await service.list_threads(
        call.ctx, call.principal, session_id, limit=limit, page=page, statuses=set(statuses or [])
    )
    return respond(found)


@router.get("/sessions/{session_id}/threads/{thread_id}", response_model=ThreadObject)
async def retrieve_thread(session_id: str, thread_id: str, call: Caller) -> JSONBody:
    """The thread, with its agent, status and usage."""
    return respond(await service.retrieve(call.ctx, call.principal, session_id, thread_id))


@router.post("/sessions/{session_id}/threads/{thread_id}/archive", response_model=ThreadObject)
async def archive_thread(session_id: str, thread_id: str, call: Caller) -> JSONBody:
    """Stop the thread: its run is cancelled if it is still going."""
    return respond(await service.archive(call.ctx, call.principal, session_id, thread_id))


@router.get("/sessions/{session_id}/threads/{thread_id}/events", response_model=ManagedEventPage)
async def list_thread_events(
    session_id: str,
    thread_id: str,
    call: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    page: str | None = None,
) -> JSONBody:
    """The thread's events, oldest first."""
    data, next_page = await service.list_events(
        call.ctx, call.principal, session_id, thread_id, limit=limit, page=page
    )
    return respond({"data": data, "next_page": next_page})


@router.get(
    "/sessions/{session_id}/threads/{thread_id}/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "The thread's events."}},
)
async def stream_thread(
    session_id: str,
    thread_id: str,
    call: Caller,
    event_deltas: Annotated[list[str] | None, Query(alias="event_deltas[]")] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """The thread's events from its start (or after `Last-Event-ID`), to its end."""
    batches = await service.follow(
        call.ctx,
        call.principal,
        session_id,
        thread_id,
        previews=set(event_deltas or []),
        last_event_id=last_event_id,
    )
    return sse_response(batches)
