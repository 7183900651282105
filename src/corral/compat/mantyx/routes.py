"""`/api/v1/workspaces/{workspaceSlug}/…`: the MANTYX agent-runs protocol, served by Corral.

Programs written against the published MANTYX SDK point its `baseUrl` here. Every answer of
these routes, errors included, has the protocol's shapes; the work is Corral's own services'.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from starlette.responses import StreamingResponse

from corral.api import scopes, sse
from corral.api.deps import Call, admit, authenticated, route_operation
from corral.api.errors import error_headers
from corral.api.facade_routes import REFUSALS, FacadeRoute
from corral.api.openapi import BODY_ERRORS, PUBLIC_ERRORS, Responses, errors
from corral.api.responses import JSONBody, respond
from corral.compat.mantyx import service, translate
from corral.compat.mantyx.types import (
    Acknowledged,
    AgentRunAccepted,
    AgentRunCreateParams,
    AgentRunSnapshot,
    AgentSessionCreated,
    AgentSessionInfo,
    AgentSessionMessageParams,
    AgentSpecParams,
    LocalToolResultParams,
    MantyxErrorBody,
    ModelCatalog,
)
from corral.domain.event_log import resume_after
from corral.errors import (
    NotFound,
    RunTerminal,
    ServiceError,
    SessionEnded,
    SpendLimitReached,
    UnknownToolCall,
)
from corral.types.common import INT32_MAX


def error_response(error: ServiceError, request: Request) -> JSONBody:
    """A Corral error as the protocol's error body (`error` and `code` both hold the code)."""
    body = translate.error_body(error.to_body())
    request_id = request.scope.get("corral.request_id")
    if request_id:
        body["request_id"] = request_id
    return JSONBody(body, status_code=error.http_status, headers=error_headers(error))


class ProtocolRoute(FacadeRoute):
    """A route whose failures, input validation included, answer in the protocol's shape."""

    render_error = staticmethod(error_response)


def _errors(*kinds: type[ServiceError]) -> Responses:
    """These errors' responses, with the protocol's error body."""
    return errors(*kinds, model=MantyxErrorBody)


_ERRORS: Responses = {
    **_errors(*REFUSALS),
    **errors(*PUBLIC_ERRORS),
}

router = APIRouter(
    prefix="/api/v1/workspaces/{workspaceSlug}",
    tags=["mantyx"],
    route_class=ProtocolRoute,
    responses=_ERRORS,
)

Slug = Annotated[str, Path(alias="workspaceSlug")]
RunId = Annotated[str, Path(alias="runId")]
SessionId = Annotated[str, Path(alias="sessionId")]


async def caller(request: Request, workspace_slug: Slug) -> Call:
    """The key's caller, in the workspace the path names, allowed what the route's row asks.

    The row is the route's in `corral.api.scopes.ROUTES`, as for Corral's own routes.
    """
    call = await authenticated(request)
    service.check_workspace(call.principal, workspace_slug)
    operation = route_operation(request)
    await admit(request, call, operation, scopes.requirement(*operation))
    return call


Caller = Annotated[Call, Depends(caller)]


@router.get("/models", response_model=ModelCatalog)
async def list_models(call: Caller) -> JSONBody:
    """Models the workspace can run; `id` is what `modelId` takes."""
    return respond(service.list_models(call.ctx))


@router.post(
    "/agent-runs",
    status_code=202,
    response_model=AgentRunAccepted,
    responses={**_errors(SpendLimitReached), **errors(*BODY_ERRORS)},
)
async def create_run(workspace_slug: Slug, params: AgentRunCreateParams, call: Caller) -> JSONBody:
    """Submit a one-shot run: 202 with its id and the path of its event stream."""
    accepted = await service.create_run(call.ctx, call.principal, workspace_slug, params)
    return respond(accepted, 202)


@router.get("/agent-runs/{runId}", response_model=AgentRunSnapshot)
async def get_run(run_id: RunId, call: Caller) -> JSONBody:
    """The run as it stands, without following its events."""
    return respond(await service.get_run(call.ctx, call.principal, run_id))


@router.get(
    "/agent-runs/{runId}/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "The run's events."}},
)
async def stream_run(
    run_id: RunId,
    call: Caller,
    last_seq: Annotated[int | None, Query(alias="lastSeq", ge=0, le=INT32_MAX)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """The run's events: a replay after `Last-Event-ID` or `lastSeq`, then live.

    The stream closes after the terminal `result` or `cancelled` event.
    """
    cursor = resume_after(last_event_id=last_event_id, after=last_seq)
    events = await service.follow_run(call.ctx, call.principal, run_id, after=cursor)
    return sse.run_stream(events)


@router.post(
    "/agent-runs/{runId}/tool-results",
    response_model=Acknowledged,
    responses={**_errors(NotFound, UnknownToolCall, RunTerminal), **errors(*BODY_ERRORS)},
)
async def submit_tool_result(
    run_id: RunId, params: LocalToolResultParams, call: Caller
) -> JSONBody:
    """Answer a `local_tool_call`; the run resumes."""
    return respond(await service.submit_tool_result(call.ctx, call.principal, run_id, params))


@router.post("/agent-runs/{runId}/cancel", response_model=Acknowledged)
async def cancel_run(run_id: RunId, call: Caller) -> JSONBody:
    """Cancel the run (idempotent); its stream ends with a `cancelled` event."""
    return respond(await service.cancel_run(call.ctx, call.principal, run_id))


@router.post(
    "/agent-sessions",
    status_code=201,
    response_model=AgentSessionCreated,
    responses=errors(*BODY_ERRORS),
)
async def create_session(params: AgentSpecParams, call: Caller) -> JSONBody:
    """Open a session with an agent."""
    return respond(await service.create_session(call.ctx, call.principal, params), 201)


@router.get("/agent-sessions/{sessionId}", response_model=AgentSessionInfo)
async def get_session(session_id: SessionId, call: Caller) -> JSONBody:
    """The session, its conversation and its metadata."""
    return respond(await service.get_session(call.ctx, call.principal, session_id))


@router.post(
    "/agent-sessions/{sessionId}/messages",
    status_code=202,
    response_model=AgentRunAccepted,
    responses={**_errors(SpendLimitReached, SessionEnded), **errors(*BODY_ERRORS)},
)
async def send_message(
    workspace_slug: Slug,
    session_id: SessionId,
    params: AgentSessionMessageParams,
    call: Caller,
) -> JSONBody:
    """Queue the session's next message as a run: 202 with its id and stream path."""
    accepted = await service.send_message(
        call.ctx, call.principal, workspace_slug, session_id, params
    )
    return respond(accepted, 202)


@router.delete("/agent-sessions/{sessionId}", response_model=Acknowledged)
async def end_session(session_id: SessionId, call: Caller) -> JSONBody:
    """End the session and cancel its run in flight."""
    return respond(await service.end_session(call.ctx, call.principal, session_id))


@router.api_route(
    "/{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def unknown_route(path: str) -> JSONBody:
    """Any other path under the prefix: a 404 in the protocol's shape."""
    raise NotFound(f"the protocol has no route {path!r}")
