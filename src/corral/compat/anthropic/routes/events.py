"""`/anthropic/v1/sessions/{id}/events`: send, list and stream a session's events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header, Query, Request
from starlette.responses import StreamingResponse

from corral.api.openapi import BODY_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.api.routes.keys import actor
from corral.api.sse import HEADERS, KEEPALIVE
from corral.compat.anthropic import events as service
from corral.compat.anthropic import listing
from corral.compat.anthropic.routes.protocol import (
    ERRORS,
    PREFIX,
    Caller,
    ProtocolRoute,
    api_errors,
)
from corral.compat.anthropic.wire.events import (
    ManagedEventPage,
    SendEvents,
    SentEvents,
)
from corral.errors import Conflict, SessionEnded, SpendLimitReached, UnknownToolCall

router = APIRouter(prefix=PREFIX, tags=["anthropic"], route_class=ProtocolRoute, responses=ERRORS)


@router.post(
    "/sessions/{session_id}/events",
    response_model=SentEvents,
    responses={
        **api_errors(Conflict, SessionEnded, SpendLimitReached, UnknownToolCall),
        **errors(*BODY_ERRORS),
    },
)
async def send_events(
    session_id: str, body: SendEvents, call: Caller, request: Request
) -> JSONBody:
    """Send events: a message queues a turn; an interrupt, a confirmation or a result acts now."""
    sent = await service.send(
        call.ctx, call.principal, session_id, body.events, actor=actor(request, call)
    )
    return respond(sent)


@router.get("/sessions/{session_id}/events", response_model=ManagedEventPage)
async def list_events(
    session_id: str,
    call: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    page: str | None = None,
    order: Literal["asc", "desc"] = "asc",
    types: Annotated[list[str] | None, Query(alias="types[]")] = None,
) -> JSONBody:
    """The session's events, oldest first; `next_page` goes back as `page`."""
    data, next_page = await listing.list_events(
        call.ctx,
        call.principal,
        session_id,
        limit=limit,
        page=page,
        order=order,
        types=set(types or []),
    )
    return respond({"data": data, "next_page": next_page})


def sse_response(batches: AsyncIterator[list[dict[str, Any]] | None]) -> StreamingResponse:
    """The SSE answer of a stream of the API's events (frame `id`: the event's)."""
    return StreamingResponse(_frames(batches), media_type="text/event-stream", headers=HEADERS)


async def _frames(batches: AsyncIterator[list[dict[str, Any]] | None]) -> AsyncIterator[bytes]:
    yield b": stream open\n\n"
    async for batch in batches:
        if batch is None:
            yield KEEPALIVE
            continue
        chunk = []
        for event in batch:
            name = event["type"]
            line_id = (
                f"id: {event['id']}\n"
                if "id" in event and name not in ("event_start", "event_delta")
                else ""
            )
            chunk.append(f"event: {name}\n{line_id}data: ".encode() + orjson.dumps(event) + b"\n\n")
        yield b"".join(chunk)


@router.get(
    "/sessions/{session_id}/events/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "The session's events."}},
)
async def stream_events(
    session_id: str,
    call: Caller,
    event_deltas: Annotated[list[str] | None, Query(alias="event_deltas[]")] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """The session's events as they happen (from the start of a turn in flight).

    `Last-Event-ID` resumes after an event; `event_deltas` asks for previews of the
    `agent.message` and `agent.thinking` events being produced.
    """
    batches = await service.follow(
        call.ctx,
        call.principal,
        session_id,
        previews=set(event_deltas or []),
        last_event_id=last_event_id,
    )
    return sse_response(batches)
