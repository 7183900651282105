"""`/v1/runs`: submit, read, list, wait, cancel, delete, events and client tool results."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query
from starlette.responses import Response, StreamingResponse

from corral.api import sse
from corral.api.deps import Guarded
from corral.api.openapi import BODY_ERRORS, KEYED_ERRORS, errors
from corral.api.responses import JSONBody, respond, respond_raw
from corral.domain.event_log import resume_after
from corral.errors import (
    AgentArchived,
    IdempotencyConflict,
    InvalidRequest,
    NotFound,
    RunActive,
    RunTerminal,
    SessionEnded,
    SpendLimitReached,
    UnknownToolCall,
)
from corral.services import event_tree, idempotency, tool_results
from corral.services import events as event_service
from corral.services import runs as run_service
from corral.services import sessions as session_service
from corral.services.event_tree import TreeCursor
from corral.services.run_requests import permissions_of
from corral.types.common import INT32_MAX
from corral.types.events import EventPage
from corral.types.pages import RunPage
from corral.types.runs import (
    TERMINAL_STATUSES,
    IdempotencyKey,
    Run,
    RunCreateParams,
    RunStatus,
)
from corral.types.tools import ToolResultAccepted, ToolResultParams

# What each route asks of its caller is its row in `corral.api.scopes.ROUTES`.
router = APIRouter(prefix="/v1/runs", tags=["runs"], responses=errors(*KEYED_ERRORS))


def parse_metadata_filters(values: list[str]) -> list[tuple[str, str]]:
    """`key:value` filters; each must contain a colon."""
    filters = []
    for value in values:
        key, sep, wanted = value.partition(":")
        if not sep or not key:
            raise InvalidRequest(f"metadata filter {value!r} is not 'key:value'", field="metadata")
        filters.append((key, wanted))
    return filters


@router.post(
    "",
    status_code=202,
    response_model=Run,
    responses={
        200: {
            "model": Run,
            "description": "An idempotent replay, or, with `wait_s`, the run once it has ended.",
        },
        **errors(
            *BODY_ERRORS,
            SpendLimitReached,
            NotFound,
            IdempotencyConflict,
            SessionEnded,
            AgentArchived,
        ),
    },
)
async def create_run(
    params: RunCreateParams,
    call: Guarded,
    idempotency_key: Annotated[IdempotencyKey | None, Header()] = None,
    wait_s: Annotated[float | None, Query(ge=0, le=300)] = None,
) -> JSONBody:
    """Submit a run (202), or get the run an idempotency key already created (200).

    With `wait_s`, answer once the run has ended (200), or after that many seconds with the run
    as it stands (202): one request for a short run instead of a submit and a wait.
    """
    if params.session is not None:
        if params.files or params.skills:
            raise InvalidRequest(
                "files and skills are given with runs outside sessions (a session's runs share "
                "its workspace: write files there with the tools)",
                field="/files" if params.files else "/skills",
            )
        run, created = await session_service.send(
            call.ctx,
            call.principal,
            params.session,
            run_input=params.input,
            tools=params.tools,
            metadata=params.metadata,
            idempotency_key=params.idempotency_key or idempotency_key,
            api_keys=params.api_keys,
            permissions=permissions_of(params.permissions),
        )
    else:
        run, created = await run_service.create(
            call.ctx, call.principal, params, idempotency_key=idempotency_key
        )
    if wait_s is not None:
        run = await run_service.wait(call.ctx, call.principal, run.id, wait_s)
        return respond(run, 200 if run.status in TERMINAL_STATUSES else 202)
    return respond(run, 202 if created else 200)


@router.get("", response_model=RunPage)
async def list_runs(
    call: Guarded,
    status: RunStatus | None = None,
    agent: str | None = None,
    session: str | None = None,
    metadata: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
    parent_run: str | None = None,
    root_run: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> JSONBody:
    """Runs newest first; `metadata=key:value` filters repeat and all must match.

    `parent_run` lists the subagents a run started; `root_run` every run below a root.
    `created_after` (included) and `created_before` (excluded) bound when they were created.
    """
    page = await run_service.list_runs(
        call.ctx,
        call.principal,
        limit=limit,
        cursor=cursor,
        status=status,
        agent=agent,
        session=session,
        metadata=parse_metadata_filters(metadata),
        parent_run=parent_run,
        root_run=root_run,
        created_after=created_after,
        created_before=created_before,
    )
    return respond(page)


@router.get("/{run_id}", response_model=Run, responses=errors(NotFound))
async def get_run(run_id: str, call: Guarded) -> JSONBody:
    """A run as it stands."""
    return respond(await run_service.get(call.ctx, call.principal, run_id))


@router.get("/{run_id}/wait", response_model=Run, responses=errors(NotFound))
async def wait_run(
    run_id: str,
    call: Guarded,
    timeout_s: Annotated[float, Query(ge=0, le=300)] = 30.0,
) -> JSONBody:
    """The run once it has ended, or as it stands after `timeout_s`."""
    return respond(await run_service.wait(call.ctx, call.principal, run_id, timeout_s))


@router.post("/{run_id}/cancel", response_model=Run, responses=errors(NotFound))
async def cancel_run(run_id: str, call: Guarded) -> JSONBody:
    """Cancel a run (idempotent: an ended run keeps its status)."""
    return respond(await run_service.cancel(call.ctx, call.principal, run_id))


@router.delete("/{run_id}", status_code=204, responses=errors(NotFound, RunActive))
async def delete_run(run_id: str, call: Guarded) -> Response:
    """Delete an ended run and its events."""
    await run_service.delete(call.ctx, call.principal, run_id)
    return Response(status_code=204)


@router.get("/{run_id}/events", response_model=EventPage, responses=errors(NotFound))
async def list_events(
    run_id: str,
    call: Guarded,
    after: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Events with `seq > after`, in order."""
    events, has_more = await event_service.page(
        call.ctx, call.principal, run_id, after=after, limit=limit
    )
    body = b'{"data":[' + b",".join(e.data.encode() for e in events) + b"],"
    body += b'"has_more":' + (b"true" if has_more else b"false") + b"}"
    return Response(body, media_type="application/json")


@router.get(
    "/{run_id}/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The run's events."},
        **errors(NotFound),
    },
)
async def stream_events(
    run_id: str,
    call: Guarded,
    after: Annotated[int | None, Query(ge=0, le=INT32_MAX)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
    include_subagents: bool = False,
) -> StreamingResponse:
    """Server-sent events of the run.

    Replays the log after the cursor, then follows live events; closes after the terminal one.
    With `include_subagents`, the events of every run below it too, until all have ended.
    """
    if include_subagents:
        tree_cursor = TreeCursor.parse(last_event_id, after)
        return sse.tree_stream(
            await event_tree.follow_tree(call.ctx, call.principal, run_id, tree_cursor)
        )
    cursor = resume_after(last_event_id=last_event_id, after=after)
    return sse.run_stream(
        await event_service.follow_run(call.ctx, call.principal, run_id, after=cursor)
    )


@router.post(
    "/{run_id}/tool-results",
    response_model=ToolResultAccepted,
    responses=errors(*BODY_ERRORS, UnknownToolCall, NotFound, RunTerminal, IdempotencyConflict),
)
async def submit_tool_result(
    run_id: str,
    params: ToolResultParams,
    call: Guarded,
    idempotency_key: Annotated[IdempotencyKey | None, Header()] = None,
) -> Response:
    """Answer a `client_tool.call`; the run resumes (an `Idempotency-Key` makes a retry safe)."""

    async def produce() -> tuple[int, ToolResultAccepted]:
        return 200, await tool_results.submit(call.ctx, call.principal, run_id, params)

    return respond_raw(
        await idempotency.once(
            call.ctx,
            call.principal,
            key=idempotency_key,
            operation=f"runs.tool_results:{run_id}",
            request=params.model_dump(mode="json"),
            produce=produce,
        )
    )
