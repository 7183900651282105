"""`/v1/routines`: agent work that starts on a schedule, a webhook or by hand, and its fires."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from corral.api.deps import Guarded
from corral.api.openapi import BODY_ERRORS, KEYED_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.api.routes.keys import actor
from corral.errors import Conflict, NotFound
from corral.services import fires as fire_service
from corral.services import routines as routine_service
from corral.types.pages import FirePage, RoutinePage
from corral.types.routines import (
    Fire,
    FireStatus,
    Routine,
    RoutineCreateParams,
    RoutineUpdateParams,
    RunNowParams,
)

router = APIRouter(prefix="/v1/routines", tags=["routines"], responses=errors(*KEYED_ERRORS))


@router.post(
    "", status_code=201, response_model=Routine, responses=errors(*BODY_ERRORS, NotFound, Conflict)
)
async def create_routine(params: RoutineCreateParams, call: Guarded, request: Request) -> JSONBody:
    """Create a routine; its schedules count from now."""
    created = await routine_service.create(call.ctx, actor(request, call), call.principal, params)
    return respond(created, 201)


@router.get("", response_model=RoutinePage)
async def list_routines(
    call: Guarded,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: str | None = None,
) -> JSONBody:
    """The workspace's routines, newest first."""
    page = await routine_service.list_routines(call.ctx, call.principal, limit=limit, cursor=cursor)
    return respond(page)


@router.get("/{routine}", response_model=Routine, responses=errors(NotFound))
async def get_routine(routine: str, call: Guarded) -> JSONBody:
    """One routine, by id or name."""
    return respond(await routine_service.get(call.ctx, call.principal, routine))


@router.patch(
    "/{routine}", response_model=Routine, responses=errors(*BODY_ERRORS, NotFound, Conflict)
)
async def update_routine(
    routine: str, params: RoutineUpdateParams, call: Guarded, request: Request
) -> JSONBody:
    """Change a routine; `triggers` replaces the whole list."""
    updated = await routine_service.update(
        call.ctx, actor(request, call), call.principal, routine, params
    )
    return respond(updated)


@router.delete("/{routine}", status_code=204, responses=errors(NotFound))
async def delete_routine(routine: str, call: Guarded, request: Request) -> Response:
    """Delete a routine and its history (the runs it started stay)."""
    await routine_service.delete(call.ctx, actor(request, call), call.principal, routine)
    return Response(status_code=204)


@router.post("/{routine}/pause", response_model=Routine, responses=errors(NotFound))
async def pause_routine(routine: str, call: Guarded, request: Request) -> JSONBody:
    """Stop its schedules and webhooks; it can still be run by hand."""
    paused = await routine_service.pause(call.ctx, actor(request, call), call.principal, routine)
    return respond(paused)


@router.post("/{routine}/resume", response_model=Routine, responses=errors(NotFound))
async def resume_routine(routine: str, call: Guarded, request: Request) -> JSONBody:
    """Make it active again; its schedules go on from now."""
    resumed = await routine_service.resume(call.ctx, actor(request, call), call.principal, routine)
    return respond(resumed)


@router.post(
    "/{routine}/run",
    status_code=201,
    response_model=Fire,
    responses={
        200: {"model": Fire, "description": "An idempotent replay: the fire of the same key."},
        **errors(*BODY_ERRORS, NotFound, Conflict),
    },
)
async def run_routine(routine: str, call: Guarded, params: RunNowParams | None = None) -> JSONBody:
    """Fire it now; the answer is the fire, with its run once a worker started it."""
    fire, created = await fire_service.run_now(
        call.ctx, call.principal, routine, params or RunNowParams()
    )
    return respond(fire, 201 if created else 200)


@router.get("/{routine}/fires", response_model=FirePage, responses=errors(NotFound))
async def list_fires(
    routine: str,
    call: Guarded,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: str | None = None,
    status: FireStatus | None = None,
) -> JSONBody:
    """Its history: each fire, newest first, with the run it started or why it did not."""
    page = await fire_service.history(
        call.ctx, call.principal, routine, limit=limit, cursor=cursor, status=status
    )
    return respond(page)


@router.get("/{routine}/fires/{fire_id}", response_model=Fire, responses=errors(NotFound))
async def get_fire(routine: str, fire_id: str, call: Guarded) -> JSONBody:
    """One fire."""
    await routine_service.find(call.ctx, call.principal, routine)
    return respond(await fire_service.get_fire(call.ctx, call.principal, fire_id))
